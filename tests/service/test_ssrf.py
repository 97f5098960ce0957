"""Which repository URLs a trigger may name: SSRF cases of OWASP API7."""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from forgelens.errors import BadInput
from forgelens.service.ssrf import guard_redirects, validate_repository_url
from tests.service._server import serving
from tests.service.conftest import Service


def check(url: str, **kw: object) -> str:
    return str(validate_repository_url(url, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "spec"),
    [
        ("https://github.com/pallets/click", "github:pallets/click"),
        ("https://github.com/pallets/click.git", "github:pallets/click"),
        ("https://github.com/pallets/click/pull/12", "github:pallets/click"),
        ("https://GitHub.com./pallets/click", "github:pallets/click"),
        ("https://gitlab.com/group/sub/project/-/merge_requests/3", "gitlab:group/sub/project"),
        ("https://bitbucket.org/team/repo", "bitbucket:team/repo"),
        ("https://github.com:443/o/r", "github:o/r"),
        ("https://github.com/acme/.github", "github:acme/.github"),
        ("https://gitlab.com/group/_infra/-/issues", "gitlab:group/_infra"),
    ],
)
def test_forge_urls_are_accepted(url: str, spec: str) -> None:
    assert check(url) == spec


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://github.com/o/r", "https"),
        ("ftp://github.com/o/r", "https"),
        ("file:///etc/passwd", "https"),
        ("https://token:x@github.com/o/r", "credentials"),
        ("https://github.com:8443/o/r", "not a configured forge host"),
        ("https://example.com/o/r", "not a configured forge host"),
        ("https://github.com.evil.example/o/r", "not a configured forge host"),
        ("https://127.0.0.1/o/r", "IP address"),
        ("https://2130706433/o/r", "IP address"),  # decimal 127.0.0.1
        ("https://0x7f000001/o/r", "IP address"),  # hex 127.0.0.1
        ("https://0177.0.0.1/o/r", "IP address"),  # octal
        ("https://127.1/o/r", "IP address"),
        ("https://[::1]/o/r", "IP address"),
        ("https://[::ffff:127.0.0.1]/o/r", "IP address"),
        ("https://[0:0:0:0:0:ffff:7f00:1]/o/r", "IP address"),
        ("https://169.254.169.254/latest/meta-data", "IP address"),
        ("https://[fd00:ec2::254]/o/r", "IP address"),
        ("https://github.com/o", "must name a repository"),
        ("https://github.com/../../etc/passwd", "characters"),
        ("https://github.com/acme/%2E%2E", "characters"),
        ("https://github.com/acme/-rf", "characters"),
        ("https://github.com/o/r x", "without spaces"),
        ("", "without spaces"),
    ],
)
def test_dangerous_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        check(url)


def no_dns_for_forges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver fails for every forge host (the test's own loopback still resolves)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kw: object) -> object:
        if isinstance(host, str) and host.rstrip(".").endswith((".com", ".org")):
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_public_forge_is_accepted_by_name_while_dns_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No DNS at trigger time: a resolver outage of ours is not the caller's mistake (the
    addresses are checked where the job connects: tests/sources/test_address_guard.py)."""

    no_dns_for_forges(monkeypatch)
    assert check("https://github.com/pallets/click") == "github:pallets/click"


def test_a_trigger_while_dns_is_down_is_queued(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_dns_for_forges(monkeypatch)
    answer = service.client.post(
        "/api/v1/collect/trigger",
        json={"repository_url": "https://github.com/pallets/click"},
        headers=service.headers("operator"),
    )
    assert answer.status_code == 202, answer.text


def test_an_explicitly_configured_self_hosted_forge_may_be_private() -> None:
    hosts = {"git.corp.example": "github", "gl.corp.example:8443": "gitlab"}
    spec = validate_repository_url("https://git.corp.example/team/app", self_hosted=hosts)
    assert (str(spec), spec.api_url) == ("github:team/app", "https://git.corp.example/api/v3")
    with pytest.raises(BadInput, match="not a configured forge host"):
        validate_repository_url("https://other.corp.example/t/a", self_hosted=hosts)


@pytest.mark.parametrize(
    ("url", "spec", "api_url"),
    [
        (
            "https://bb.corp.example/projects/PROJ/repos/repository/browse",
            "bitbucket-server:PROJ/repository",
            "https://bb.corp.example",
        ),
        (  # a server under a context path: the API lives under it too
            "https://bb.corp.example/bitbucket/projects/PROJ/repos/repository/pull-requests/1",
            "bitbucket-server:PROJ/repository",
            "https://bb.corp.example/bitbucket",
        ),
        (  # clone URLs carry the project key in lower case
            "https://bb.corp.example/scm/proj/repository.git",
            "bitbucket-server:PROJ/repository",
            "https://bb.corp.example",
        ),
        (  # a personal repository: project key ~USER
            "https://bb.corp.example/users/admin/repos/dotfiles/browse",
            "bitbucket-server:~ADMIN/dotfiles",
            "https://bb.corp.example",
        ),
    ],
)
def test_bitbucket_server_urls_name_the_repository_and_the_server_root(
    url: str, spec: str, api_url: str
) -> None:
    hosts = {"bb.corp.example": "bitbucket-server"}
    found = validate_repository_url(url, self_hosted=hosts)
    assert (str(found), found.api_url) == (spec, api_url)


def test_the_trigger_endpoint_refuses_before_queuing(service: Service) -> None:
    for url in (
        "https://2130706433/o/r",
        "https://[::1]/o/r",
        "https://169.254.169.254/o/r",
        "http://github.com/o/r",
    ):
        answer = service.client.post(
            "/api/v1/collect/trigger",
            json={"repository_url": url},
            headers=service.headers("operator"),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "BadInput"
    assert service.store().query("SELECT count(*) FROM service_jobs")[0][0] == 0
    refused = service.store().query(
        "SELECT count(*) FROM audit_log WHERE action = 'collect.trigger' AND outcome = 'refused'"
    )
    assert refused[0][0] == 4


def test_redirects_to_another_host_are_refused() -> None:
    app = FastAPI()

    @app.get("/same")
    async def same() -> RedirectResponse:
        return RedirectResponse("/final")

    @app.get("/final")
    async def final() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/away")
    async def away(port: int) -> RedirectResponse:
        return RedirectResponse(f"http://localhost:{port}/final")

    with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with guard_redirects(httpx.Client(follow_redirects=True)) as client:
            assert client.get(f"{url}/same").json() == {"ok": "yes"}
            with pytest.raises(BadInput, match="redirected to another host"):
                client.get(f"{url}/away", params={"port": port})
