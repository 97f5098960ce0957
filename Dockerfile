# forgelens: the collector service (`forgelens serve`) and its workers (`forgelens worker`).
#   docker build -t forgelens .
#   docker compose up            # api, worker, redis, postgres, kafka (docker-compose.yml)
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git mines repositories; nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 forgelens

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[service,postgres,kafka]"

USER forgelens
ENV FORGELENS_HOST=0.0.0.0 \
    FORGELENS_PORT=8000 \
    FORGELENS_CACHE_DIR=/home/forgelens/.cache/forgelens \
    FORGELENS_DATABASE_URL=duckdb:////home/forgelens/data/forgelens.duckdb
RUN mkdir -p /home/forgelens/data /home/forgelens/.cache/forgelens
VOLUME ["/home/forgelens/data", "/home/forgelens/.cache/forgelens"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"

CMD ["forgelens", "serve"]
