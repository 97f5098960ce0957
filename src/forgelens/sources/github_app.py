"""GitHub App authentication: a JWT signed with the App's private key buys an installation
token (one installation per organization), refreshed before its one-hour expiry.

The pool it returns holds one credential whose secret is filled (and refilled) by ``refresh``,
which ``HttpClient`` calls whenever the token is missing or has less than five minutes left.
Needs ``pyjwt`` and ``cryptography`` (``pip install 'forgelens[github-app]'``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from forgelens.errors import AuthError, BadInput, NotFound
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
    ) -> None:
        self.app_id, self._key = app_id, private_key
        self.api_url = api_url.rstrip("/")
        self.transport = transport
        self.installation_id = installation_id
        self.owner: str | None = None
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
            raise NotFound(f"GitHub App {self.app_id} is not installed on {self.owner}")
        if resp.status_code >= 300:
            raise AuthError(
                f"GitHub App {self.app_id} rejected (HTTP {resp.status_code}): check "
                "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"
            )
        self.installation_id = str(resp.json()["id"])
        return self.installation_id
