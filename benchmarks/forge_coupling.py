"""How coupled the forges are to the rest, before and after the plug-in redesign (issue 17).

    .venv/bin/python benchmarks/forge_coupling.py [--before 41ef314] [--forge gitlab]

Two figures, for a reference commit (``--before``, default the last commit before the
redesign) and for the working tree, in the same run:

- **files a forge is named in**: the files under ``src/forgelens`` outside the forge's own
  modules (``sources/<forge>/``) and the simulator (``testing/forge_sim``) whose code (names
  and string literals, not comments, docstrings or file names like ``.gitlab-ci.yml``) names
  the forge (``--forge``, default gitlab, standing in for a new
  one) -- what adding a forge has to touch;
- **import circles between packages**: the strongly connected components of the import graph
  (grimp, TYPE_CHECKING imports included) that span more than one package
  (``forgelens.<package>``), with the number of modules in them.

Prints both and writes benchmarks/results/forge_coupling.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "forge_coupling.json"
BEFORE = "41ef314"  # main before "Forges as plug-ins, step 1"


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def circles(src: Path) -> dict[str, Any]:
    """Cross-package import circles of the tree under ``src`` (run with it on sys.path)."""
    import grimp

    graph = grimp.build_graph("forgelens", exclude_type_checking_imports=False)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    comps = _scc(edges)
    crossing = [c for c in comps if len({package_of(m) for m in c}) > 1]
    pkg_edges: dict[str, set[str]] = defaultdict(set)
    for m, targets in edges.items():
        for t in targets:
            if package_of(m) != package_of(t):
                pkg_edges[package_of(m)].add(package_of(t))
    pkg_comps = [c for c in _scc({k: sorted(v) for k, v in pkg_edges.items()}) if len(c) > 1]
    return {
        "modules": len(edges),
        "module_circles_across_packages": [
            {"modules": len(c), "packages": sorted({package_of(m) for m in c})} for c in crossing
        ],
        "modules_in_cross_package_circles": sum(len(c) for c in crossing),
        "package_circles": [sorted(c) for c in pkg_comps],
    }


def _scc(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges.get(root, [])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, []))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _names(text: str, word: str) -> bool:
    """``word`` in ``text``, not as part of a file name (``.gitlab-ci.yml`` names no forge)."""
    return re.search(rf"(?<!\.){re.escape(word)}", text) is not None


def _code_mentions(path: Path, word: str) -> bool:
    """Whether ``path``'s names or non-docstring string literals contain ``word``."""
    previous = tokenize.NEWLINE
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return word in path.read_text(errors="replace").lower()
    for tok in tokens:
        text = tok.string.lower()
        if tok.type == tokenize.NAME and word in text:
            return True
        docstring = previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        if tok.type == tokenize.STRING and not docstring and _names(text, word):
            return True
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.type
    return False


def forge_files(src: Path, forge: str) -> list[str]:
    """Files outside ``forge``'s own modules and the simulator whose code names it."""
    pkg = src / "forgelens"
    found = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        module = forge.replace("-", "_")
        own = rel.startswith(f"sources/{module}/") or Path(rel).stem.strip("_") in (
            module,
            f"{module}_map",
        )
        if own or rel.startswith("testing/forge_sim/"):
            continue
        if _code_mentions(path, forge):
            found.append(rel)
    return found


def measure(src: Path, forge: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from forge_coupling import circles; from pathlib import Path; "
        "print(json.dumps(circles(Path(sys.argv[2]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(src)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    ).stdout
    files = forge_files(src, forge)
    return {"forge_files": files, "forge_file_count": len(files), **json.loads(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default=BEFORE, help="reference commit (default %(default)s)")
    ap.add_argument("--forge", default="gitlab", help="forge standing in for a new one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.before, "src"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        before = measure(Path(tmp) / "src", args.forge)
    after = measure(ROOT / "src", args.forge)
    result = {"before_ref": args.before, "forge": args.forge, "before": before, "after": after}
    for label, r in (("before " + args.before, before), ("after (working tree)", after)):
        print(f"{label}:")
        print(f"  files outside its package naming {args.forge}: {r['forge_file_count']}")
        for f in r["forge_files"]:
            print(f"    {f}")
        print(f"  package circles: {r['package_circles'] or 'none'}")
        print(
            f"  modules in cross-package circles: {r['modules_in_cross_package_circles']} "
            f"of {r['modules']}"
        )
    ratio = after["forge_file_count"] / max(1, before["forge_file_count"])
    print(f"files to touch, after / before: {ratio:.2f}")
    result["forge_files_ratio"] = round(ratio, 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
