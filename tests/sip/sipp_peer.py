"""sipp (Debian's sip-tester) as the carrier: run one scenario from tests/sip/sipp against a UA on
loopback. sipp runs with a hard wall-clock bound (``timeout``) because its own -timeout does not
always end a scenario stuck in a recv (shared/reference sip.md §2.2)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "sipp"
PCAPS = Path("/usr/share/sip-tester")
LOOP = "127.0.0.1"


def require_sipp() -> str:
    path = shutil.which("sipp")
    if path is None or not PCAPS.is_dir():
        if os.environ.get("CI"):
            pytest.fail("sipp is required in CI (scripts/apt-packages.txt: sip-tester)")
        pytest.skip("sipp (sip-tester) is not installed")
    return path


def free_port(kind: int = socket.SOCK_DGRAM, even: bool = False) -> int:
    """A free loopback port. With ``even``, an even port whose next three are free too: sipp binds
    its audio RTP/RTCP pair there and a video pair two above (``-mp``)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((LOOP, 0))
            port = int(s.getsockname()[1])
        if not even:
            return port
        if port % 2 or port > 65000:
            continue
        try:
            held = []
            for offset in (1, 2, 3):
                sock = socket.socket(socket.AF_INET, kind)
                held.append(sock)
                sock.bind((LOOP, port + offset))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise OSError("no free port")


@dataclass
class SippRun:
    returncode: int
    output: str
    logs: str


async def run_sipp(
    scenario: str,
    *,
    cwd: Path,
    uac_target: str | None = None,
    sip_port: int,
    media_port: int | None = None,
    extra: list[str] | None = None,
    limit: float = 30.0,
) -> SippRun:
    """Run ``scenario`` once (-m 1) and return its exit code (0: the call passed)."""
    sipp = require_sipp()
    args = [
        "timeout", "-k", "2", str(int(limit)), sipp,
        "-sf", str(SCENARIOS / scenario),
        "-i", LOOP, "-p", str(sip_port), "-mi", LOOP,
        "-m", "1", "-nostdin", "-timeout", f"{int(limit) - 5}s", "-timeout_error",
        "-trace_err", "-trace_msg", "-message_file", "messages.log", "-error_file", "errors.log",
    ]  # fmt: skip
    if media_port is not None:
        args += ["-mp", str(media_port)]
    args += extra or []
    if uac_target is not None:
        args.append(uac_target)
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    logs = ""
    for name in ("errors.log", "messages.log"):
        path = cwd / name
        if path.exists():
            logs += f"--- {name}\n" + path.read_text(errors="replace")[-6000:]
    assert proc.returncode is not None
    return SippRun(proc.returncode, out.decode(errors="replace")[-3000:], logs)


async def wait_bound(port: int, limit: float = 5.0) -> None:
    """Until something (sipp) has bound UDP ``port`` on loopback."""
    async with asyncio.timeout(limit):
        while True:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((LOOP, port))
            except OSError:
                return
            await asyncio.sleep(0.02)
