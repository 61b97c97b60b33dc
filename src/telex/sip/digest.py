"""HTTP Digest authentication for SIP, both ways: RFC 3261 §22.4, RFC 8760 (SHA-256 and
SHA-512/256 for SIP) on the computations of RFC 7616 §3.4.

    client (we dial a trunk)                        server (a trunk dials us)
    INVITE ──────────────────────►                  INVITE ◄──────────────────────
    ◄── 401/407 WWW-/Proxy-Authenticate             ──► 401 WWW-Authenticate (challenge())
    DigestClient.authorize() ─► INVITE + Authorization ◄── INVITE + Authorization
                                                    DigestServer.verify() ─► OK / STALE / BAD

    HA1 = H(user:realm:password)          (-sess: H(HA1:nonce:cnonce))
    HA2 = H(method:digest-uri)            (qop=auth; auth-int is not offered)
    response = H(HA1:nonce:nc:cnonce:qop:HA2)      (no qop, RFC 2069: H(HA1:nonce:HA2))

Server nonces are stateless: base64 of an issue time and an HMAC over it, so they need no table
and expire by ``now``. The only state is the last nonce count seen per nonce (bounded), to refuse
a replayed ``nc``. Every comparison of a secret-derived value uses ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from telex.sip.errors import SipParseError
from telex.sip.message import Request, Response
from telex.sip.uri import quote_display_name

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "Verdict",
    "digest_response",
    "format_auth_params",
    "parse_auth_params",
    "parse_challenge",
]

# Algorithm name → hashlib name (RFC 8760 §2.2, RFC 7616 §6.1).
ALGORITHMS = {
    "MD5": "md5",
    "MD5-SESS": "md5",
    "SHA-256": "sha256",
    "SHA-256-SESS": "sha256",
    "SHA-512-256": "sha512_256",
    "SHA-512-256-SESS": "sha512_256",
}
_MAX_NC = 0xFFFFFFFF


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm.upper()], text.encode()).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    cnonce: str | None,
    nc: str | None,
    qop: str | None,
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1, §3.4.2, §3.4.3)."""
    alg = algorithm.upper()
    ha1 = _h(alg, f"{username}:{realm}:{password}")
    if alg.endswith("-SESS"):
        ha1 = _h(alg, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(alg, f"{method}:{uri}")
    if qop:
        return _h(alg, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(alg, f"{ha1}:{nonce}:{ha2}")


# ---- header syntax ----------------------------------------------------------------------------


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest a=b, c="d, e"`` → ("digest", {"a": "b", "c": "d, e"}); names lowercased."""
    value = value.strip(" \t")
    scheme, _, rest = value.partition(" ")
    if not scheme or not scheme.replace("-", "").isalnum():
        raise SipParseError("bad auth scheme")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise SipParseError("auth parameter without value")
        name = rest[i:eq].strip(" \t").lower()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise SipParseError("bad auth parameter name")
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise SipParseError("unterminated quoted auth parameter")
                ch = rest[i]
                if ch == "\\" and i + 1 < n:
                    chars.append(rest[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    i += 1
                    break
                chars.append(ch)
                i += 1
            val = "".join(chars)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            val = rest[i:end].strip(" \t")
            i = end
        if name in params:
            raise SipParseError("repeated auth parameter")
        params[name] = val
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] != ",":
            raise SipParseError("junk between auth parameters")
    return scheme.lower(), params


_UNQUOTED = frozenset({"algorithm", "qop", "nc", "stale"})


def format_auth_params(scheme: str, params: Sequence[tuple[str, str]]) -> str:
    parts = [f"{k}={v}" if k in _UNQUOTED else f"{k}={quote_display_name(v)}" for k, v in params]
    return f"{scheme} " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False  # from Proxy-Authenticate (answer with Proxy-Authorization)


def parse_challenge(value: str, *, proxy: bool = False) -> Challenge | None:
    """A Digest challenge, or None for another scheme or an algorithm we do not implement."""
    scheme, params = parse_auth_params(value)
    if scheme != "digest":
        return None
    if "realm" not in params or "nonce" not in params:
        raise SipParseError("Digest challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        return None
    qop = tuple(q.strip(" \t").lower() for q in params.get("qop", "").split(",") if q.strip(" \t"))
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        proxy=proxy,
    )


# ---- client -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


CredentialLookup = Callable[[str], Credentials | None]  # realm → credentials


@dataclass(slots=True)
class DigestClient:
    """Answers 401/407 challenges for one request's retries (one instance per call or
    transaction chain). ``authorize`` returns the headers to add, or None when we cannot or must
    not answer (no credentials for the realm, or the same realm challenged again without
    ``stale=true``: the password is wrong, and retrying would loop)."""

    lookup: CredentialLookup
    cnonce: Callable[[], str] = field(default=lambda: os.urandom(12).hex())
    _answered: set[tuple[bool, str]] = field(default_factory=set)
    _nc: dict[str, int] = field(default_factory=dict)

    def authorize(self, request: Request, response: Response) -> list[tuple[str, str]] | None:
        challenges: list[Challenge] = []
        for header, proxy in (("www-authenticate", False), ("proxy-authenticate", True)):
            for value in response.headers.get_all(header):
                try:
                    challenge = parse_challenge(value, proxy=proxy)
                except SipParseError:
                    continue
                if challenge is not None:
                    challenges.append(challenge)
        # RFC 8760 §2.4: a UAS lists its preferred algorithm first; take the first we support
        # for each (proxy, realm), so a 407 and a 401 in one response are both answered.
        chosen: dict[tuple[bool, str], Challenge] = {}
        for challenge in challenges:
            chosen.setdefault((challenge.proxy, challenge.realm), challenge)
        if not chosen:
            return None
        out: list[tuple[str, str]] = []
        for key, challenge in chosen.items():
            if key in self._answered and not challenge.stale:
                return None
            creds = self.lookup(challenge.realm)
            if creds is None:
                return None
            self._answered.add(key)
            out.append(self._answer(request, challenge, creds))
        return out

    def _answer(self, request: Request, challenge: Challenge, creds: Credentials) -> tuple[str, str]:
        uri = str(request.uri)
        qop = "auth" if "auth" in challenge.qop else None
        cnonce = nc = None
        if qop or challenge.algorithm.endswith("-SESS"):
            cnonce = self.cnonce()
        if qop:
            count = self._nc.get(challenge.nonce, 0) + 1
            self._nc[challenge.nonce] = count
            nc = f"{count:08x}"
        response = digest_response(
            algorithm=challenge.algorithm,
            username=creds.username,
            realm=challenge.realm,
            password=creds.password,
            method=request.method,
            uri=uri,
            nonce=challenge.nonce,
            cnonce=cnonce,
            nc=nc,
            qop=qop,
        )
        params: list[tuple[str, str]] = [
            ("username", creds.username),
            ("realm", challenge.realm),
            ("nonce", challenge.nonce),
            ("uri", uri),
            ("response", response),
            ("algorithm", challenge.algorithm),
        ]
        if cnonce is not None:
            params.append(("cnonce", cnonce))
        if challenge.opaque is not None:
            params.append(("opaque", challenge.opaque))
        if qop and nc:
            params.extend([("qop", qop), ("nc", nc)])
        name = "Proxy-Authorization" if challenge.proxy else "Authorization"
        return name, format_auth_params("Digest", params)


# ---- server -----------------------------------------------------------------------------------


class Verdict(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    BAD = "bad"  # wrong password, forged or replayed nonce, wrong URI: 403 (or challenge again)


PasswordLookup = Callable[[str], str | None]  # username → password


@dataclass(slots=True)
class DigestServer:
    """Challenges requests and verifies the answers (the UAS side of RFC 3261 §22.4).

    ``algorithms`` are offered in order of preference, one WWW-Authenticate value each (RFC 8760
    §2.4: SHA-256 first, MD5 last for old peers). ``nonce_ttl`` bounds how long one nonce
    serves; a correct answer with an older nonce gets ``STALE`` so the peer retries without
    asking its user again."""

    realm: str
    secret: bytes
    lookup: PasswordLookup
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    nonce_ttl: float = 300.0
    max_tracked: int = 4096
    _seen_nc: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def challenge(self, now: float, *, stale: bool = False, proxy: bool = False) -> list[tuple[str, str]]:
        nonce = self._make_nonce(now)
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        out = []
        for alg in self.algorithms:
            params = [("realm", self.realm), ("nonce", nonce), ("algorithm", alg), ("qop", '"auth"')]
            if stale:
                params.append(("stale", "true"))
            out.append((name, format_auth_params("Digest", params)))
        return out

    def _make_nonce(self, now: float) -> str:
        issued = struct.pack("!Q", int(now * 1000))
        mac = hmac.new(self.secret, issued + self.realm.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(issued + mac).decode().rstrip("=")

    def _nonce_issued(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 24:
            return None
        issued, mac = raw[:8], raw[8:]
        expected = hmac.new(self.secret, issued + self.realm.encode(), hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        (millis,) = struct.unpack("!Q", issued)
        return float(millis) / 1000

    def verify(self, request: Request, now: float, *, proxy: bool = False) -> Verdict:
        header = "proxy-authorization" if proxy else "authorization"
        mine: dict[str, str] | None = None
        for value in request.headers.get_all(header):
            try:
                scheme, params = parse_auth_params(value)
            except SipParseError:
                return Verdict.BAD
            if scheme == "digest" and params.get("realm") == self.realm:
                mine = params
                break
        if mine is None:
            return Verdict.MISSING
        return self._check(request, mine, now)

    def _check(self, request: Request, params: dict[str, str], now: float) -> Verdict:
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in ALGORITHMS or algorithm.removesuffix("-SESS") not in {
            a.upper().removesuffix("-SESS") for a in self.algorithms
        }:
            return Verdict.BAD
        username, nonce, uri = params.get("username"), params.get("nonce"), params.get("uri")
        given = params.get("response", "")
        if not username or not nonce or uri is None:
            return Verdict.BAD
        if uri != str(request.uri):
            return Verdict.BAD
        password = self.lookup(username)
        issued = self._nonce_issued(nonce)
        if password is None or issued is None or issued > now + 1:
            return Verdict.BAD
        qop = params.get("qop")
        nc = params.get("nc")
        cnonce = params.get("cnonce")
        if qop is not None:
            if qop.lower() != "auth" or not nc or not cnonce or len(nc) != 8:
                return Verdict.BAD
            try:
                count = int(nc, 16)
            except ValueError:
                return Verdict.BAD
        expected = digest_response(
            algorithm=algorithm,
            username=username,
            realm=self.realm,
            password=password,
            method=request.method,
            uri=uri,
            nonce=nonce,
            cnonce=cnonce,
            nc=nc,
            qop=qop.lower() if qop else None,
        )
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            return Verdict.BAD
        if now - issued > self.nonce_ttl:
            return Verdict.STALE
        if qop is not None:
            if count <= self._seen_nc.get(nonce, 0) or count > _MAX_NC:
                return Verdict.BAD  # a replayed nonce count
            self._seen_nc[nonce] = count
            self._seen_nc.move_to_end(nonce)
            while len(self._seen_nc) > self.max_tracked:
                self._seen_nc.popitem(last=False)
        return Verdict.OK
