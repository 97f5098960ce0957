"""The collector service (FastAPI): ``create_app(settings)``; see ``service/app.py``."""
