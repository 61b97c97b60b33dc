"""User access tokens: the SDK's base64 decoder, and the JWT negative suite (security.md G9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.core.errors import TelexError
from telex.core.ids import ResourceId, UserId, new_user_id
from telex.identity.keyring import new_signing_key
from telex.identity.scopes import Scope
from telex.identity.tokens import ALGORITHM, TokenFormat, decode_token, issue_token

NOW = 1_795_000_000.0
FMT = TokenFormat(ResourceId(str(uuid.uuid4())), "local")
KEY = new_signing_key(NOW)
KEYS = {KEY.kid: KEY}
USER = new_user_id(FMT.resource_id)


def _sdk_decode(token: str) -> dict[str, object]:
    """What azure-communication-* ``create_access_token`` does (acs-wire.md §2.2)."""
    parts = token.split(".")
    assert len(parts) >= 3
    result: dict[str, object] = json.loads(base64.b64decode(parts[1] + "==").decode("ascii"))
    return result


@settings(max_examples=300, deadline=None)
@given(
    scopes=st.frozensets(st.sampled_from(list(Scope)), min_size=1),
    lifetime=st.integers(min_value=3600, max_value=86400),
    now=st.integers(min_value=1_600_000_000, max_value=2_500_000_000),
)
def test_sdk_standard_base64_decoder_reads_every_token(
    scopes: frozenset[Scope], lifetime: int, now: int
) -> None:
    resource = ResourceId(str(uuid.uuid4()))
    fmt = TokenFormat(resource, "local")
    user = new_user_id(resource)
    issued = issue_token(fmt, KEY, user, scopes, 0, now, lifetime)
    payload = issued.token.split(".")[1]
    assert "-" not in payload and "_" not in payload
    claims = _sdk_decode(issued.token)
    assert claims["exp"] == now + lifetime == issued.expires_at
    assert claims["skypeid"] == user.removeprefix("8:")


@pytest.mark.parametrize("location", ["eu?west", "a>b", "x~y"])
def test_claims_the_sdk_decoder_would_misread_are_refused(location: str) -> None:
    """The SDK reads the payload with a standard base64 decoder: a character whose base64url form
    can hold '-' or '_' would make it fail, so such a token is not minted."""
    with pytest.raises(TelexError):
        issue_token(TokenFormat(FMT.resource_id, location), KEY, USER, frozenset({Scope.VOIP}), 0, NOW, 3600)


def test_official_sdk_credential_parses_token() -> None:
    from azure.communication.chat import CommunicationTokenCredential

    issued = issue_token(FMT, KEY, USER, frozenset({Scope.CHAT}), 0, NOW, 3600)
    assert CommunicationTokenCredential(issued.token).get_token().expires_on == issued.expires_at


def _good() -> str:
    return issue_token(FMT, KEY, USER, frozenset({Scope.CHAT}), 0, NOW, 3600).token


def _claims(**over: object) -> dict[str, object]:
    claims = _sdk_decode(_good())
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object], sig: str = "") -> str:
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}.{sig}"


def _public_forms() -> list[bytes]:
    pub = KEY.private_key.public_key()
    return [
        pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(KEY.public_jwk()).encode(),
    ]


def _hs256_forgeries() -> list[str]:
    """HS256 tokens whose HMAC key is the server's public key in PEM, DER and JWK form."""
    out = []
    header = _b64url(json.dumps({"alg": "HS256", "kid": KEY.kid, "typ": "JWT"}).encode())
    signing_input = header + "." + _b64url(json.dumps(_claims()).encode())
    for secret in _public_forms():
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        out.append(signing_input + "." + _b64url(mac))
    return out


def _other_key_tokens() -> list[str]:
    other_ec = ec.generate_private_key(ec.SECP256R1())
    other_rsa = rsa.generate_private_key(65537, 2048)
    return [
        jwt.encode(_claims(), other_ec, algorithm="ES256", headers={"kid": KEY.kid}),
        jwt.encode(_claims(), other_rsa, algorithm="RS256", headers={"kid": KEY.kid}),
    ]


def _signed(claims: dict[str, object], **headers: object) -> str:
    return jwt.encode(claims, KEY.private_key, algorithm=ALGORITHM, headers={"kid": KEY.kid, **headers})


BAD_TOKENS = {
    "alg none": _unsigned({"alg": "none", "kid": KEY.kid}, _claims()),
    "alg None": _unsigned({"alg": "None", "kid": KEY.kid}, _claims()),
    "alg NONE": _unsigned({"alg": "NONE", "kid": KEY.kid}, _claims()),
    "empty signature": _good().rsplit(".", 1)[0] + ".",
    "truncated signature": _good()[:-4],
    **{f"hs256 with public key #{i}": t for i, t in enumerate(_hs256_forgeries())},
    **{f"foreign key #{i}": t for i, t in enumerate(_other_key_tokens())},
    "expired 61 s ago": _signed(_claims(iat=int(NOW) - 3600, exp=int(NOW) - 61)),
    "iat in the future": _signed(_claims(iat=int(NOW) + 120, exp=int(NOW) + 3600)),
    "nbf in the future": _signed(_claims(nbf=int(NOW) + 120)),
    "missing exp": _signed(_claims(exp=None)),
    "missing iat": _signed(_claims(iat=None)),
    "missing skypeid": _signed(_claims(skypeid=None)),
    "missing gen": _signed(_claims(gen=None)),
    "string exp": _signed(_claims(exp=str(int(NOW) + 3600))),
    "wrong audience": _signed(_claims(aud="telex:other")),
    "wrong issuer": _signed(_claims(iss="someone")),
    "unknown scope": _signed(_claims(acsScope="chat,admin")),
    "unknown kid": jwt.encode(_claims(), KEY.private_key, algorithm=ALGORITHM, headers={"kid": "nope"}),
    "kid traversal": jwt.encode(
        _claims(), KEY.private_key, algorithm=ALGORITHM, headers={"kid": "../../dev/null"}
    ),
    "kid sqli": jwt.encode(_claims(), KEY.private_key, algorithm=ALGORITHM, headers={"kid": "' OR '1'='1"}),
    "kid url": jwt.encode(
        _claims(), KEY.private_key, algorithm=ALGORITHM, headers={"kid": "http://127.0.0.1/"}
    ),
    "no kid": jwt.encode(_claims(), KEY.private_key, algorithm=ALGORITHM),
    "jku header": jwt.encode(
        _claims(),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm=ALGORITHM,
        headers={"kid": KEY.kid, "jku": "http://127.0.0.1/jwks"},
    ),
    "garbage": "not.a.token",
    "two parts": "abc.def",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_forged_or_invalid_tokens_are_rejected(name: str) -> None:
    with pytest.raises(TelexError) as info:
        decode_token(BAD_TOKENS[name], FMT, KEYS, NOW, 30)
    assert info.value.status == 401


def test_bad_token_suite_is_large_enough() -> None:
    assert len(BAD_TOKENS) >= 30


def test_positive_controls_are_accepted() -> None:
    p = decode_token(_good(), FMT, KEYS, NOW, 30)
    assert p.user_id == USER and p.scopes == {Scope.CHAT}
    # Inside the 30 s leeway.
    assert decode_token(_signed(_claims(iat=int(NOW) - 3600, exp=int(NOW) - 29)), FMT, KEYS, NOW, 30)
    assert decode_token(_signed(_claims(nbf=int(NOW) + 10)), FMT, KEYS, NOW, 30)


def test_user_id_round_trips() -> None:
    assert decode_token(_good(), FMT, KEYS, NOW, 30).user_id == UserId(USER)
