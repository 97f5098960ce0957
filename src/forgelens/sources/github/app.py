"""GitHub App authentication: a JWT signed with the App's private key buys an installation
token (one installation per organization), refreshed before its one-hour expiry.

The pool it returns holds one credential whose secret is filled (and refilled) by ``refresh``,
which ``HttpClient`` calls whenever the token is missing or has less than five minutes left.
``AppRouter`` gives each organization of a run its own installation (and client).
Needs ``pyjwt`` and ``cryptography`` (``pip install 'forgelens[github-app]'``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from forgelens.errors import AuthError, BadInput
from forgelens.logs import get_logger
from forgelens.sources._ratelimit import Credential, TokenPool

log = get_logger(__name__)


def _ts(value: Any) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GitHubApp:
    def __init__(
        self,
        app_id: str,
        private_key: str,
        api_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        installation_id: str | None = None,
        owner: str | None = None,
    ) -> None:
        self.app_id, self._key = app_id, private_key
        self.api_url = api_url.rstrip("/")
        self.transport = transport
        self.installation_id = installation_id
        self.owner = owner  # the organization (or user) whose installation is used
        self._lock = threading.Lock()

    def jwt(self, now: float | None = None) -> str:
        try:
            import jwt
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BadInput(
                "GitHub App authentication needs pyjwt: pip install 'forgelens[github-app]'"
            ) from exc
        now = time.time() if now is None else now
        claims = {"iat": int(now) - 60, "exp": int(now) + 540, "iss": self.app_id}
        try:
            return str(jwt.encode(claims, self._key, algorithm="RS256"))
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthError(
                "GITHUB_APP_PRIVATE_KEY is not a usable RSA private key (PEM); check it"
            ) from None

    def pool(self) -> TokenPool:
        pool = TokenPool(["pending-installation-token"])
        pool.credentials[0].label = f"app#{self.app_id}"
        pool.credentials[0].expires_at = 1.0  # forces a refresh before the first request
        return pool

    def refresh(self, cred: Credential) -> None:
        """Fetch a fresh installation token into ``cred``."""
        with self._lock:
            if cred.expires_at and cred.expires_at - time.time() > 300:
                return  # another thread refreshed it
            headers = {
                "Authorization": f"Bearer {self.jwt()}",
                "Accept": "application/vnd.github+json",
            }
            with httpx.Client(
                base_url=self.api_url, headers=headers, transport=self.transport, timeout=30
            ) as http:
                iid = self.installation_id or self._installation(http)
                resp = http.post(f"/app/installations/{iid}/access_tokens")
                if resp.status_code == 401:
                    raise AuthError(
                        f"GitHub App {self.app_id} rejected by {httpx.URL(self.api_url).host}: "
                        "check GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"
                    )
                if resp.status_code >= 300:
                    raise AuthError(
                        f"GitHub App {self.app_id}: installation token refused "
                        f"(HTTP {resp.status_code})"
                    )
                body = resp.json()
            cred.secret = str(body["token"])
            cred.expires_at = _ts(body.get("expires_at")) or time.time() + 3000
            log.info("github app installation token refreshed", app=self.app_id)

    def _installation(self, http: httpx.Client) -> str:
        if not self.owner:
            raise BadInput("GitHub App authentication needs an organization: github:ORG[/REPO]")
        resp = http.get(f"/orgs/{self.owner}/installation")
        if resp.status_code == 404:
            resp = http.get(f"/users/{self.owner}/installation")
        if resp.status_code == 404:
            raise AuthError(
                f"GitHub App {self.app_id} is not installed on {self.owner}: install it there "
                "or check the organization name"
            )
        if resp.status_code >= 300:
            raise AuthError(
                f"GitHub App {self.app_id} rejected (HTTP {resp.status_code}): check "
                "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"
            )
        self.installation_id = str(resp.json()["id"])
        return self.installation_id


class AppRouter:
    """A ``ForgeSource`` that sends each owner's calls to that owner's source (installation)."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make = make
        self._sources: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._note: Callable[[str], None] | None = None
        first = make("-")  # for kind / data_source only; never sends a request
        self.kind, self.data_source = first.kind, first.data_source
        first.close()

    def source(self, owner: str) -> Any:
        key = owner.lower()
        with self._lock:
            if key not in self._sources:
                self._sources[key] = self._make(owner)
                if self._note is not None:
                    self._sources[key].set_note(self._note)
            return self._sources[key]

    @property
    def api_calls(self) -> int:
        return sum(int(s.api_calls) for s in list(self._sources.values()))

    @property
    def requests_by_endpoint(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for s in list(self._sources.values()):
            for k, v in s.requests_by_endpoint.items():
                total[k] = total.get(k, 0) + v
        return total

    def set_note(self, note: Callable[[str], None]) -> None:
        self._note = note
        for s in list(self._sources.values()):
            s.set_note(note)

    def close(self) -> None:
        for s in list(self._sources.values()):
            s.close()

    def __enter__(self) -> AppRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_repositories(self, target: str) -> Any:
        return self.source(target.strip("/").split("/")[0]).list_repositories(target)

    def teams(self, owner: str) -> Any:
        return self.source(owner).teams(owner)

    def __getattr__(self, name: str) -> Any:
        """``repository``, ``pull_requests``, ``issues``, ... route on their ``ref.owner``."""
        if name.startswith("_"):
            raise AttributeError(name)

        def call(ref: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.source(ref.owner), name)(ref, *args, **kwargs)

        return call
