"""Digest authentication both ways: RFC 2617/7616 vectors, then client against server."""

from __future__ import annotations

import pytest

from telex.sip.digest import (
    Credentials,
    DigestClient,
    DigestServer,
    Verdict,
    digest_response,
    parse_auth_params,
)
from telex.sip.message import Request, make_response, parse_datagram
from tests.sip.samples import invite

T0 = 1_800_000_000.0


def test_rfc2617_md5_vector() -> None:
    # RFC 2617 §3.5.
    assert (
        digest_response(
            algorithm="MD5", username="Mufasa", realm="testrealm@host.com", password="Circle Of Life",
            method="GET", uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            cnonce="0a4f113b", nc="00000001", qop="auth",
        )
        == "6629fae49393a05397450978507c4ef1"
    )  # fmt: skip


@pytest.mark.parametrize(
    "algorithm, expected",
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_vectors(algorithm: str, expected: str) -> None:
    # RFC 7616 §3.9.1.
    assert (
        digest_response(
            algorithm=algorithm, username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
            method="GET", uri="/dir/index.html", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", nc="00000001", qop="auth",
        )
        == expected
    )  # fmt: skip


def test_auth_params_parse_quoted_commas_and_escapes() -> None:
    scheme, params = parse_auth_params(
        r'Digest realm="a, b", nonce="x\"y", algorithm=SHA-256, qop="auth,auth-int"'
    )
    assert scheme == "digest"
    assert params == {"realm": "a, b", "nonce": 'x"y', "algorithm": "SHA-256", "qop": "auth,auth-int"}


def _request(extra: str = "") -> Request:
    msg = parse_datagram(invite(extra=extra))
    assert isinstance(msg, Request)
    return msg


def _with(request: Request, headers: list[tuple[str, str]]) -> Request:
    copy = Request(request.headers.copy(), request.body, request.method, request.uri)
    for name, value in headers:
        copy.headers.add(name, value)
    return copy


def _server(algorithms: tuple[str, ...] = ("SHA-256", "MD5")) -> DigestServer:
    return DigestServer("trunk.example", b"secret-key", {"alice": "s3cret"}.get, algorithms=algorithms)


def _challenge(
    server: DigestServer, request: Request, now: float, *, stale: bool = False, proxy: bool = False
):  # type: ignore[no-untyped-def]
    status = 407 if proxy else 401
    return make_response(request, status, to_tag="t"), server.challenge(now, stale=stale, proxy=proxy)


def _answer(
    client: DigestClient, request: Request, server: DigestServer, now: float, **kw: bool
) -> Request | None:
    response, headers = _challenge(server, request, now, **kw)
    for name, value in headers:
        response.headers.add(name, value)
    auth = client.authorize(request, response)
    return None if auth is None else _with(request, auth)


@pytest.mark.parametrize("algorithms", [("SHA-256", "MD5"), ("MD5",), ("SHA-512-256",), ("SHA-256-sess",)])
def test_client_answers_and_server_accepts(algorithms: tuple[str, ...]) -> None:
    server = _server(algorithms)
    client = DigestClient(lambda realm: Credentials("alice", "s3cret") if realm == "trunk.example" else None)
    request = _request()
    assert server.verify(request, T0) is Verdict.MISSING
    signed = _answer(client, request, server, T0)
    assert signed is not None
    value = signed.headers.get("authorization") or ""
    assert f"algorithm={algorithms[0].upper()}" in value and "qop=auth" in value and "nc=00000001" in value
    assert server.verify(signed, T0 + 1) is Verdict.OK


def test_server_lists_sha256_before_md5() -> None:
    values = [v for _, v in _server().challenge(T0)]
    assert "algorithm=SHA-256" in values[0] and "algorithm=MD5" in values[1]
    assert all('qop="auth"' in v for v in values)


def test_wrong_password_is_bad_and_the_client_does_not_loop() -> None:
    server = _server()
    client = DigestClient(lambda realm: Credentials("alice", "wrong"))
    request = _request()
    signed = _answer(client, request, server, T0)
    assert signed is not None and server.verify(signed, T0) is Verdict.BAD
    # The same realm challenging again without stale=true means "wrong password": give up.
    assert _answer(client, request, server, T0) is None


def test_expired_nonce_is_stale_and_the_client_retries_once_more() -> None:
    server = _server()
    client = DigestClient(lambda realm: Credentials("alice", "s3cret"))
    request = _request()
    signed = _answer(client, request, server, T0)
    assert signed is not None
    assert server.verify(signed, T0 + server.nonce_ttl + 1) is Verdict.STALE
    again = _answer(client, request, server, T0 + 400, stale=True)
    assert again is not None and server.verify(again, T0 + 401) is Verdict.OK


def test_replayed_nonce_count_is_refused() -> None:
    server = _server()
    client = DigestClient(lambda realm: Credentials("alice", "s3cret"))
    signed = _answer(client, _request(), server, T0)
    assert signed is not None
    assert server.verify(signed, T0) is Verdict.OK
    assert server.verify(signed, T0) is Verdict.BAD


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace('username="alice"', 'username="mallory"'),
        lambda v: v.replace('uri="sip:+15551230000@198.51.100.1"', 'uri="sip:other@198.51.100.1"'),
        lambda v: v.replace('nonce="', 'nonce="A'),
        lambda v: v.replace('response="', 'response="0'),
        lambda v: v.replace("qop=auth", "qop=auth-int"),
        lambda v: v.replace("algorithm=SHA-256", "algorithm=SHA-999"),
    ],
)
def test_tampered_answers_are_bad(tamper) -> None:  # type: ignore[no-untyped-def]
    server = _server()
    client = DigestClient(lambda realm: Credentials("alice", "s3cret"))
    request = _request()
    signed = _answer(client, request, server, T0)
    assert signed is not None
    value = signed.headers.get("authorization") or ""
    forged = _with(request, [("Authorization", tamper(value))])
    assert server.verify(forged, T0) is Verdict.BAD


def test_nonce_from_another_secret_is_bad() -> None:
    client = DigestClient(lambda realm: Credentials("alice", "s3cret"))
    request = _request()
    other = DigestServer("trunk.example", b"another-secret", {"alice": "s3cret"}.get)
    signed = _answer(client, request, other, T0)
    assert signed is not None and _server().verify(signed, T0) is Verdict.BAD


def test_proxy_challenge_is_answered_with_proxy_authorization() -> None:
    server = _server()
    client = DigestClient(lambda realm: Credentials("alice", "s3cret"))
    request = _request()
    signed = _answer(client, request, server, T0, proxy=True)
    assert signed is not None
    assert signed.headers.get("authorization") is None
    assert server.verify(signed, T0, proxy=True) is Verdict.OK


def test_no_credentials_for_the_realm() -> None:
    client = DigestClient(lambda realm: None)
    assert _answer(client, _request(), _server(), T0) is None
