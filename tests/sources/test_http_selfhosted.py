"""The HTTP client's answers to what self-hosted servers send, on a real socket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forgelens.errors import AuthError, ForgeError
from forgelens.sources.http import ForgeProfile, HttpClient, RequestSpec
from forgelens.testing.forge_sim import serve


def app_answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        if not headers or "content-type" not in headers:
            raw.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    return app


def get(url: str) -> None:
    profile = ForgeProfile(name="GitLab", token_env="GITLAB_TOKEN")
    with HttpClient(url + "/api/v4", profile=profile) as client:
        client.send(RequestSpec("GET", "/projects/1", "GET /projects/{id}"))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (410, {"message": "API V3 is no longer supported. Use API V4 instead."}),
        (404, {"error": "This API version is not available on this server"}),
    ],
)
def test_old_api_version_names_the_host_and_what_to_check(status: int, body: Any) -> None:
    with serve(app_answering(status, body)) as url, pytest.raises(ForgeError) as err:
        get(url)
    assert "GitLab at 127.0.0.1 does not serve /projects/1" in err.value.message
    assert "check the server version and --api-url" in err.value.message


def test_html_error_page_with_200_is_not_retried_as_json() -> None:
    page = b"<html><body>Corporate portal</body></html>"
    app = app_answering(200, page, {"content-type": "text/html"})
    with serve(app) as url, pytest.raises(ForgeError) as err:
        get(url)
    assert "answered /projects/1 with a web page, not JSON" in err.value.message


def test_redirect_to_a_login_page_on_another_host_is_an_auth_error() -> None:
    app = app_answering(302, b"", {"location": "https://sso.example.com/saml/login?x=1"})
    with serve(app) as url, pytest.raises(AuthError) as err:
        get(url)
    assert "redirected /projects/1 to a sign-in page" in err.value.message
    assert "GITLAB_TOKEN" in err.value.message
