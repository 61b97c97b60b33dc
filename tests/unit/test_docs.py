"""User docs speak to users: no working notes, no references to files that are not in the
repository, and the names they give the demo's buttons are the page's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
NOTES = re.compile(
    r"this session|session \d|another engineer|### For docs/|shared/reference|/work/|anchor scripts",
    re.IGNORECASE,
)
# A file name ending in .md (URLs are taken out first: they may name any file).
MD_REFERENCE = re.compile(r"(?<![\w/.-])([A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b")
URL = re.compile(r"https?://\S+")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_working_notes(doc: Path) -> None:
    found = [m.group(0) for m in NOTES.finditer(doc.read_text())]
    assert not found, f"{doc.name}: {found}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_document_referred_to_is_in_the_repository(doc: Path) -> None:
    missing = []
    for name in MD_REFERENCE.findall(URL.sub("", doc.read_text())):
        candidates = [ROOT / name, doc.parent / name, ROOT / "docs" / name]
        if not any(c.is_file() for c in candidates):
            missing.append(name)
    assert not missing, f"{doc.name} refers to {missing}"


def test_docs_name_the_demo_buttons_as_the_page_does() -> None:
    page = (ROOT / "src/telex/web/static/demo/index.html").read_text()
    label = re.search(r'id="new-call"[^>]*>([^<]+)<', page)
    assert label is not None
    readme = (ROOT / "README.md").read_text()
    assert f'"{label.group(1)}"' in readme
    assert '"New call"' not in readme


def test_the_browser_sdk_docs_name_the_event_the_sdk_emits() -> None:
    sdk = (ROOT / "src/telex/web/static/sdk/call.js").read_text()
    emitted = re.search(r'case "callDataChannelOpened":\s*\n\s*if \([^)]*\) this\.emit\("(\w+)"', sdk)
    assert emitted is not None
    browser_sdk = (ROOT / "docs/browser-sdk.md").read_text()
    assert f"`{emitted.group(1)}`" in browser_sdk and "`callDataChannelOpened`" in browser_sdk


def test_the_readme_says_what_telex_does_not_do_yet() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## What Telex does and does not do yet" in readme
