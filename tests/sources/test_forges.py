"""The forge registry (sources/forges.py): every place that names forges reads it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from forgelens import config
from forgelens.config import Settings
from forgelens.errors import BadInput
from forgelens.sources import forges
from forgelens.sources.forge import Forge


def test_each_forge_package_exports_one_descriptor_and_the_registry_lists_them_once() -> None:
    assert all(isinstance(f, Forge) for f in forges.FORGES)
    assert forges.kinds() == ("github", "gitlab", "bitbucket-server", "bitbucket", "gitea")
    assert len(set(forges.kinds())) == len(forges.FORGES)
    hosts = [h for f in forges.FORGES for h in f.hosts]
    assert len(hosts) == len(set(hosts)), "a host may name one forge only"
    assert forges.BY_HOST["github.com"].kind == "github"
    assert forges.BY_HOST["bitbucket.org"].kind == "bitbucket"
    assert forges.BY_HOST["gitea.com"].kind == "gitea"


def test_every_token_setting_is_a_secret_setting_that_can_come_from_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for forge in forges.FORGES:
        assert forge.token_setting in Settings.model_fields, forge.kind
        assert forge.token_setting in config._SECRET_FIELDS, forge.kind
        monkeypatch.setenv(forge.token_setting.upper(), "tok-" + forge.kind)
        value = getattr(Settings(_env_file=None), forge.token_setting)  # type: ignore[call-arg]
        assert isinstance(value, SecretStr)


def test_an_unknown_forge_names_the_ones_there_are() -> None:
    with pytest.raises(BadInput, match="github, gitlab, bitbucket-server, bitbucket, gitea"):
        forges.forge("gerrit-typo")
