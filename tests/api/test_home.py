"""``/`` without the demo is a small page about the server (not a JSON 404), and ``--version``."""

from __future__ import annotations

import subprocess
import sys

import httpx

from telex import __version__
from telex.app import Node, build_app


async def test_the_root_says_what_this_server_is(node: Node) -> None:
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        r = await http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for needle in (f"Telex {__version__}", 'href="/openapi.json"', "telex serve --demo", "/sdk/telex.js"):
        assert needle in r.text
    assert "<script" not in r.text


def test_version_flag() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "telex", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"telex {__version__}"


def test_the_package_version_is_the_project_version() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
