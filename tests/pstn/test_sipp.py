"""sipp (Debian's sip-tester) as the carrier, an implementation independent of Telex's SIP core:
it calls a Telex number with digest authentication and sends A-law audio and the RFC 4733 digits
1, 2, # from Debian's pcaps to a bot; and it takes a bot's call to a phone number (401, early
media, answer, an RTP echo) until the bot hangs up. sipp passes only if every message came."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from azure.communication.callautomation import DtmfTone, FileSource, PhoneNumberIdentifier, RecognizeInputType

from tests.pstn.conftest import PstnWorld
from tests.sip.sipp_peer import LOOP, free_port, require_sipp, run_sipp, wait_bound

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

HERE = Path(__file__).parent / "sipp"
CALLER = "+15559870000"


async def sdk(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def sipp(tmp_path: Path, scenario: str, **kwargs: Any) -> Any:
    require_sipp()
    return await run_sipp(f"../../pstn/sipp/{scenario}", cwd=tmp_path, limit=40, **kwargs)


async def test_sipp_calls_a_bot_which_collects_12_pound(pstn: PstnWorld, tmp_path: Path) -> None:
    run = asyncio.create_task(
        sipp(
            tmp_path, "carrier_calls_bot.xml", uac_target=f"{LOOP}:{pstn.sip_port}",
            sip_port=pstn.carrier_port, media_port=free_port(even=True),
            extra=["-s", pstn.number, "-au", "carrier", "-ap", "carrier-secret",
                   "-auth_uri", f"{pstn.number}@{LOOP}:{pstn.sip_port}"],
        )
    )  # fmt: skip
    ring = await pstn.incoming.next_for("4:" + pstn.number, timeout=15)
    props = await sdk(pstn.sdk().answer_call, ring["incomingCallContext"], pstn.receiver.url())
    cid = props.call_connection_id
    connection = pstn.sdk().get_call_connection(cid)
    await sdk(
        connection.start_recognizing_media, RecognizeInputType.DTMF, PhoneNumberIdentifier(CALLER),
        dtmf_max_tones_to_collect=3, dtmf_stop_tones=[DtmfTone.POUND], initial_silence_timeout=20,
        play_prompt=FileSource(pstn.receiver.audio("prompt.wav")), operation_context="menu",
    )  # fmt: skip
    done = await pstn.receiver.wait_type("RecognizeCompleted", cid)
    assert done["data"]["dtmfResult"]["tones"] == ["one", "two"]
    assert done["data"]["resultInformation"]["subCode"] == 8514
    (call,) = pstn.gateway.calls.values()
    assert call.bridge is not None and call.bridge.keys == ["1", "2", "#"]
    session = call.bridge.rtp.session
    assert session is not None and session.config.codec == "PCMA"
    assert session.stats.received_packets > 40 and session.stats.sent_packets > 40
    await sdk(connection.hang_up, False)
    result = await run
    assert result.returncode == 0, result.output + result.logs
    await pstn.receiver.wait_type("CallDisconnected", cid)


async def test_a_bot_calls_a_phone_through_sipp(pstn: PstnWorld, tmp_path: Path) -> None:
    run = asyncio.create_task(
        sipp(
            tmp_path, "carrier_answers.xml", sip_port=pstn.carrier_port, media_port=free_port(even=True),
            extra=["-rtp_echo"],
        )
    )  # fmt: skip
    await wait_bound(pstn.carrier_port)
    props = await sdk(
        pstn.sdk().create_call, PhoneNumberIdentifier("+15551230000"), pstn.receiver.url(),
        source_caller_id_number=PhoneNumberIdentifier(pstn.number),
    )  # fmt: skip
    cid = props.call_connection_id
    await pstn.receiver.wait_type("CallConnected", cid)
    connection = pstn.sdk().get_call_connection(cid)
    await sdk(connection.play_media, FileSource(pstn.receiver.audio("prompt.wav")))
    await pstn.receiver.wait_type("PlayCompleted", cid)
    (call,) = pstn.gateway.calls.values()
    assert call.bridge is not None and call.bridge.frames_to_trunk > 20  # the prompt went out
    session = call.bridge.rtp.session
    assert session is not None and session.stats.received_packets > 20  # and came back (echo)
    await sdk(connection.hang_up, True)
    result = await run
    assert result.returncode == 0, result.output + result.logs
    await pstn.receiver.wait_type("CallDisconnected", cid)
