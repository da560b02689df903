"""MkDocs hook: the docs pages take their reference text from README.md.

README.md stays the one place the detail is written, so the site never drifts from
it. A page includes the body of a README section (the text under its heading, up to
the next heading of any level) with a line of its own:

    <!-- readme: Stores -->
    <!-- readme: Long conversations | until: **Prompt caching.** -->
    <!-- readme: Long conversations | from: **Prompt caching.** -->

``until:`` stops before the first line starting with the text, ``from:`` starts at
it. A heading that is not in README.md fails the build. The line
``<!-- readme: the rest -->`` includes, with their headings, the README sections no
page includes, so a section added to README.md is on the site at once.

Links from README.md to files outside ``docs/`` (``examples/quickstart.py``) become
code spans: they are not pages of the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(
    r"^<!-- readme: (?P<title>.+?)(?: \| (?P<mode>until|from): (?P<mark>.+?))? -->$",
    re.M,
)
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
FILE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|#)([^)]+)\)")
REST = "the rest"
#: The title section: the home page has it.
NOT_INCLUDED = {"conversa"}


def _sections(text: str) -> dict[str, tuple[int, list[str]]]:
    """Each README heading: (its level, the lines of its body)."""
    sections: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        match = None if fence else HEADING.match(line)
        if match:
            current = []
            sections[match.group(2)] = (len(match.group(1)), current)
        elif current is not None:
            current.append(line)
    return sections


def _body(lines: list[str], mode: str | None, mark: str | None) -> str:
    if mode is not None and mark is not None:
        at = next((i for i, line in enumerate(lines) if line.startswith(mark)), None)
        if at is None:
            msg = f"README.md: no line starts with {mark!r}"
            raise ValueError(msg)
        lines = lines[:at] if mode == "until" else lines[at:]
    body = "\n".join(lines).strip("\n")
    return FILE_LINK.sub(lambda m: _link(m.group(1), m.group(2)), body)


def _link(label: str, target: str) -> str:
    if target.endswith(".md") and (ROOT / "docs" / target).is_file():
        return f"[{label}]({target})"
    return label if label.startswith("`") else f"`{label}`"


def _included(docs_dir: Path) -> set[str]:
    titles: set[str] = set()
    for page in docs_dir.rglob("*.md"):
        titles.update(
            m.group("title") for m in DIRECTIVE.finditer(page.read_text("utf-8"))
        )
    return titles


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- readme: ... -->`` line with the README text it names."""
    if "<!-- readme: " not in markdown:
        return markdown
    sections = _sections((ROOT / "README.md").read_text("utf-8"))

    def include(match: re.Match[str]) -> str:
        title = match.group("title")
        if title == REST:
            return _rest(sections, _included(Path(config["docs_dir"])))
        if title not in sections:
            msg = f"{page.file.src_path}: README.md has no section {title!r}"
            raise ValueError(msg)
        return _body(sections[title][1], match.group("mode"), match.group("mark"))

    return DIRECTIVE.sub(include, markdown)


def _rest(sections: dict[str, tuple[int, list[str]]], included: set[str]) -> str:
    parts = [
        f"## {title}\n\n{_body(lines, None, None)}"
        for title, (_, lines) in sections.items()
        if title not in included
        and title not in NOT_INCLUDED
        and _body(lines, None, None)
    ]
    return "\n\n".join(parts) if parts else "Every section of the README has its page."
