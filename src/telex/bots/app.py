"""``BotApp``: a small ASGI app that receives Call Automation callbacks and Event Grid events, and
``BotCall``: one call as a bot drives it, with awaitable media operations.

    Telex ──Event Grid──► POST /events    IncomingCall ─► @app.incoming_call handler(IncomingCall)
                                          (SubscriptionValidationEvent answered; CloudEvents
                                           OPTIONS handshake answered)
          ──callbacks───► POST /callbacks  verified (JWT + Standard Webhooks) ─► BotCall of the
                                           callConnectionId ─► resolves the waiting operation

    call = await incoming.answer()
    await call.play(url)                                   PlayCompleted, or MediaFailed
    tones = await call.recognize_dtmf(caller, max_tones=3, stop_tones="#", prompt=url)
    await call.transfer(user_id)                           CallTransferAccepted, or MediaFailed
    await call.hang_up()

Every operation carries a fresh ``operationContext``; the callback that ends it (found by that
context) resolves the awaiting coroutine, so several operations may be in flight on one call.
Callbacks arrive in order per call (Telex delivers them so); ``CallDisconnected`` fails every
operation still waiting with ``CallEnded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from telex.bots.client import CallAutomation, CallAutomationError
from telex.bots.verify import CallbackVerifier, VerificationFailed

__all__ = ["BotApp", "BotCall", "CallEnded", "IncomingCall", "MediaFailed"]

log = logging.getLogger(__name__)

_ACS = "Microsoft.Communication."
_KEYS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "a": "A", "b": "B", "c": "C", "d": "D", "asterisk": "*", "pound": "#",
}  # fmt: skip
_NAMES = {v: k for k, v in _KEYS.items()}
# The events that end an operation, by the kind of operation.
_ENDS = {
    "play": ("PlayCompleted", "PlayFailed", "PlayCanceled"),
    "recognize": ("RecognizeCompleted", "RecognizeFailed", "RecognizeCanceled"),
    "transfer": ("CallTransferAccepted", "CallTransferFailed"),
    "add": ("AddParticipantSucceeded", "AddParticipantFailed"),
    "dtmf": ("SendDtmfTonesCompleted", "SendDtmfTonesFailed"),
}
_SUCCESS = {
    "PlayCompleted",
    "RecognizeCompleted",
    "CallTransferAccepted",
    "AddParticipantSucceeded",
    "SendDtmfTonesCompleted",
}


class CallEnded(Exception):
    """The call ended (``CallDisconnected``) while an operation waited."""


class MediaFailed(Exception):
    """An operation ended with a failure callback; ``event`` is its data."""

    def __init__(self, type_: str, event: dict[str, Any]) -> None:
        info = event.get("resultInformation") or {}
        super().__init__(f"{type_} {info.get('code')}/{info.get('subCode')}: {info.get('message')}")
        self.type = type_
        self.event = event
        self.code = int(info.get("code") or 0)
        self.sub_code = int(info.get("subCode") or 0)


def _ident(raw: str) -> dict[str, Any]:
    return {"rawId": raw, "communicationUser": {"id": raw}} if raw.startswith("8:") else {"rawId": raw}


def _file(url: str) -> dict[str, Any]:
    return {"kind": "file", "file": {"uri": url}}


@dataclass
class IncomingCall:
    """An ``IncomingCall`` event for the bot: answer, reject or redirect it."""

    app: BotApp
    data: dict[str, Any]

    @property
    def caller(self) -> str:
        return str(self.data["from"]["rawId"])

    @property
    def callee(self) -> str:
        return str(self.data["to"]["rawId"])

    @property
    def server_call_id(self) -> str:
        return str(self.data["serverCallId"])

    async def answer(self) -> BotCall:
        call = self.app._pending_call(self)
        props = await self.app.client.answer(self.data["incomingCallContext"], self.app.callback_uri)
        return self.app._bind(call, props)

    async def reject(self, reason: str = "none") -> None:
        await self.app.client.reject(self.data["incomingCallContext"], reason)

    async def redirect(self, target: str) -> None:
        await self.app.client.redirect(self.data["incomingCallContext"], target)


@dataclass(eq=False)
class BotCall:
    """A call connection of the bot (see the module docstring)."""

    app: BotApp
    id: str = ""
    server_call_id: str = ""
    caller: str | None = None
    participants: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # every callback, in order
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _waiting: dict[str, tuple[tuple[str, ...], asyncio.Future[dict[str, Any]]]] = field(default_factory=dict)
    _early: list[dict[str, Any]] = field(default_factory=list)

    @property
    def _path(self) -> str:
        return f"/calling/callConnections/{self.id}"

    # callbacks ---------------------------------------------------------------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", "")).removeprefix(_ACS)
        data = dict(event.get("data") or {})
        data["type"] = kind
        self.events.append(data)
        if kind == "CallConnected":
            self.connected.set()
        elif kind == "ParticipantsUpdated":
            self.participants = [p["identifier"]["rawId"] for p in data.get("participants", [])]
        context = data.get("operationContext")
        waiter = self._waiting.get(context) if isinstance(context, str) else None
        if waiter is not None and kind in waiter[0]:
            del self._waiting[context]  # type: ignore[arg-type]
            if not waiter[1].done():
                waiter[1].set_result(data)
        if kind == "CallDisconnected":
            self.disconnected.set()
            self.connected.set()
            for _, future in self._waiting.values():
                if not future.done():
                    future.set_exception(CallEnded("the call ended"))
            self._waiting.clear()

    async def _operation(self, kind: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.disconnected.is_set():
            raise CallEnded("the call ended")
        context = body.setdefault("operationContext", f"{kind}-{uuid.uuid4()}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[context] = (_ENDS[kind], future)
        try:
            await self.app.client.post(
                self._path + path, body, repeatable=kind in ("transfer", "add", "dtmf")
            )
        except BaseException:
            self._waiting.pop(context, None)
            raise
        data = await future
        if data["type"] not in _SUCCESS:
            raise MediaFailed(data["type"], data)
        return data

    # operations --------------------------------------------------------------------------------------
    async def play(
        self, *urls: str, to: Iterable[str] = (), loop: bool = False, interrupt: bool = False
    ) -> None:
        """Play the files (WAV 16 kHz mono 16-bit, or MP3) to everyone, or to ``to``, until done."""
        body = {
            "playSources": [_file(u) for u in urls], "playTo": [_ident(t) for t in to],
            "playOptions": {"loop": loop}, "interruptCallMediaOperation": interrupt,
        }  # fmt: skip
        await self._operation("play", ":play", body)

    async def recognize_dtmf(
        self,
        target: str,
        *,
        max_tones: int = 1,
        stop_tones: Iterable[str] = (),
        inter_tone_timeout: int = 2,
        initial_silence_timeout: int = 5,
        prompt: str | None = None,
        interrupt_prompt: bool = True,
    ) -> str:
        """Collect keys from ``target`` (a raw id); returns them ("12"). ``MediaFailed`` with
        sub-code 8510 (nothing pressed) or 8532 (the caller stopped midway)."""
        options: dict[str, Any] = {
            "targetParticipant": _ident(target), "interruptPrompt": interrupt_prompt,
            "initialSilenceTimeoutInSeconds": initial_silence_timeout,
            "dtmfOptions": {
                "maxTonesToCollect": max_tones, "interToneTimeoutInSeconds": inter_tone_timeout,
                "stopTones": [_NAMES.get(t, t) for t in stop_tones],
            },
        }  # fmt: skip
        body: dict[str, Any] = {"recognizeInputType": "dtmf", "recognizeOptions": options}
        if prompt is not None:
            body["playPrompt"] = _file(prompt)
        data = await self._operation("recognize", ":recognize", body)
        return "".join(_KEYS.get(t, t) for t in data.get("dtmfResult", {}).get("tones", []))

    async def recognize_choice(
        self,
        target: str,
        choices: dict[str, str],
        *,
        prompt: str | None = None,
        initial_silence_timeout: int = 5,
    ) -> str:
        """The label of the choice whose key ``target`` pressed (``choices``: label → key)."""
        listed = [
            {"label": label, "phrases": [label], "tone": _NAMES.get(k, k)} for label, k in choices.items()
        ]
        options = {
            "targetParticipant": _ident(target), "initialSilenceTimeoutInSeconds": initial_silence_timeout,
            "choices": listed,
        }  # fmt: skip
        body: dict[str, Any] = {"recognizeInputType": "choices", "recognizeOptions": options}
        if prompt is not None:
            body["playPrompt"] = _file(prompt)
        data = await self._operation("recognize", ":recognize", body)
        return str(data["choiceResult"]["label"])

    async def transfer(self, target: str) -> None:
        """Hand the caller to ``target`` (a user); the bot leaves once the target answers."""
        await self._operation("transfer", ":transferToParticipant", {"targetParticipant": _ident(target)})

    async def add_participant(self, target: str, ring_seconds: int = 30) -> None:
        body = {"participantToAdd": _ident(target), "invitationTimeoutInSeconds": ring_seconds}
        await self._operation("add", "/participants:add", body)

    async def send_dtmf(self, target: str, keys: str) -> None:
        body = {"tones": [_NAMES.get(k, k) for k in keys], "targetParticipant": _ident(target)}
        await self._operation("dtmf", ":sendDtmfTones", body)

    async def cancel_media(self) -> None:
        await self.app.client.post(self._path + ":cancelAllMediaOperations", repeatable=False)

    async def hang_up(self, *, for_everyone: bool = False) -> None:
        if for_everyone:
            await self.app.client.post(self._path + ":terminate")
        else:
            with contextlib.suppress(CallAutomationError):
                await self.app.client.request("DELETE", self._path)

    async def wait_disconnected(self) -> None:
        await self.disconnected.wait()


Handler = Callable[[IncomingCall], Awaitable[None]]


class BotApp:
    """The bot's ASGI app (``app.asgi``): Event Grid events at ``/events``, callbacks at ``/callbacks``.

    ``public_url`` is where Telex reaches this app; callbacks go to ``public_url + "/callbacks"``.
    Without a ``verifier`` callbacks are not checked (only for tests and demos on one machine).
    """

    def __init__(
        self,
        client: CallAutomation,
        public_url: str,
        *,
        verifier: CallbackVerifier | None = None,
        events_verifier: Callable[[dict[str, str], bytes], None] | None = None,
    ) -> None:
        self.client = client
        self.callback_uri = public_url.rstrip("/") + "/callbacks"
        self.verifier = verifier
        self._events_verifier = events_verifier
        self._handlers: list[Handler] = []
        self._calls: dict[str, BotCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.rejected = 0  # callbacks refused for a bad signature
        self.asgi = Starlette(
            routes=[
                Route("/callbacks", self._callbacks, methods=["POST"]),
                Route("/events", self._events, methods=["POST", "OPTIONS"]),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)

    def incoming_call(self, handler: Handler) -> Handler:
        """Register the coroutine that handles each ``IncomingCall`` (a decorator)."""
        self._handlers.append(handler)
        return handler

    def calls(self) -> list[BotCall]:
        return list(self._calls.values())

    async def create_call(self, targets: list[str], **extra: Any) -> BotCall:
        call = BotCall(self)
        props = await self.client.create_call(targets, self.callback_uri, **extra)
        return self._bind(call, props)

    async def connect(self, group_call_id: str) -> BotCall:
        call = BotCall(self)
        props = await self.client.connect(group_call_id, self.callback_uri)
        return self._bind(call, props)

    def dispatch_incoming(self, data: dict[str, Any]) -> None:
        """Handle an ``IncomingCall`` event's data (what ``/events`` does for each one)."""
        incoming = IncomingCall(self, data)
        for handler in self._handlers:
            self._spawn(handler(incoming))

    # internals ---------------------------------------------------------------------------------------
    def _pending_call(self, incoming: IncomingCall) -> BotCall:
        return BotCall(self, caller=incoming.caller)

    def _bind(self, call: BotCall, props: dict[str, Any]) -> BotCall:
        call.id = str(props["callConnectionId"])
        call.server_call_id = str(props.get("serverCallId", ""))
        known = self._calls.get(call.id)
        self._calls[call.id] = call
        if known is not None:  # callbacks that came before the answer's response
            for event in known._early:
                call._on_event(event)
        return call

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except CallEnded:
                pass
            except Exception:
                log.exception("bot handler failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _callbacks(self, request: Request) -> Response:
        body = await request.body()
        if self.verifier is not None:
            try:
                events = await self.verifier.check(dict(request.headers), body)
            except VerificationFailed as exc:
                self.rejected += 1
                log.warning("callback refused: %s", exc)
                return Response(status_code=401)
        else:
            loaded = json.loads(body)
            events = loaded if isinstance(loaded, list) else [loaded]
        for event in events:
            connection = str((event.get("data") or {}).get("callConnectionId", ""))
            call = self._calls.get(connection)
            if call is None:  # its answer's response has not come back yet
                call = self._calls[connection] = BotCall(self, id=connection)
                call._early.append(event)
            else:
                call._on_event(event)
        return Response(status_code=200)

    async def _events(self, request: Request) -> Response:
        if request.method == "OPTIONS":  # CloudEvents abuse protection: consent to Event Grid
            origin = request.headers.get("webhook-request-origin", "*")
            return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin, "Allow": "POST"})
        body = await request.body()
        if self._events_verifier is not None:
            try:
                self._events_verifier(dict(request.headers), body)
            except Exception:
                return Response(status_code=401)
        loaded = json.loads(body)
        for event in loaded if isinstance(loaded, list) else [loaded]:
            kind = event.get("eventType") or event.get("type")
            data = event.get("data") or {}
            if kind == "Microsoft.EventGrid.SubscriptionValidationEvent":
                return JSONResponse({"validationResponse": data.get("validationCode")})
            if kind == _ACS + "IncomingCall":
                self.dispatch_incoming(data)
        return Response(status_code=200)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
