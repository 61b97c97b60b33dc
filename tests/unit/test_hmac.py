"""The HMAC string-to-sign and verifier, sans-I/O (acs-wire.md §2.1)."""

from __future__ import annotations

import base64

import pytest

from telex.identity import hmac_auth
from telex.identity.hmac_auth import HmacFailure, SignedRequest, sign, verify

KEY = b"k" * 64
OTHER = b"o" * 64
NOW = 1_795_000_000.0


def _request(
    method: str = "POST",
    target: str = "/identities?api-version=2023-10-01",
    host: str = "127.0.0.1:8443",
    body: bytes = b'{"a": 1}',
    key: bytes = KEY,
    now: float = NOW,
    sign_host: str | None = None,
    sign_target: str | None = None,
) -> SignedRequest:
    headers = sign(method, sign_target or target, sign_host or host, body, key, now)
    return SignedRequest(method, target, host, {k.lower(): v for k, v in headers.items()}, body)


def test_empty_body_hash_is_the_documented_constant() -> None:
    assert hmac_auth.content_hash(b"") == hmac_auth.EMPTY_CONTENT_HASH


def test_string_to_sign_layout() -> None:
    s = hmac_auth.string_to_sign("post", "/x?y=1", "Sat, 28 Nov 2026 08:58:20 GMT", "h:1", "HASH")
    assert s == "POST\n/x?y=1\nSat, 28 Nov 2026 08:58:20 GMT;h:1;HASH"


def test_signature_is_base64_hmac_sha256() -> None:
    sig = hmac_auth.signature(b"secret", "text")
    assert len(base64.b64decode(sig)) == 32


def test_valid_request_with_either_key_is_accepted() -> None:
    verify(_request(), [KEY, OTHER], NOW, 900)
    verify(_request(key=OTHER), [KEY, OTHER], NOW, 900)


@pytest.mark.parametrize("skew", [-901, 901, 86400])
def test_date_outside_window_is_rejected(skew: int) -> None:
    with pytest.raises(HmacFailure):
        verify(_request(now=NOW + skew), [KEY], NOW, 900)


@pytest.mark.parametrize("skew", [-899, 0, 899])
def test_date_inside_window_is_accepted(skew: int) -> None:
    verify(_request(now=NOW + skew), [KEY], NOW, 900)


def _tamper(req: SignedRequest, **changes: object) -> SignedRequest:
    fields = {
        "method": req.method,
        "target": req.target,
        "host": req.host,
        "headers": dict(req.headers),
        "body": req.body,
    }
    fields.update(changes)
    return SignedRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"target": "/identities?api-version=2023-10-02"},
        {"target": "/identitiez?api-version=2023-10-01"},
        {"target": "/identities"},
        {"host": "evil.example:8443"},
        {"host": "127.0.0.1:9999"},
        {"body": b'{"a": 2}'},
    ],
)
def test_any_altered_part_is_rejected(change: dict[str, object]) -> None:
    with pytest.raises(HmacFailure):
        verify(_tamper(_request(), **change), [KEY], NOW, 900)


def test_body_swapped_with_matching_hash_header_is_rejected() -> None:
    req = _request()
    body = b'{"a": 2}'
    headers = dict(req.headers, **{"x-ms-content-sha256": hmac_auth.content_hash(body)})
    with pytest.raises(HmacFailure):
        verify(_tamper(req, body=body, headers=headers), [KEY], NOW, 900)


@pytest.mark.parametrize("missing", ["authorization", "x-ms-date", "x-ms-content-sha256"])
def test_missing_header_is_rejected(missing: str) -> None:
    req = _request()
    headers = {k: v for k, v in req.headers.items() if k != missing}
    with pytest.raises(HmacFailure):
        verify(_tamper(req, headers=headers), [KEY], NOW, 900)


@pytest.mark.parametrize(
    "auth",
    [
        "Bearer abc",
        "HMAC-SHA256 Signature=abc",
        "HMAC-SHA256 SignedHeaders=host&Signature=abc",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=a&Signature=b",
        "",
    ],
)
def test_malformed_authorization_is_rejected(auth: str) -> None:
    req = _request()
    with pytest.raises(HmacFailure):
        verify(_tamper(req, headers=dict(req.headers, authorization=auth)), [KEY], NOW, 900)


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(HmacFailure):
        verify(_request(key=OTHER), [KEY], NOW, 900)


def test_unparseable_date_is_rejected() -> None:
    req = _request()
    with pytest.raises(HmacFailure):
        verify(_tamper(req, headers=dict(req.headers, **{"x-ms-date": "yesterday"})), [KEY], NOW, 900)


def test_leniency_unquoted_target_as_rooms_signs() -> None:
    wire = "/rooms?nextLink=a%3Db%2Bc"
    verify(_request(target=wire, sign_target="/rooms?nextLink=a=b+c"), [KEY], NOW, 900)


def test_leniency_host_with_trailing_slash_and_without_port() -> None:
    verify(_request(sign_host="127.0.0.1:8443/"), [KEY], NOW, 900)
    verify(_request(sign_host="127.0.0.1"), [KEY], NOW, 900)
    verify(_request(host="[::1]:8443", sign_host="[::1]"), [KEY], NOW, 900)


def test_comparison_is_constant_time() -> None:
    import inspect

    assert "hmac.compare_digest" in inspect.getsource(hmac_auth.verify)
