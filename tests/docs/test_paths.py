"""Every repository path a document or a docstring names exists.

Covers: docs/*.md, README.md, CHANGELOG.md, bench/*.md and every README under deploy/, and the docstrings of
every module,
class and function of the packages, bench/, compare/ and tests/. A path is a token that starts with
one of the repository's top-level folders (``shared/``, ``docs/``, ``deploy/`` ...); in Markdown, a link
target is resolved from the document's folder as well. ``*`` and ``<placeholder>`` segments are
globs that must match something; ``{a,b}`` names each alternative. Generated files that .gitignore
lists (a chart, a build) count as present. What looks like a path but is not one (kubectl's
``deploy/<name>``, Kubernetes subresources such as ``services/proxy``) is listed below, by name.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = (
    "shared",
    "services",
    "sim",
    "kubefedctl",
    "kubefed",
    "bench",
    "compare",
    "deploy",
    "docs",
    "tests",
    "hack",
)
# a top-level folder at a word start (not inside a URL, another path or a shell variable)
PATH = re.compile(r"(?<![\w./~$@:-])((?:" + "|".join(TOP) + r")/[\w./*{}<>,-]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# tokens of the form above that name something else than a file of this repository
NOT_PATHS = {
    "services/proxy",  # Kubernetes subresource (docs/simulator.md)
    "deploy/kubefed-watcher",  # kubectl's deploy/<name> (docs/deploy.md)
    "deploy/web",  # kubectl's deploy/<name> (docs/simulator.md)
}
PACKAGES = ("shared", "services", "sim", "kubefedctl", "kubefed", "bench", "compare", "tests")


def _documents() -> list[Path]:
    docs = [
        *ROOT.glob("docs/*.md"),
        ROOT / "README.md",
        *ROOT.glob("deploy/**/README*"),
        *ROOT.glob("bench/*.md"),
    ]
    if (ROOT / "CHANGELOG.md").exists():
        docs.append(ROOT / "CHANGELOG.md")
    return sorted(docs)


def _docstrings(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc


def _tokens(text: str) -> Iterator[str]:
    for match in PATH.finditer(text):
        token = match.group(1).rstrip(".,:;")
        if token not in NOT_PATHS:
            yield token


def _alternatives(token: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end() :]
    return [alt for part in match.group(1).split(",") for alt in _alternatives(head + part + tail)]


def _ignored(relative: str) -> bool:
    proc = subprocess.run(["git", "check-ignore", "-q", relative], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


def _exists(base: Path, token: str) -> bool:
    for alt in _alternatives(token):
        pattern = re.sub(r"<[^<>/]*>", "*", alt).rstrip("/")
        if "*" in pattern:
            if not any(base.glob(pattern)):
                return False
        elif not (base / pattern).exists() and not _ignored(str((base / pattern).relative_to(ROOT))):
            return False
    return True


def _missing_in(text: str, where: Path) -> list[str]:
    missing = [t for t in _tokens(text) if not _exists(ROOT, t)]
    if where.suffix == ".md":
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            base = where.parent
            if not (base / target).resolve().exists():
                missing.append(target)
    return missing


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_named_in_documents_exist(doc: Path) -> None:
    assert _missing_in(doc.read_text(), doc) == []


def test_paths_named_in_docstrings_exist() -> None:
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "results" in path.parts:
                continue
            for doc in _docstrings(path):
                missing += [f"{path.relative_to(ROOT)}: {t}" for t in _missing_in(doc, path)]
    assert missing == []


def test_the_path_finder_finds_paths_and_only_paths() -> None:
    """The checks above cannot pass by finding nothing."""
    text = (
        "see `shared/kubefed_api.py`, docs/{cli,deploy}.md, hack/realk8s/<family>/ and https://x.io/docs/a.md"
    )
    assert list(_tokens(text)) == ["shared/kubefed_api.py", "docs/{cli,deploy}.md", "hack/realk8s/<family>/"]
    assert all(_exists(ROOT, t) for t in _tokens(text))
    assert not _exists(ROOT, "docs/{cli,nothing-here}.md")
    assert not _exists(ROOT, "shared/nothing-here/<name>.py")
    assert _missing_in("[a](architecture.md) [b](nothing.md)", ROOT / "docs" / "x.md") == ["nothing.md"]
