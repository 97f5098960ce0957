"""The one HTTP client every forge source uses.

``HttpClient.send(RequestSpec)`` sends one logical request and returns a ``Response`` whose JSON
is decoded, or raises a ``ForgelensError`` a user can act on. Around every request it:

* picks the credential with the most budget from the ``TokenPool`` (and drops rejected ones),
* keeps a reserve of the rate limit and waits for the reset (``no_wait`` fails fast instead),
  honours ``retry-after`` and secondary limits, ignores bogus resets (0 / far future),
* retries 5xx, timeouts, connection resets, undecodable and malformed JSON bodies with
  exponential backoff + full jitter, behind a per-host circuit breaker,
* sends ``If-None-Match`` from an ``EtagCache`` (a 304 returns the cached body),
* follows same-host redirects (renamed repositories) and counts every request per endpoint,
* reports every answer to ``telemetry.forge_call`` (the service's metrics) and, with Redis
  (``REDIS_URL``), spends each token's budget through the view every worker shares
  (``sources/ratelimit_view.py``) so that workers together don't overrun it.

Forge differences (auth header, header names, what a 403 means) live in a ``ForgeProfile``;
``HttpClient.paginate`` drives any ``Paginator`` from ``_pagination``.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import httpx

from forgelens import telemetry
from forgelens.errors import AuthError, ForgeError, NotFound, RateLimited
from forgelens.logs import get_logger
from forgelens.sources._address_guard import GuardedTransport
from forgelens.sources._pagination import Paginator, RequestSpec
from forgelens.sources._ratelimit import (
    MAX_RESET_WAIT,
    Credential,
    NoCredentialsLeft,
    TokenPool,
    backoff_delay,
)
from forgelens.sources.ratelimit_view import (
    FIRST_WAIT,
    RateLimitView,
    shared_view,
    token_scope,
)

__all__ = ["ClientPolicy", "EtagCache", "ForgeProfile", "HttpClient", "RequestSpec", "Response"]

log = get_logger(__name__)


class Verdict(Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    REDIRECT = "redirect"
    RETRY = "retry"  # transient: 5xx, timeouts, resets, malformed body
    PRIMARY_LIMIT = "primary_limit"  # budget spent: wait for the reset
    SECONDARY_LIMIT = "secondary_limit"  # too fast: retry-after or a growing pause
    AUTH = "auth"  # credential rejected: drop it, try the next
    NOT_FOUND = "not_found"
    HTML = "html"  # a web page where JSON was expected: proxy, sign-in portal, wrong --api-url
    OLD_API = "old_api"  # the server does not serve this API version
    FATAL = "fatal"


@dataclass(frozen=True)
class ForgeProfile:
    """What differs between forges at the HTTP level. GitHub's values are the defaults."""

    name: str = "GitHub"
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 - a variable name, not a secret
    auth_scheme: str = "Bearer"
    auth_header_name: str = "Authorization"
    limit_header: str = "x-ratelimit-limit"
    remaining_header: str = "x-ratelimit-remaining"
    reset_header: str = "x-ratelimit-reset"  # epoch seconds
    resource_header: str = "x-ratelimit-resource"
    secondary_markers: tuple[str, ...] = ("secondary rate limit", "abuse")
    # a token bucket refilled every few seconds (Atlassian Data Center: X-RateLimit-Remaining
    # but no reset time): no budget to keep a reserve of; a 429 waits for its Retry-After
    token_bucket: bool = False
    default_headers: tuple[tuple[str, str], ...] = (
        ("Accept", "application/vnd.github+json"),
        ("X-GitHub-Api-Version", "2022-11-28"),
    )
    # a guard line before every JSON body (Gerrit's ``)]}'`` against cross-site inclusion)
    body_prefix: bytes = b""

    @property
    def platform(self) -> str:
        """The forge in metrics and the shared rate-limit view: github, gitlab, ..."""
        return self.name.lower().replace(" ", "-")

    def auth_headers(self, secret: str) -> dict[str, str]:
        value = f"{self.auth_scheme} {secret}" if self.auth_scheme else secret
        return {self.auth_header_name: value}

    def classify(self, response: httpx.Response) -> Verdict:
        status = response.status_code
        html = "html" in response.headers.get("content-type", "").lower()
        if status < 300:
            return Verdict.HTML if html else Verdict.OK
        if status == 304:
            return Verdict.NOT_MODIFIED
        if status in (301, 302, 307, 308):
            return Verdict.REDIRECT
        if status == 401:
            return Verdict.AUTH
        if status in (403, 429):
            if response.headers.get(self.remaining_header) == "0" and not self.token_bucket:
                return Verdict.PRIMARY_LIMIT
            text = response.text.lower()
            if status == 429 or "retry-after" in response.headers:
                return Verdict.SECONDARY_LIMIT
            if any(m in text for m in self.secondary_markers):
                return Verdict.SECONDARY_LIMIT
            if "rate limit" in text:
                return Verdict.PRIMARY_LIMIT
            return Verdict.FATAL
        if status in (410, 501) or (status == 404 and "api version" in response.text.lower()):
            return Verdict.OLD_API
        if status == 404:
            return Verdict.NOT_FOUND
        if status >= 500 or status == 408:
            return Verdict.RETRY
        return Verdict.FATAL


