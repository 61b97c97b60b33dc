"""What ``pip install telex`` gives: a wheel built from this repository holds the server, the
browser SDK and the demo; installed into a clean virtual environment beside exactly the packages
of requirements/serve.lock, ``telex serve`` runs from it, and so does the Python SDK with its
calling client (aiortc is a dependency: the server's Call Automation media needs it too).

The suite runs offline (scripts/netns-run), so the clean environment gets its dependencies from
the test environment: only the distributions serve.lock pins are linked into a directory the
clean environment reads (a ``.pth`` line), so a runtime dependency missing from the wheel's
metadata or from serve.lock fails here as it would on a fresh machine."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from telex.turn.native import native_available
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources (a build writes egg-info and build/ where it runs)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out), str(src)],
        check=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("telex-*.whl")
    return built


def _serve_lock_names() -> list[str]:
    return re.findall(
        r"^([A-Za-z0-9._-]+)==", (ROOT / "requirements" / "serve.lock").read_text(), re.MULTILINE
    )


def _link_dependencies(target: Path) -> None:
    """Link the installed files of serve.lock's distributions (and only those) into ``target``."""
    target.mkdir()
    for name in _serve_lock_names():
        dist = importlib.metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if top.endswith(".pth") or (target / top).exists():
                continue
            (target / top).symlink_to(base / top)


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    env_dir = home / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    deps = home / "deps"
    _link_dependencies(deps)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "telex-test-dependencies.pth").write_text(f"{deps}\n")
    return env_dir


def _files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_the_wheel_holds_the_server_the_browser_sdk_and_the_demo(wheel: Path) -> None:
    files = _files(wheel)
    sdk = {p.name for p in (ROOT / "src/telex/web/static/sdk").iterdir()}
    demo = {p.name for p in (ROOT / "src/telex/web/static/demo").iterdir()}
    migrations = {p.name for p in (ROOT / "src/telex/store/migrations/versions").glob("*.py")}
    assert {f"telex/web/static/sdk/{n}" for n in sdk} <= files
    assert {f"telex/web/static/demo/{n}" for n in demo} <= files
    assert {f"telex/store/migrations/versions/{n}" for n in migrations} <= files
    assert {"telex/py.typed", "telex/cli.py", "telex/client/calling.py"} <= files
    assert not any(f.startswith("tests/") for f in files)
    # The TURN relay's native data path is compiled into the wheel where a compiler exists (as
    # here, since the checkout's own install built it).
    if native_available():
        assert any(f.startswith("telex/turn/_native.") and f.endswith(".so") for f in files), files


def test_webrtc_media_is_a_dependency_and_tests_are_not(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist") or []
    plain = [r for r in requires if "extra ==" not in r]
    for package in ("aiortc", "aioice"):
        assert any(r.startswith(package) for r in plain), plain
    assert not any(r.startswith(("pytest", "playwright", "azure-")) for r in plain)


def _run(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_dir / "bin" / args[0]), *args[1:]], capture_output=True, text=True, timeout=120, check=False
    )


def test_telex_serve_runs_from_the_wheel(clean_venv: Path, tmp_path: Path) -> None:
    where = _run(clean_venv, "python", "-c", "import telex; print(telex.__file__)")
    assert where.stdout.strip().startswith(str(clean_venv)), where  # the wheel's copy, not the checkout
    version = _run(clean_venv, "telex", "--version")
    assert version.returncode == 0 and version.stdout.startswith("telex "), version
    port, tls_port, turn_port, turns_port = free_port(), free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [str(clean_venv / "bin" / "telex"), "serve", "--data-dir", str(tmp_path / "data"), "--demo",
         "--port", str(port), "--tls-port", str(tls_port), "--turn-port", str(turn_port),
         "--turns-port", str(turns_port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in _lines(proc.stdout):
            if "connection string:" in line:
                break
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/readyz").status_code == 200
            for path in ("/sdk/telex.js", "/sdk/telex.d.ts", "/", "/demo.js", "/demo.css"):
                assert http.get(path).status_code == 200, path
    finally:
        proc.terminate()
        proc.wait(30)


def _lines(stream: object) -> Iterator[str]:
    for _ in range(50):
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            raise AssertionError("telex serve exited before printing its connection string")
        yield line
    raise AssertionError("no connection string in the banner")


def test_the_python_sdk_and_its_calling_client_import_from_the_wheel(clean_venv: Path) -> None:
    native = ("telex.turn._native",) if native_available() else ()
    for module in ("telex.client", "telex.client.calling", "telex.bots", *native):
        done = _run(clean_venv, "python", "-c", f"import {module}")
        assert done.returncode == 0, (module, done.stderr)
