"""The protocol references in docs/protocols/ are the only ones the code may cite, and every
``docs/protocols/<page>.md §N.N`` citation names a section that exists.

A clone has nothing outside the repository, so a path into a sibling folder (``../shared``) or a
bare ``specs/<page>.md`` is a dead link for every reader. Section numbers are checked against the
headings of the page (``## 2.``, ``### 2.2``, ``#### 1.10.5``), so renumbering a section without
updating the comments that cite it fails here.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "protocols"
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()
PAGES = ("portal-protocol", "radius", "sms", "captive-clients")
_PAGE = "|".join(PAGES)

# Citations that point outside the repository, or at a page without its docs/protocols/ folder.
DEAD_REFERENCES = (
    (re.compile(r"\.\./shared\b|\bshared/specs\b"), "a path outside the repository"),
    (re.compile(r"(?<!docs/protocols/)(?<![\w.-])specs/[\w.-]+\.md"), "a specs/ path"),
    (re.compile(rf"(?<![\w/.-])(?:{_PAGE})(?:\.md\b|\s+§)"), "a page name without docs/protocols/"),
)

# The mechanical fix for old citations (also in the commit that introduced docs/protocols/).
FIX_COMMAND = (
    "git grep -lzE '(\\.\\./)?(shared/)?specs/(PAGES)\\.md|[Ss]pecs? (PAGES)\\.md"
    "|(^|[^/[:alnum:]_.-])(PAGES)(\\.md| §)' -- . ':!docs/protocols' ':!tests/test_docs.py' "
    "| xargs -0 -r sed -i -E "
    "-e 's#(\\.\\./)?(shared/)?specs/(PAGES)\\.md#docs/protocols/\\3.md#g' "
    "-e 's#[Ss]pecs? (PAGES)\\.md#docs/protocols/\\1.md#g' "
    "-e 's#(^|[^/[:alnum:]_.-])(PAGES)\\.md#\\1docs/protocols/\\2.md#g' "
    "-e 's#(^|[^/[:alnum:]_.-])(PAGES) §#\\1docs/protocols/\\2.md §#g'"
).replace("PAGES", _PAGE)

# "docs/protocols/sms.md §1.3, §1.4", "``docs/protocols/radius.md`` §2.1, §5", "… §3.5–3.6".
_NUMBER = r"\d+(?:\.\d+)*"
_REF = rf"§\s*{_NUMBER}(?:\s*[–-]\s*{_NUMBER})?"
CITATION = re.compile(
    rf"docs/protocols/(?P<page>[\w.-]+)\.md[`'\"]*\s*(?P<refs>{_REF}(?:\s*(?:,|;|/|and|or)?\s*{_REF})*)"
)
HEADING = re.compile(rf"^#{{1,6}}\s+(?P<number>{_NUMBER})\.?\s+\S")


@dataclass(frozen=True)
class Citation:
    path: str
    line: int
    page: str
    section: str


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [name for name in out.stdout.decode().split("\0") if name and name != THIS_FILE]


def read_text(name: str) -> str | None:
    path = ROOT / name
    if not path.is_file():          # deleted in the work tree, not yet committed
        return None
    return path.read_bytes().decode("utf-8", errors="replace")


def section_numbers(markdown: str) -> list[str]:
    """Section numbers of the page's headings, in order; fenced code blocks are skipped."""
    numbers: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            numbers.append(match["number"])
    return numbers


def citations(name: str, text: str) -> list[Citation]:
    found = []
    for match in CITATION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        for number in re.findall(_NUMBER, match["refs"]):
            found.append(Citation(name, line, match["page"], number))
    return found


def test_citation_parser_reads_lists_ranges_and_quoted_paths() -> None:
    text = (
        "Layout (``docs/protocols/portal-protocol.md`` §1.1):\n"
        "(docs/protocols/sms.md §3.5–3.6) and docs/protocols/radius.md §2.1, §5 but RFC 5080 §2.2.2\n"
        "docs/protocols/portal-protocol.md §1.2, §1.5 and §1.10.5 (spec §9 is not bound to a page)\n"
    )
    got = [(c.line, c.page, c.section) for c in citations("x.py", text)]
    assert got == [
        (1, "portal-protocol", "1.1"),
        (2, "sms", "3.5"), (2, "sms", "3.6"),
        (2, "radius", "2.1"), (2, "radius", "5"),
        (3, "portal-protocol", "1.2"), (3, "portal-protocol", "1.5"), (3, "portal-protocol", "1.10.5"),
    ]
    assert section_numbers("## 1. A\n```\n# 2 not a heading\n```\n### 1.10.5 B\n#### x\n") == ["1", "1.10.5"]


def test_dead_reference_patterns() -> None:
    def dead(text: str) -> bool:
        return any(pattern.search(text) for pattern, _ in DEAD_REFERENCES)

    for text in ("see ../shared/ARCHITECTURE.md", "(specs/radius.md §2.2)", "``specs/sms.md`` §1",
                 "(spec sms.md §1.4)", "(sms.md §1.2)", "(captive-clients §2.6)"):
        assert dead(text), text
    for text in ("(docs/protocols/radius.md §2.2)", "``docs/protocols/sms.md`` §1", "radius/dialects.py",
                 "a shared secret", "sms_gateway/data/segments.toml", "RFC 5080 §2.2.2"):
        assert not dead(text), text


def test_no_citation_points_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        # The pages link each other by file name; in them only paths outside the repo are dead.
        patterns = DEAD_REFERENCES[:2] if name.startswith("docs/protocols/") else DEAD_REFERENCES
        text = read_text(name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for pattern, what in patterns:
                if match := pattern.search(line):
                    offenders.append(f"{name}:{number}: {what}: {match.group(0)!r}")
    assert not offenders, (
        "citations that do not resolve in a clone (cite RFCs, vendor documents or docs/...):\n  "
        + "\n  ".join(offenders)
        + f"\nOld specs/<page>.md citations are fixed mechanically by:\n  {FIX_COMMAND}"
    )


def test_protocol_pages_have_unique_section_numbers() -> None:
    for page in PAGES:
        numbers = section_numbers((DOCS / f"{page}.md").read_text(encoding="utf-8"))
        assert numbers, f"docs/protocols/{page}.md has no numbered sections"
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        assert not duplicates, f"docs/protocols/{page}.md numbers these sections twice: {duplicates}"


def test_every_protocol_page_is_described_in_the_index() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.stem for p in DOCS.glob("*.md") if p.name != "README.md")
    assert set(PAGES) <= set(pages)
    for page in pages:
        assert f"]({page}.md)" in index, f"docs/protocols/README.md does not describe {page}.md"


def test_every_cited_section_exists() -> None:
    sections = {
        page: set(section_numbers((DOCS / f"{page}.md").read_text(encoding="utf-8"))) for page in PAGES
    }
    found: list[Citation] = []
    for name in tracked_files():
        text = read_text(name)
        if text is not None and "docs/protocols/" in text:
            found += citations(name, text)
    assert found, "nothing cites docs/protocols/<page>.md §N: is the citation pattern still right?"
    broken = [
        f"{c.path}:{c.line}: docs/protocols/{c.page}.md §{c.section}"
        + ("" if c.page in sections else " (no such page)")
        for c in found
        if c.section not in sections.get(c.page, ())
    ]
    assert not broken, "citations of sections that do not exist:\n  " + "\n  ".join(broken)