@dataclass
class ClientPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    reserve: int = 50  # never spend the last N points of a budget (at most 1 % of it)
    no_wait: bool = False
    secondary_wait: float = 60.0  # first pause after a secondary limit without retry-after
    breaker_threshold: int = 8
    breaker_cooldown: float = 10.0
    concurrency: int = 4
    # None: connect wherever DNS says (the CLI). A set: the service's jobs -- every address is
    # checked where the connection is made, and only these hosts may be private (SSRF).
    private_hosts: frozenset[str] | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> ClientPolicy:
        """The policy of a source from its collect options' extras (``--no-wait``,
        ``--concurrency``; ``private_hosts`` when the service runs the job)."""
        private = extra.get("private_hosts")
        return cls(
            no_wait=bool(extra.get("no_wait", False)),
            concurrency=max(1, int(str(extra.get("concurrency", 4)))),
            private_hosts=None if private is None else frozenset(private),
        )


class EtagCache(Protocol):
    """Remembers (etag, body) per request key so unchanged resources cost a 304."""

    def get(self, key: str) -> tuple[str, bytes] | None: ...

    def put(self, key: str, etag: str, body: bytes) -> None: ...


class MemoryEtagCache:
    def __init__(self) -> None:
        self._data: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, bytes] | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, etag: str, body: bytes) -> None:
        with self._lock:
            self._data[key] = (etag, body)


@dataclass
class Response:
    status: int
    headers: httpx.Headers
    url: str
    content: bytes
    from_cache: bool = False
    credential: Credential | None = None  # which credential was sent (never its secret)
    _json: Any = None
    _decoded: bool = False

    def json(self) -> Any:
        if not self._decoded:
            self._json = json.loads(self.content) if self.content else None
            self._decoded = True
        return self._json


@dataclass
class RequestStats:
    """Every request sent (retries, redirects and 304s included), per endpoint and status."""

    total: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    not_modified: int = 0
    waited_seconds: float = 0.0
    seconds: float = 0.0  # time spent in requests (sending, server, reading)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[status] += 1
            if status == 304:
                self.not_modified += 1


