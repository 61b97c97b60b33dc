"""Standard Webhooks signatures, checked against the reference package (``standardwebhooks``) both
ways, with secret rotation and the timestamp tolerance (push-events-sms.md §5.4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from telex.webhooks import SignatureError, WebhookSecret, sign, signature_headers, verify

BODY = b'[{"id":"1","eventType":"Microsoft.Communication.SMSReceived","data":{"message":"h\xc3\xa9"}}]'
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_signature_is_the_spec_formula() -> None:
    secret = WebhookSecret(bytes(range(32)))
    expected = hmac.new(bytes(range(32)), b"msg_1.1767225600." + BODY, hashlib.sha256).digest()
    assert sign([secret], "msg_1", 1767225600, BODY) == "v1," + base64.b64encode(expected).decode()


def test_secret_text_form_round_trips() -> None:
    secret = WebhookSecret.generate()
    assert str(secret).startswith("whsec_")
    assert WebhookSecret.parse(str(secret)) == secret
    assert "whsec" not in repr(secret) and str(secret)[6:] not in repr(secret)
    for bad in ("abc", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="webhook secret"):
            WebhookSecret.parse(bad)


def test_reference_package_verifies_ours() -> None:
    secret = WebhookSecret.generate()
    headers = signature_headers([secret], "msg_2fQy1", time.time(), BODY)
    # The reference verifier reads the real clock (±5 min), so the timestamp is now.
    assert Webhook(str(secret)).verify(BODY.decode(), headers) is not None


def test_we_verify_the_reference_package() -> None:
    secret = WebhookSecret.generate()
    moment = datetime.fromtimestamp(NOW, UTC)
    signature = Webhook(str(secret)).sign("msg_ref", moment, BODY.decode())
    headers = {"Webhook-Id": "msg_ref", "Webhook-Timestamp": str(int(NOW)), "Webhook-Signature": signature}
    assert verify([secret], headers, BODY, now=NOW) == "msg_ref"


def test_rotation_two_signatures_either_secret_verifies() -> None:
    old, new = WebhookSecret.generate(), WebhookSecret.generate()
    headers = signature_headers([new, old], "msg_rot", time.time(), BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(str(secret)).verify(BODY.decode(), headers) is not None
        assert verify([secret], headers, BODY, now=time.time()) == "msg_rot"
    with pytest.raises(WebhookVerificationError):
        Webhook(str(WebhookSecret.generate())).verify(BODY.decode(), headers)


def test_tampering_fails() -> None:
    secret = WebhookSecret.generate()
    headers = signature_headers([secret], "msg_t", NOW, BODY)
    for changed_body, changed in [
        (BODY + b" ", headers),
        (BODY, {**headers, "webhook-id": "msg_other"}),
        (BODY, {**headers, "webhook-timestamp": str(int(NOW) + 1)}),
    ]:
        with pytest.raises(SignatureError) as info:
            verify([secret], changed, changed_body, now=NOW)
        assert info.value.reason == "no matching signature"
        assert info.value.status == 401
    with pytest.raises(SignatureError):
        verify([WebhookSecret.generate()], headers, BODY, now=NOW)


@pytest.mark.parametrize(("skew", "ok"), [(-301, False), (-300, True), (0, True), (300, True), (301, False)])
def test_timestamp_tolerance(skew: int, ok: bool) -> None:
    secret = WebhookSecret.generate()
    headers = signature_headers([secret], "msg_w", NOW + skew, BODY)
    if ok:
        assert verify([secret], headers, BODY, now=NOW) == "msg_w"
    else:
        with pytest.raises(SignatureError, match="verification failed"):
            verify([secret], headers, BODY, now=NOW)
    assert verify([secret], headers, BODY, now=NOW, tolerance=1000) == "msg_w"


def test_unknown_versions_skipped_and_missing_headers_refused() -> None:
    secret = WebhookSecret.generate()
    headers = signature_headers([secret], "msg_v", NOW, BODY)
    headers["webhook-signature"] = "v1a,AAAA " + headers["webhook-signature"] + " v2,zzz"
    assert verify([secret], headers, BODY, now=NOW) == "msg_v"
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(SignatureError) as info:
            verify([secret], partial, BODY, now=NOW)
        assert info.value.reason == f"missing {name} header"
    with pytest.raises(SignatureError, match="verification failed"):
        verify([secret], {**headers, "webhook-timestamp": "soon"}, BODY, now=NOW)


def test_sign_refuses_ambiguous_ids_and_no_secret() -> None:
    secret = WebhookSecret.generate()
    for bad in ("", "a.b", "a b", "a\nb"):
        with pytest.raises(ValueError, match="message id"):
            sign([secret], bad, 1, BODY)
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], "msg", 1, BODY)


def test_each_attempt_is_signed_afresh_with_the_same_id() -> None:
    secret = WebhookSecret.generate()
    first = signature_headers([secret], "msg_same", NOW, BODY)
    retry = signature_headers([secret], "msg_same", NOW + 600, BODY)
    assert first["webhook-id"] == retry["webhook-id"]
    assert first["webhook-signature"] != retry["webhook-signature"]
    with pytest.raises(SignatureError):  # the first attempt's headers no longer pass at retry time
        verify([secret], first, BODY, now=NOW + 600)
    assert verify([secret], retry, BODY, now=NOW + 600) == "msg_same"
