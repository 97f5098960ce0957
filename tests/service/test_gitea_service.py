"""Gitea / Forgejo through the service: which trigger URLs name a Gitea repository (a
configured self-hosted host, gitea.com), and end to end a triggered collection from the
simulated Gitea on a real TLS socket, then a signed webhook that lands at once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from forgelens.errors import BadInput
from forgelens.service.ssrf import validate_repository_url
from forgelens.sources.gitea.webhook import sign
from tests.service.conftest import running_service
from tests.service.test_e2e_sim import simulated_forge

HOSTS = {"gitea.example.com": "gitea"}


@pytest.mark.parametrize(
    "url",
    [
        "https://gitea.example.com/owner/repo",
        "https://gitea.example.com/owner/repo.git",
        "https://gitea.example.com/owner/repo/pulls/3",
        "https://gitea.example.com/owner/repo/src/branch/main/README.md",
    ],
)
def test_a_configured_gitea_host_names_the_repository_and_its_api(url: str) -> None:
    spec = validate_repository_url(url, self_hosted=HOSTS)  # names are checked, not addresses
    assert (str(spec), spec.api_url) == ("gitea:owner/repo", "https://gitea.example.com/api/v1")


def test_gitea_com_is_a_public_forge_and_other_gitea_hosts_must_be_configured() -> None:
    # a public forge is allowed by name, without a DNS look-up at trigger time (the addresses a
    # job connects to are checked where it connects: tests/sources/test_address_guard.py)
    spec = validate_repository_url("https://gitea.com/gitea/tea")
    assert (str(spec), spec.api_url) == ("gitea:gitea/tea", None)  # the default API applies
    with pytest.raises(BadInput, match="not a configured forge host"):
        validate_repository_url("https://codeberg.example/o/r")
    with pytest.raises(BadInput, match="must name a repository"):
        validate_repository_url("https://gitea.example.com/owner", self_hosted=HOSTS)


def test_a_triggered_collection_reads_the_self_hosted_gitea_and_a_webhook_lands_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "gt-e2e-secret"
    with simulated_forge(tmp_path, monkeypatch) as sim:
        host = httpx.URL(sim.url).host
        with (
            running_service(
                tmp_path,
                FORGELENS_FORGE_HOSTS=f"{host}=gitea",
                FORGELENS_FORGE_PRIVATE_HOSTS="127.0.0.1",  # the simulator is on loopback
                FORGELENS_GITEA_WEBHOOK_SECRET=secret,
            ) as service,
        ):  # the service's own Gitea collector: only GitHub's is a stand-in there
            repo = sim.dataset.repos[0]
            headers = service.headers("operator")
            answer = service.client.post(
                "/api/v1/collect/trigger",
                json={"repository_url": f"{sim.url}/{repo.full_name}/pulls/1"},
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
            rid = f"gitea:{repo.full_name}"
            status = service.wait_idle(rid, timeout=90)
            assert status["status"] == "completed", status
            assert status["run"]["api_calls"] == sim.requests  # every request reached Gitea
            assert all(path.startswith("/api/v1/") for _, path, _ in sim.log)
            store = service.store()
            prs = store.query("SELECT number FROM pull_requests WHERE repository_id = ?", [rid])
            assert sorted(n for (n,) in prs) == sorted(p.number for p in repo.prs)
            files = store.query("SELECT count(*) FROM pr_files WHERE repository_id = ?", [rid])
            assert files[0][0] == sum(len(p.files) for p in repo.prs)

            pr = repo.prs[0]
            payload = {
                "action": "edited",
                "number": pr.number,
                "pull_request": {
                    "id": pr.id,
                    "number": pr.number,
                    "title": "Retitled by a webhook",
                    "state": "open" if pr.state == "open" else "closed",
                    "merged": pr.state == "merged",
                    "user": {"id": 5, "login": pr.author or "Ghost"},
                    "created_at": pr.created_at.isoformat(timespec="seconds"),
                    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2)),
                },
                "repository": {
                    "full_name": repo.full_name,
                    "html_url": f"{sim.url}/{repo.full_name}",
                },
            }
            body = json.dumps(payload).encode()
            hook = service.client.post(
                "/api/v1/webhooks/gitea",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Forgejo-Event-Type": "pull_request",
                    "X-Forgejo-Delivery": str(uuid.uuid4()),
                    "X-Forgejo-Signature": sign(secret, body),
                },
            )
            assert hook.status_code == 202, hook.text
            assert hook.json()["status"] == "queued"
            title = store.query(
                "SELECT title FROM pull_requests WHERE repository_id = ? AND number = ?",
                [rid, pr.number],
            )
            assert title == [("Retitled by a webhook",)]
            done = service.wait_idle(rid, timeout=60)
            assert done["status"] == "completed"  # the targeted sync, on the same server