class CircuitBreaker:
    """Per host: opens after ``threshold`` consecutive failures, half-opens after a cool-down."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold, self.cooldown = threshold, cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    def wait_time(self, now: float) -> float:
        with self._lock:
            if self.opened_at is None:
                return 0.0
            return max(0.0, self.opened_at + self.cooldown - now)

    def success(self) -> None:
        with self._lock:
            self.failures, self.opened_at = 0, None

    def failure(self, now: float) -> bool:
        """Record a failure; True when this one opened (or re-opened) the circuit."""
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = now
                return True
            return False


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.delay = reason, delay


class HttpClient:
    """Thread-safe; one per run and forge host. Close it (or use ``with``)."""

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenPool | None = None,
        profile: ForgeProfile | None = None,
        policy: ClientPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        etags: EtagCache | None = None,
        refresh: Callable[[Credential], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        verify: ssl.SSLContext | bool = True,
        ratelimits: RateLimitView | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = httpx.URL(self.base_url).host or self.base_url
        self.tokens = tokens or TokenPool()
        self.profile = profile or ForgeProfile()
        self.policy = policy or ClientPolicy()
        self.etags = etags
        self.refresh = refresh
        self.stats = RequestStats()
        self.ratelimits = ratelimits if ratelimits is not None else shared_view()
        self.note: Callable[[str], None] = lambda _text: None
        self._sleep, self._rng = sleep, rng or random.Random()
        self._breaker = CircuitBreaker(self.policy.breaker_threshold, self.policy.breaker_cooldown)
        self._slots = threading.BoundedSemaphore(max(1, self.policy.concurrency))
        p = self.policy
        limits = httpx.Limits(
            max_connections=max(2, p.concurrency * 2),
            max_keepalive_connections=max(2, p.concurrency * 2),
        )
        if p.private_hosts is not None:
            transport = GuardedTransport(
                private_hosts=p.private_hosts, inner=transport, verify=verify, limits=limits
            )
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(p.read_timeout, connect=p.connect_timeout, pool=p.read_timeout),
            limits=limits,
            headers=dict(self.profile.default_headers),
            transport=transport,
            follow_redirects=False,
            verify=verify,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- public -------------------------------------------------------------------------------
    def get(self, url: str, endpoint: str, **params: Any) -> Response:
        return self.send(RequestSpec("GET", url, endpoint, params=params, conditional=True))

    def send(self, spec: RequestSpec) -> Response:
        """Send ``spec`` with retries, rate limiting and redirects; raise on a final failure."""
        secondary_hits = primary_hits = 0
        attempt = 0
        redirects = 0
        while True:
            try:
                response, verdict, cred = self._attempt(spec)
            except _Retry as retry:
                attempt += 1
                self.stats.retries += 1
                if attempt >= (spec.attempts or self.policy.max_attempts):
                    raise ForgeError(
                        f"{self.profile.name} at {self.host} kept failing ({retry.reason}) on "
                        f"{spec.method} {_path(spec.url)} after {attempt} attempts; try again later"
                    ) from None
                delay = retry.delay
                if delay is None:
                    delay = backoff_delay(
                        attempt,
                        base=self.policy.backoff_base,
                        cap=self.policy.backoff_cap,
                        rng=self._rng,
                    )
                log.debug("http retry", endpoint=spec.endpoint, reason=retry.reason, delay=delay)
                self._sleep(delay)
                continue
            if verdict in (Verdict.OK, Verdict.NOT_MODIFIED):
                return response
            if verdict is Verdict.REDIRECT:
                redirects += 1
                location = response.headers.get("location", "")
                target = httpx.URL(self.base_url + "/").join(location)
                if _LOGIN_RE.search(target.path):
                    raise AuthError(
                        f"{self.profile.name} at {self.host} redirected {_path(spec.url)} to a "
                        f"sign-in page ({target.path}): the API did not accept the credentials; "
                        f"check {self.profile.token_env} and that --api-url is the API root"
                    )
                if redirects > 5 or target.host != self.host:
                    raise ForgeError(
                        f"{self.profile.name} redirected {_path(spec.url)} to another host or "
                        "in a loop; pass the new location with --api-url"
                    )
                spec = replace(spec, url=str(target), params={})
                continue
            if verdict is Verdict.AUTH:
                assert cred is not None  # 401s without a secret are raised in _attempt
                left = self.tokens.drop(cred)
                log.warning(
                    "credential rejected, dropped from the pool",
                    credential=cred.label,
                    host=self.host,
                    left=left,
                )
                if left == 0:
                    raise self._auth_error()
                continue
            if verdict is Verdict.PRIMARY_LIMIT:
                primary_hits += 1
                if primary_hits > self.policy.max_attempts:
                    raise RateLimited(
                        f"{self.profile.name} at {self.host} still refuses requests as over the "
                        f"rate limit after {primary_hits - 1} waits; try again later"
                    )
                self.wait_for_reset(spec.resource)
                continue
            if verdict is Verdict.SECONDARY_LIMIT:
                secondary_hits += 1
                if secondary_hits > self.policy.max_attempts:
                    raise RateLimited(
                        f"{self.profile.name} at {self.host} keeps refusing requests as too "
                        "fast (secondary rate limit); lower --concurrency and try again later"
                    )
                self._wait(self._secondary_delay(response, secondary_hits), "secondary limit")
                continue
            if verdict is Verdict.HTML:
                raise ForgeError(
                    f"{self.profile.name} at {self.host} answered {_path(spec.url)} with a web "
                    "page, not JSON: check that --api-url is the API root and that no proxy "
                    "or sign-in page is in the way"
                )
            if verdict is Verdict.OLD_API:
                raise ForgeError(
                    f"{self.profile.name} at {self.host} does not serve {_path(spec.url)} "
                    f"({response.status}: {_message(response)}): check the server version "
                    "and --api-url"
                )
            if verdict is Verdict.NOT_FOUND:
                raise NotFound(
                    f"{_path(spec.url)} on {self.host}: repository not found or the token has "
                    "no access"
                )
            raise ForgeError(
                f"{self.profile.name} at {self.host} answered {response.status} to "
                f"{spec.method} {_path(spec.url)}: {_message(response)}"
            )

    def paginate(
        self, spec: RequestSpec, paginator: Paginator, *, max_pages: int | None = None
    ) -> Iterator[tuple[Response, list[Any], str | None]]:
        """Yield (response, items, resume token of the next page or None) page by page.
        A next page that was already read (a forge's wrong ``next``) raises ``ForgeError``:
        following it would request the same pages forever."""
        pages = 0
        current: RequestSpec | None = spec
        seen = {paginator.token(spec)}
        while current is not None:
            response = self.send(current)
            body = response.json()
            nxt = paginator.next(current, _as_httpx(response), body)
            pages += 1
            if max_pages is not None and pages >= max_pages:
                nxt = None
            token = paginator.token(nxt) if nxt else None
            if token is not None and token in seen:
                raise ForgeError(
                    f"{self.profile.name} at {self.host} sent a next-page link back to the same "
                    f"page of {_path(spec.url)}: stopped instead of reading it "
                    "again; try again later or report it to the forge's administrators"
                )
            if token is not None:
                seen.add(token)
            yield response, paginator.items(body), token
            current = nxt

    # -- one attempt --------------------------------------------------------------------------
    def _attempt(self, spec: RequestSpec) -> tuple[Response, Verdict, Credential | None]:
        self._respect_breaker()
        cred = self._credential(spec.resource, spec.cost)
        headers: dict[str, str] = {}
        if cred is not None and cred.secret:
            headers.update(self.profile.auth_headers(cred.secret))
        cache_key = _cache_key(spec) if spec.conditional and self.etags is not None else None
        cached = self.etags.get(cache_key) if cache_key and self.etags is not None else None
        if cached:
            headers["If-None-Match"] = cached[0]
        self._take_shared(cred, spec.resource, spec.cost)
        started = time.monotonic()
        try:
            with self._slots:
                raw = self._http.request(
                    spec.method,
                    spec.url,
                    params=spec.params or None,
                    json=spec.json,
                    headers=headers,
                )
                content = raw.read()
            if self.profile.body_prefix and content.startswith(self.profile.body_prefix):
                content = content[len(self.profile.body_prefix) :].lstrip(b"\r\n")
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.DecodingError,  # a body that is not what its Content-Encoding says
        ) as exc:
            self.stats.count(spec.endpoint, 0)
            telemetry.forge_call(self.profile.platform, 0)
            tls = _tls_problem(exc)
            if tls:
                raise ForgeError(
                    f"the TLS certificate of {self.host} was not accepted ({tls}): pass the "
                    "server's CA certificates with --ca-bundle PATH, or renew the certificate"
                ) from None
            self._breaker_failure()
            raise _Retry(type(exc).__name__) from None
        self.stats.count(spec.endpoint, raw.status_code)
        telemetry.forge_call(self.profile.platform, raw.status_code)
        self.stats.seconds += time.monotonic() - started
        log.debug(
            "http request",
            method=spec.method,
            endpoint=spec.endpoint,
            status=raw.status_code,
            ms=round((time.monotonic() - started) * 1000, 1),
            credential=cred.label if cred else "none",
        )
        if cred is not None:
            self._update_budget(cred, raw, spec.resource)
        verdict = self.profile.classify(raw)
        if verdict is Verdict.RETRY:
            self._breaker_failure()
            raise _Retry(f"HTTP {raw.status_code}", _retry_after(raw))
        self._breaker.success()
        if verdict is Verdict.AUTH and (cred is None or not cred.secret):
            raise self._auth_error()
        response = Response(raw.status_code, raw.headers, str(raw.url), content, credential=cred)
        if verdict is Verdict.NOT_MODIFIED and cached:
            response.content, response.from_cache, response.status = cached[1], True, 200
        if verdict in (Verdict.OK, Verdict.NOT_MODIFIED):
            try:
                response.json()
            except ValueError:
                raise _Retry("malformed JSON") from None
            etag = raw.headers.get("etag")
            if cache_key and etag and not response.from_cache and self.etags is not None:
                self.etags.put(cache_key, etag, content)
        return response, verdict, cred

    def _credential(self, resource: str, cost: int = 1) -> Credential | None:
        now = time.time()
        # a query that costs more than what is left above the reserve waits for the reset
        # instead of being refused by the forge (GraphQL: RATE_LIMITED)
        if self.tokens.all_exhausted(resource, self.policy.reserve, now, cost):
            self.wait_for_reset(resource)
        try:
            cred = self.tokens.pick(resource, time.time())
        except NoCredentialsLeft:
            raise self._auth_error() from None
        if cred is not None and self.refresh and cred.expires_at and cred.expires_at - now < 300:
            self.refresh(cred)
        return cred

    def _update_budget(self, cred: Credential, raw: httpx.Response, resource: str) -> None:
        h = raw.headers
        if self.profile.remaining_header not in h or self.profile.token_bucket:
            return
        budget = cred.budget(h.get(self.profile.resource_header) or resource)
        budget.limit = _int(h.get(self.profile.limit_header), budget.limit)
        budget.remaining = _int(h.get(self.profile.remaining_header), budget.remaining)
        reset = _int(h.get(self.profile.reset_header), -1)
        budget.reset_at = float(reset) if reset > 0 else None
        if self.ratelimits is not None and budget.reset_at and budget.remaining >= 0:
            self.ratelimits.update(
                self.profile.platform,
                _scope(cred, h.get(self.profile.resource_header) or resource),
                remaining=budget.remaining,
                limit=budget.limit,
                reset_at=budget.reset_at,
            )

    def _take_shared(self, cred: Credential | None, resource: str, cost: int = 1) -> None:
        """Spend the request's expected cost (1 for REST, GraphQL's points) of the budget
        shared with every worker (Redis); when the workers together have spent it, wait for
        the reset (``no_wait``: fail) rather than send what the forge would refuse."""
        if self.ratelimits is None or cred is None:
            return
        waited_for: float | None = None  # the reset waited for last
        for _ in range(400):  # bounded: a few resets and ~20 s of first-answer waits
            wait = self.ratelimits.take(self.profile.platform, _scope(cred, resource), max(1, cost))
            if wait <= 0:
                return
            if wait <= FIRST_WAIT:  # another worker is finding out the new window's budget
                self._sleep(wait)
                continue
            reset = time.time() + wait
            if waited_for is not None and reset < waited_for + 1.0:
                return  # the same reset again (a bogus one?): the forge's answer will tell
            # The other workers may spend a new window before this one's turn comes: then
            # its reset is a later one, waited for too, instead of sending what the forge
            # would refuse.
            why = f"{resource} rate limit (shared by every worker)"
            self._wait(min(wait, MAX_RESET_WAIT), why)
            waited_for = reset  # then take again: the new window is counted like the first

    @staticmethod
    def update_budget(
        cred: Credential | None,
        resource: str,
        *,
        remaining: int,
        limit: int,
        reset_at: float | None,
    ) -> None:
        """Record a budget a forge reported in a body (GraphQL ``rateLimit``) for ``cred``."""
        if cred is None:
            return
        b = cred.budget(resource)
        b.remaining, b.limit, b.reset_at = remaining, limit, reset_at

    # -- waiting ------------------------------------------------------------------------------
    def wait_for_reset(self, resource: str) -> None:
        """Wait until ``resource`` refills (or raise ``RateLimited`` with ``no_wait``)."""
        now = time.time()
        wait = self.tokens.earliest_reset(resource, now)
        if wait is None:
            # Unknown or bogus reset (GHES sends 0 / far future): never wait forever.
            wait = self.policy.secondary_wait
        self._wait(wait, f"{resource} rate limit")

    def _secondary_delay(self, raw: Response, hits: int) -> float:
        after = _retry_after_headers(raw.headers)
        if after is not None:
            return after
        return float(min(self.policy.secondary_wait * 2.0 ** (hits - 1), 15 * 60.0))

    def _wait(self, seconds: float, why: str) -> None:
        until = datetime.fromtimestamp(time.time() + seconds, UTC)
        if self.policy.no_wait:
            raise RateLimited(
                f"{self.profile.name} {why} reached for {self.host} (resets at "
                f"{until:%H:%M:%S} UTC); wait, add tokens to {self.profile.token_env}, or run "
                "without --no-wait",
                reset_at=until.timestamp(),
            )
        self.note(f"waiting for the {self.profile.name} {why} until {until:%H:%M:%S} UTC")
        log.info("rate limited, waiting", host=self.host, why=why, seconds=round(seconds, 1))
        self.stats.waited_seconds += seconds
        self._sleep(seconds)

    def _respect_breaker(self) -> None:
        wait = self._breaker.wait_time(time.monotonic())
        if wait > 0:
            if self.policy.no_wait:
                raise ForgeError(
                    f"{self.profile.name} at {self.host} is failing repeatedly (circuit open); "
                    "try again later"
                )
            self.note(f"{self.host} is failing; pausing {wait:.0f}s before trying again")
            self._sleep(wait)

    def _breaker_failure(self) -> None:
        if self._breaker.failure(time.monotonic()):
            log.warning("circuit opened", host=self.host, cooldown=self.policy.breaker_cooldown)

    def _auth_error(self) -> AuthError:
        return AuthError(
            f"{self.profile.name} token rejected for {self.host}: check {self.profile.token_env}"
        )


def _scope(cred: Credential, resource: str) -> str:
    """``token:{fingerprint}`` (the REST budget) or ``token:{fingerprint}:{resource}``."""
    scope = token_scope(cred.secret or cred.label)
    return scope if resource == "core" else f"{scope}:{resource}"


_LOGIN_RE = re.compile(r"/(users/sign_in|login|signin|sign-in|saml|sso)\b", re.IGNORECASE)


def _tls_problem(exc: BaseException) -> str | None:
    """The certificate problem behind a connection error (expired, self-signed ...), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or seen)
        text = str(seen)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return text.rsplit("CERTIFICATE_VERIFY_FAILED]", 1)[-1].strip(" ()") or text
        seen = seen.__cause__ or seen.__context__
    return None


def _as_httpx(response: Response) -> httpx.Response:
    return httpx.Response(response.status, headers=response.headers)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _retry_after_headers(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delay-seconds or an HTTP-date (RFC 9110 10.2.3),
    capped at 15 minutes; None when absent or unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, min(seconds, 15 * 60.0))


def _retry_after(raw: httpx.Response) -> float | None:
    return _retry_after_headers(raw.headers)


def _path(url: str) -> str:
    return httpx.URL(url).path or url


def _message(raw: Response) -> str:
    try:
        body = raw.json()
    except ValueError:
        return raw.content[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return raw.content[:200].decode("utf-8", "replace")


def _cache_key(spec: RequestSpec) -> str:
    url = httpx.URL(spec.url).copy_merge_params(spec.params) if spec.params else spec.url
    return f"{spec.method} {url}"
