"""Where a job's forge requests may connect (sources/_address_guard.py): checked where the
connection is made, pinned to the checked address, a failed resolution retried."""

from __future__ import annotations

import httpx
import pytest

from forgelens.errors import BadInput, ForgeError
from forgelens.sources._address_guard import GuardedTransport, is_public_address
from forgelens.sources.http import ClientPolicy, HttpClient


class Recorder(httpx.BaseTransport):
    """Answers every request and remembers where it was sent (instead of the network)."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return httpx.Response(200, json={"ok": True})


def client(dns: dict[str, list[str]], private: frozenset[str] = frozenset()) -> HttpClient:
    recorder = Recorder()
    http = HttpClient(
        "https://git.corp.example/api/v3",
        policy=ClientPolicy(private_hosts=private, backoff_base=0.0, max_attempts=2),
        transport=recorder,
        sleep=lambda _s: None,
    )
    guard = http._http._transport
    assert isinstance(guard, GuardedTransport)
    calls: list[str] = []

    def resolver(host: str) -> list[str]:
        calls.append(host)
        answer = dns.get(host)
        if answer is None:
            raise httpx.ConnectError(f"the host {host!r} cannot be resolved")
        return answer

    guard.resolver = resolver
    http.recorder, http.calls = recorder, calls  # type: ignore[attr-defined]
    return http


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:0a00:0001::1",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_a_host_resolving_to_a_private_address_is_refused(address: str) -> None:
    assert not is_public_address(address)
    with client({"git.corp.example": ["140.82.112.3", address]}) as http:
        with pytest.raises(BadInput, match="non-public address"):
            http.get("/repos/o/r", "GET /repos/{owner}/{repo}")
        assert http.recorder.seen == []  # type: ignore[attr-defined]


def test_the_connection_goes_to_the_address_that_was_checked_once() -> None:
    """DNS rebinding: the second answer (private) is never asked for nor connected to."""
    answers = {"git.corp.example": ["140.82.112.3"]}
    with client(answers) as http:
        http.get("/repos/o/r", "GET /repos/{owner}/{repo}")
        answers["git.corp.example"] = ["127.0.0.1"]
        http.get("/repos/o/s", "GET /repos/{owner}/{repo}")
        seen = http.recorder.seen  # type: ignore[attr-defined]
        assert [r.url.host for r in seen] == ["140.82.112.3", "140.82.112.3"]
        assert {r.headers["host"] for r in seen} == {"git.corp.example"}
        assert {r.extensions["sni_hostname"] for r in seen} == {"git.corp.example"}
        assert http.calls == ["git.corp.example"]  # type: ignore[attr-defined]


def test_an_explicitly_allowed_host_may_be_private() -> None:
    with client({"git.corp.example": ["10.1.2.3"]}, frozenset({"git.corp.example"})) as http:
        assert http.get("/repos/o/r", "GET /repos/{owner}/{repo}").json() == {"ok": True}
        assert http.recorder.seen[0].url.host == "10.1.2.3"  # type: ignore[attr-defined]


def test_a_failed_resolution_is_retried_then_a_retryable_forge_error() -> None:
    with client({}) as http, pytest.raises(ForgeError, match="try again later"):
        http.get("/repos/o/r", "GET /repos/{owner}/{repo}")
    assert http.calls == ["git.corp.example", "git.corp.example"]  # type: ignore[attr-defined]


def test_without_private_hosts_the_client_connects_as_dns_says() -> None:
    http = HttpClient("https://git.corp.example", transport=Recorder())
    assert not isinstance(http._http._transport, GuardedTransport)
