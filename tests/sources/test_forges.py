"""The forge registry (sources/forges.py): every place that names forges reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from forgelens.config import Settings
from forgelens.errors import BadInput
from forgelens.sources import forges
from forgelens.sources.forge import Forge


def test_each_forge_package_exports_one_descriptor_and_the_registry_lists_them_once() -> None:
    assert all(isinstance(f, Forge) for f in forges.FORGES)
    assert forges.kinds() == (
        "github",
        "gitlab",
        "bitbucket-server",
        "bitbucket",
        "gitea",
        "gerrit",
    )
    assert len(set(forges.kinds())) == len(forges.FORGES)
    hosts = [h for f in forges.FORGES for h in f.hosts]
    assert len(hosts) == len(set(hosts)), "a host may name one forge only"
    assert forges.BY_HOST["github.com"].kind == "github"
    assert forges.BY_HOST["bitbucket.org"].kind == "bitbucket"
    assert forges.BY_HOST["gitea.com"].kind == "gitea"


def test_every_forge_setting_is_read_by_name_from_env_dotenv_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Tokens and webhook secrets are no Settings fields (a new forge edits no config): each
    name a descriptor gives reads the environment, else .env, else <NAME>_FILE; a value given
    to Settings(...) wins, even None (a demo that must never send a real token)."""
    names = forges.setting_names()
    assert "GITHUB_TOKEN" in names
    assert "FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY" in names
    for name in names:
        assert name.lower() not in Settings.model_fields, name
        monkeypatch.delenv(name, raising=False)
    dotenv = tmp_path / ".env"
    for i, name in enumerate(names):
        read = Settings(_env_file=None)  # type: ignore[call-arg]
        assert read.secret(name) is None, name
        if i % 3 == 0:
            monkeypatch.setenv(name, "env-" + name)
        elif i % 3 == 1:
            dotenv.write_text(f"{name.lower()}=dot-{name}\n")
        else:
            (tmp_path / name).write_text("file-" + name + "\n")
            monkeypatch.setenv(name + "_FILE", str(tmp_path / name))
        read = Settings(_env_file=dotenv)  # type: ignore[call-arg]
        value = read.secret(name)
        assert isinstance(value, SecretStr), name
        assert value.get_secret_value() == ("env-", "dot-", "file-")[i % 3] + name
        assert Settings(**{name.lower(): None}).secret(name) is None, name
    monkeypatch.setenv("GITHUB_TOKEN", "from-env")
    assert Settings(github_token="given").value("GITHUB_TOKEN") == "given"


def test_an_unknown_forge_names_the_ones_there_are() -> None:
    with pytest.raises(BadInput, match="github, gitlab, bitbucket-server, bitbucket, gitea"):
        forges.forge("gerrit-typo")
