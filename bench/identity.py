"""Token issue and verify through the HTTP API, against the bare crypto cost of the same work.

    python bench/identity.py [--n 2000] [--concurrency 8]

Starts a real ``telex serve`` (SQLite, a temp data dir), then measures with an httpx client:
  issue   POST /identities/{id}/:issueAccessToken        (HMAC-signed, ES256 sign + store read)
  verify  POST /networkTraversal/:issueRelayConfiguration (Bearer: full verification, N distinct
          tokens so every request misses the verifier's per-token cache)
  cached  the same route with one token (the verifier's cache hit path)
  floor   GET /healthz (the HTTP stack alone)
and reports ops/s, latency p50/p99, and the server's CPU per operation (from /proc) divided by the
bare PyJWT/cryptography cost of the same sign or verify in this process: "how much the server adds".
The machine is shared and noisy: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.apiversions import async_hooks
from tests.support.live import LiveServer
from tests.support.procs import cpu_seconds
from tests.support.signing import HmacSigner

from telex.core.ids import ResourceId, new_user_id
from telex.identity.keyring import new_signing_key
from telex.identity.scopes import Scope
from telex.identity.tokens import TokenFormat, decode_token, issue_token


def bare_crypto(n: int) -> tuple[float, float]:
    """µs per ES256 token issue and verify, in this process, without any server."""
    now = time.time()
    fmt = TokenFormat(ResourceId(str(uuid.uuid4())), "local")
    key = new_signing_key(now)
    users = [new_user_id(fmt.resource_id) for _ in range(n)]
    scopes = frozenset({Scope.VOIP})
    t = time.perf_counter()
    tokens = [issue_token(fmt, key, u, scopes, 0, now, 3600).token for u in users]
    sign = (time.perf_counter() - t) / n * 1e6
    keys = {key.kid: key}
    t = time.perf_counter()
    for tok in tokens:
        decode_token(tok, fmt, keys, now, 30)
    verify = (time.perf_counter() - t) / n * 1e6
    return sign, verify


async def run_phase(
    server: LiveServer,
    name: str,
    requests: list[tuple[str, str, dict[str, str], bytes]],
    concurrency: int,
    auth: httpx.Auth | None,
) -> dict[str, float]:
    assert server.proc is not None
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, str, dict[str, str], bytes]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        event_hooks=async_hooks(), base_url=server.http_url, auth=auth, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                method, path, headers, body = queue.get_nowait()
                t = time.perf_counter()
                r = await client.request(method, path, headers=headers, content=body)
                latencies.append(time.perf_counter() - t)
                if r.status_code >= 300:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text}")

        cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
    latencies.sort()
    n = len(latencies)
    return {
        "ops_s": n / wall,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3,
        "cpu_us": cpu / n * 1e6,
    }


async def main(n: int, concurrency: int) -> None:
    sign_us, verify_us = bare_crypto(n)
    # The bench measures throughput, far above ACS's 1,000 per 30 s: lift those limits.
    env = {"TELEX_IDENTITY__ISSUE_PER_30S": "0", "TELEX_IDENTITY__REVOKE_PER_30S": "0"}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "data", env=env) as server:
        signer = HmacSigner(base64.b64decode(server.access_key))
        json_headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), base_url=server.http_url, auth=signer
        ) as admin:
            user = (await admin.post("/identities")).json()["identity"]["id"]
            tokens = []
            for _ in range(n):
                r = await admin.post("/identities", json={"createTokenWithScopes": ["voip"]})
                tokens.append(r.json()["accessToken"]["token"])
        relay = "/networkTraversal/:issueRelayConfiguration"
        issue_body = b'{"scopes": ["chat", "voip"], "expiresInMinutes": 60}'
        phases = {
            "floor": (await run_phase(server, "floor", [("GET", "/healthz", {}, b"")] * n, concurrency, None), None),
            "issue": (
                await run_phase(
                    server, "issue",
                    [("POST", f"/identities/{user}/:issueAccessToken", json_headers, issue_body)] * n,
                    concurrency, signer,
                ),
                sign_us,
            ),
            "verify": (
                await run_phase(
                    server, "verify",
                    [("POST", relay, {"authorization": f"Bearer {t}"}, b"") for t in tokens],
                    concurrency, None,
                ),
                verify_us,
            ),
            "cached": (
                await run_phase(
                    server, "cached", [("POST", relay, {"authorization": f"Bearer {tokens[0]}"}, b"")] * n,
                    concurrency, None,
                ),
                verify_us,
            ),
        }  # fmt: skip
    print(f"bare crypto (PyJWT ES256, this process): sign {sign_us:.0f} µs, verify {verify_us:.0f} µs")
    print(f"HTTP API through telex serve, n={n}, concurrency={concurrency} (client and server share 2 cores)")
    print(
        f"{'phase':<8} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server CPU µs/op':>17} {'÷ bare crypto':>14}"
    )
    for name, (m, bare) in phases.items():
        ratio = f"{m['cpu_us'] / bare:.1f}x" if bare else "-"
        print(
            f"{name:<8} {m['ops_s']:>8.0f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} {m['cpu_us']:>17.0f} {ratio:>14}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
