"""GitHub App authentication against the simulator: JWT -> installation token -> refresh."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from forgelens.config import Settings
from forgelens.errors import AuthError
from forgelens.sources.base import RepoRef
from forgelens.sources.github import from_options
from forgelens.testing.forge_sim import SimSize
from tests.sources.simhelp import options, running, sim_for


def keypair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_app_installation_token_is_fetched_used_and_refreshed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keypair()
    key_file = tmp_path / "app.pem"
    key_file.write_text(private)
    sim = sim_for(SimSize(repos=1, prs_per_repo=3), tokens={"only-app-tokens-work"})
    gh = sim.renderers[0]
    gh.app_id, gh.app_public_key = "1234", public  # type: ignore[attr-defined]
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY_FILE", str(key_file))  # a mounted secret
    settings = Settings(github_token=None, github_app_id="1234")
    with running(sim) as url, from_options(options(url), settings=settings) as source:
        refs = source.list_repositories("acme")
        assert refs == [RepoRef("acme", "service-0")]
        assert len(gh.app_tokens) == 1  # type: ignore[attr-defined]
        cred = source.source("acme").client.tokens.credentials[0]  # acme's installation
        assert cred.secret == gh.app_tokens[0]  # type: ignore[attr-defined]
        cred.expires_at = time.time() + 60  # about to expire: refreshed before the next call
        source.repository(refs[0])
        assert len(gh.app_tokens) == 2  # type: ignore[attr-defined]
        assert cred.secret == gh.app_tokens[1]  # type: ignore[attr-defined]


def test_app_with_the_wrong_key_is_rejected_clearly() -> None:
    private, _ = keypair()
    _, other_public = keypair()
    sim = sim_for(tokens={"x"})
    gh = sim.renderers[0]
    gh.app_id, gh.app_public_key = "1234", other_public  # type: ignore[attr-defined]
    settings = Settings(github_token=None, github_app_id="1234", github_app_private_key=private)
    with (
        running(sim) as url,
        from_options(options(url), settings=settings) as source,
        pytest.raises(AuthError, match="GitHub App 1234"),
    ):
        source.list_repositories("acme")


def test_each_organization_gets_its_own_installation() -> None:
    private, public = keypair()
    sim = sim_for(SimSize(repos=1, prs_per_repo=1), tokens={"x"})
    gh = sim.renderers[0]
    gh.app_id, gh.app_public_key = "77", public  # type: ignore[attr-defined]
    settings = Settings(github_token=None, github_app_id="77", github_app_private_key=private)
    with running(sim) as url, from_options(options(url), settings=settings) as source:
        assert source.list_repositories("acme")
        with pytest.raises(AuthError, match="not installed on elsewhere"):
            source.list_repositories("elsewhere")
        assert source.source("acme") is not source.source("elsewhere")
        assert source.api_calls >= 1
