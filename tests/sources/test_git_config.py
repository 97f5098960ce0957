"""The rows the miner stores do not depend on the git config of whoever runs it.

Each case sets one setting a real user or repository may have in the repository's own
``.git/config`` and checks the mined rows against git's plumbing run without it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from forgelens.sources.git import source as gitsrc
from forgelens.store import Store
from tests.conftest import git
from tests.sources.githelp import raw_commit, set_branch, tree_of
from tests.sources.test_git import collect, commit, expected_rows, mined_rows, same_instants

SIGNATURE = (
    b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
)
# myers counts 4 added and 4 deleted lines between these, patience 5 and 5
BEFORE, AFTER = "a\nx\nx\ny\na\nz\n", "c\nz\nb\ny\na\nc\n"


def build_config_sensitive_repo(repo: Path) -> Path:
    """A root commit with files, a submodule (gitlink) bump, a diff whose line counts depend
    on the diff algorithm, UTF-8 and ISO-8859-1 messages, a commit with a gpg signature."""
    (repo / "lines.txt").write_text(BEFORE)
    (repo / "café.txt").write_text("é\n")
    for name in ("one", "two"):
        (repo / f"{name}.txt").write_text("".join(f"{name} line {i}\n" for i in range(20)))
    commit(repo, "root: café", n=1)
    (repo / "vendor" / "lib").mkdir(parents=True)  # a submodule not checked out
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib")
    commit(repo, "add a submodule", n=2)
    git(repo, "update-index", "--cacheinfo", f"160000,{'2' * 40},vendor/lib")
    (repo / "lines.txt").write_text(AFTER)
    for name in ("one", "two"):  # two renames with edits: inexact rename detection
        git(repo, "mv", f"{name}.txt", f"{name}-renamed.txt")
        with (repo / f"{name}-renamed.txt").open("a") as fh:
            fh.write("edited\n")
    commit(repo, "bump the submodule, rewrite lines, rename two files", n=3)
    head = git(repo, "rev-parse", "HEAD").strip()
    latin = raw_commit(
        repo,
        "Résumé: naïve déjà vu\n".encode("latin-1"),
        parents=[head],
        tree=tree_of(repo),
        author="José Müller <jose@example.com> 1700000000 +0100".encode("latin-1"),
        headers=b"encoding ISO-8859-1\n",
    )
    signed = raw_commit(repo, b"signed\n", parents=[latin], tree=tree_of(repo), headers=SIGNATURE)
    set_branch(repo, signed)
    return repo


CONFIGS = [
    ("log.showSignature", "true"),
    ("i18n.commitEncoding", "ISO-8859-1"),
    ("i18n.logOutputEncoding", "ISO-8859-1"),
    ("log.showRoot", "false"),
    ("diff.ignoreSubmodules", "all"),
    ("diff.algorithm", "patience"),
    ("diff.renameLimit", "1"),
    ("diff.renames", "copies"),
    ("color.ui", "always"),
    ("core.quotePath", "true"),
]


@pytest.mark.parametrize(("key", "value"), CONFIGS, ids=[k for k, _ in CONFIGS])
def test_repository_config_does_not_change_the_rows(
    store: Store,
    make_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    value: str,
) -> None:
    if key == "log.showSignature" and shutil.which("gpg") is None:
        pytest.skip("gpg is not installed: git shows no signature to get in the way")
    # gpg writes its keyring here, not in the user's home
    monkeypatch.setitem(gitsrc._GIT_ENV, "GNUPGHOME", str(tmp_path / "gnupg"))
    (tmp_path / "gnupg").mkdir(mode=0o700)
    repo = build_config_sensitive_repo(make_repo("configured"))
    rid = gitsrc.open_repo(str(repo), tmp_path).id
    want, want_files = expected_rows(repo, rid)  # plumbing, before the setting exists
    git(repo, "config", key, value)
    collect(store, repo, tmp_path)
    got, got_files = mined_rows(store, rid)
    same_instants(got, want)
    assert got == want
    assert got_files == want_files
    # the fixture really holds what each setting would change
    messages = {c["message"] for c in got.values()}
    assert {"Résumé: naïve déjà vu", "root: café", "signed"} <= messages
    assert ("José Müller", "jose@example.com") in {
        (c["author_name"], c["author_email"]) for c in got.values()
    }
    paths = {(f[2], f[5], f[6]) for f in got_files}
    assert {("vendor/lib", 1, 0), ("vendor/lib", 1, 1), ("lines.txt", 4, 4)} <= paths
    assert ("café.txt", 1, 0) in paths
    renames = {(f[2], f[3], f[4]) for f in got_files if f[3]}
    assert renames == {(f"{n}-renamed.txt", f"{n}.txt", "renamed") for n in ("one", "two")}
