"""The docs site builds offline under --strict and documents the whole public API.

`mkdocs build --strict` fails on any warning: a broken link, a cross-reference that
finds nothing, a docstring griffe cannot match to its signature. The build needs
nothing from the network (no inventories, no remote plugins, no web fonts).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import conversa
import conversa.integrations.langchain
import conversa.integrations.pydantic_ai
import conversa.testing

ROOT = Path(__file__).resolve().parent.parent
#: A file a docstring or comment names: `README.md`, `docs: concepts/stores.md`...
CITED = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")


@pytest.fixture(name="site", scope="module")
def _site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built with --strict into a temporary folder."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and config
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return site


def _anchors(page: Path) -> set[str]:
    return set(re.findall(r'id="([\w.]+)"', page.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("package", "page"),
    [
        (conversa, "reference/conversa"),
        (conversa.testing, "reference/testing"),
        (conversa.integrations.langchain, "reference/integrations"),
        (conversa.integrations.pydantic_ai, "reference/integrations"),
    ],
    ids=["conversa", "conversa.testing", "langchain", "pydantic_ai"],
)
def test_reference_documents_every_public_name(
    site: Path, package: object, page: str
) -> None:
    """Each name in `__all__` has its entry on the package's API reference page."""
    anchors = _anchors(site / page / "index.html")
    prefix = getattr(package, "__name__", "")
    missing = [
        n for n in getattr(package, "__all__", []) if f"{prefix}.{n}" not in anchors
    ]
    # A constant or alias without a docstring is not rendered: give it one, or list
    # it under the page's "Constants" heading (docs/reference/*.md).
    assert missing == []


def test_site_fetches_nothing(site: Path) -> None:
    """No page loads a font, script or stylesheet from another host."""
    remote = re.compile(r"""<(?:link|script)[^>]+(?:href|src)=["']https?://""")
    pages = [p for p in site.rglob("*.html") if remote.search(p.read_text("utf-8"))]
    assert pages == []


def test_sources_cite_only_files_that_exist() -> None:
    """Docstrings and comments name only Markdown files the repository has."""
    cited = [
        (path, name)
        for path in sorted((ROOT / "conversa").rglob("*.py"))
        for name in CITED.findall(path.read_text(encoding="utf-8"))
    ]
    assert cited, "the pattern finds the citations"
    missing = [
        f"{path.relative_to(ROOT)}: {name}"
        for path, name in cited
        if not any((base / name).is_file() for base in (ROOT, ROOT / "docs"))
    ]
    assert missing == []


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "docs_hooks", ROOT / "docs" / "hooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page(markdown: str, tmp_path: Path) -> str:
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_path="page.md"))
    (tmp_path / "page.md").write_text(markdown, encoding="utf-8")
    config = {"docs_dir": str(tmp_path)}
    return str(_hooks().on_page_markdown(markdown, page, config, None))


def test_a_page_includes_a_readme_section(tmp_path: Path) -> None:
    """The directive becomes the section's body, README links to files as code."""
    install = _page("# I\n\n<!-- readme: Install -->\n", tmp_path)
    assert "pip install conversa-state" in install
    assert "<!-- readme" not in install
    examples = _page("<!-- readme: Examples -->", tmp_path)
    assert "`quickstart.py`" in examples
    assert "](examples/" not in examples


def test_until_and_from_split_a_section(tmp_path: Path) -> None:
    """`until:` keeps what comes before the marker line, `from:` the rest."""
    mark = "**Prompt caching.**"
    before = _page(f"<!-- readme: Long conversations | until: {mark} -->", tmp_path)
    after = _page(f"<!-- readme: Long conversations | from: {mark} -->", tmp_path)
    assert mark not in before
    assert after.startswith(mark)


def test_an_unknown_section_fails_the_build(tmp_path: Path) -> None:
    """A page naming a section README.md does not have is an error, not an empty page."""
    with pytest.raises(ValueError, match="no section 'Nope'"):
        _page("<!-- readme: Nope -->", tmp_path)


def test_the_rest_holds_what_no_page_includes(tmp_path: Path) -> None:
    """Sections no page names are gathered, with their headings, by `the rest`."""
    rest = _page("<!-- readme: Install -->\n\n<!-- readme: the rest -->", tmp_path)
    assert "## Stores" in rest
    assert "## Install\n" not in rest


def test_sources_cite_no_sections_of_missing_files() -> None:
    """No `§N` reference is left: they pointed into notes outside the repository."""
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "conversa").rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if "§" in line
    ]
    assert found == []
