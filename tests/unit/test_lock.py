"""The locks (requirements/*.lock) agree with pyproject.toml: the suite installs from them alone,
so a dependency added or changed in pyproject.toml without ``scripts/lock`` must fail here."""

from __future__ import annotations

import re
import runpy
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", re.MULTILINE)


def _pins(lock: Path) -> dict[str, str]:
    return {_norm(name): version for name, version in _PIN.findall(lock.read_text())}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("lock", ["serve", "test"])
def test_lock_was_made_from_this_pyproject(lock: str) -> None:
    digest = runpy.run_path(str(ROOT / "scripts" / "lock_digest.py"))["digest"](ROOT / "pyproject.toml")
    first = (ROOT / "requirements" / f"{lock}.lock").read_text().splitlines()[0]
    assert first == f"# pyproject-dependencies-digest: {digest}", "pyproject.toml changed: run scripts/lock"


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("serve", ["dependencies"]), ("test", ["dependencies", "test"])],
)
def test_every_requirement_is_pinned_to_a_version_it_allows(lock: str, groups: list[str]) -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    wanted = list(project["dependencies"])
    for group in groups[1:]:
        wanted += project["optional-dependencies"][group]
    pins = _pins(ROOT / "requirements" / f"{lock}.lock")
    for text in wanted:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(_norm(req.name))
        assert version is not None, f"{req.name} is not in {lock}.lock"
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} vs {req}"


def test_every_pin_has_hashes() -> None:
    for lock in ("serve", "test"):
        text = (ROOT / "requirements" / f"{lock}.lock").read_text()
        for block in re.split(r"\n(?=[A-Za-z0-9])", text):
            if _PIN.match(block):
                assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_server_lock_is_the_test_lock_restricted() -> None:
    serve, test = _pins(ROOT / "requirements" / "serve.lock"), _pins(ROOT / "requirements" / "test.lock")
    assert {name: test.get(name) for name in serve} == serve
