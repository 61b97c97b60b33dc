"""SIP dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE sets up.

    UAC: INVITE ─► 1xx with To tag ─► Dialog.from_response (early) ─► 2xx ─► confirm()
    UAS: INVITE ─► Dialog.from_request (early once we answer 1xx/2xx with our tag) ─► ACK

A dialog is identified by Call-ID, local tag and remote tag, and carries what every in-dialog
request needs: the local and remote URIs, the remote target (the peer's Contact), the route set
(Record-Route, reversed on the UAC side, §12.1.2), and the local and remote CSeq numbers.
``create_request`` builds BYE, re-INVITE, INFO, UPDATE and the ACK for a 2xx (§12.2.1.1,
§13.2.2.4) with loose or strict routing; ``check_request`` applies §12.2.2 to what arrives.
The dialog never picks a Via branch or a transport: the caller passes the Via it will send with.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from telex.sip.errors import SipUsageError
from telex.sip.headers import Headers, Via
from telex.sip.message import Request, Response
from telex.sip.uri import NameAddr, SipUri, Uri

__all__ = ["Dialog", "DialogState", "RequestCheck"]

# Requests that may change the remote target (§12.2: re-INVITE; RFC 3311 UPDATE).
_TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


class DialogState(StrEnum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class RequestCheck(StrEnum):
    OK = "ok"
    OUT_OF_ORDER = "outOfOrder"  # a CSeq lower than the last one: answer 500 (§12.2.2)


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr  # without its tag
    remote_uri: NameAddr  # without its tag
    remote_target: Uri
    route_set: list[NameAddr]
    local_seq: int
    remote_seq: int | None
    is_uac: bool
    secure: bool = False
    state: DialogState = DialogState.EARLY
    # The Authorization / Proxy-Authorization the last INVITE carried: the ACK for its 2xx must
    # repeat them (§22.1), and later requests reuse them until challenged again.
    credentials: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    # ---- creation -----------------------------------------------------------------------------

    @classmethod
    def from_response(cls, request: Request, response: Response) -> Dialog:
        """The UAC side, from a 1xx (with a To tag) or 2xx to our INVITE (§12.1.2)."""
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if remote_tag is None or local_tag is None:
            raise SipUsageError("a dialog needs both tags")
        contacts = response.contact
        target: Uri = contacts[0].uri if contacts else request.uri
        routes = list(reversed(response.headers.record_route()))
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_untagged(request.from_),
            remote_uri=_untagged(request.to),
            remote_target=target,
            route_set=routes,
            local_seq=request.cseq.seq,
            remote_seq=None,
            is_uac=True,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
        )

    @classmethod
    def from_request(cls, request: Request, local_tag: str, local_seq: int) -> Dialog:
        """The UAS side, from the INVITE we answer with ``local_tag`` in To (§12.1.1)."""
        remote_tag = request.from_.tag
        if remote_tag is None:
            # RFC 2543 peers may omit the From tag; the dialog then matches on an empty tag.
            remote_tag = ""
        contacts = request.contact
        target: Uri = contacts[0].uri if contacts else request.from_.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_untagged(request.to),
            remote_uri=_untagged(request.from_),
            remote_target=target,
            route_set=list(request.headers.record_route()),
            local_seq=local_seq,
            remote_seq=request.cseq.seq,
            is_uac=False,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
        )

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    # ---- in-dialog requests -------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        contact: NameAddr | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A request inside this dialog (§12.2.1.1). ACK reuses its INVITE's number (pass
        ``cseq``); every other method takes the next local number."""
        if self.state is DialogState.TERMINATED:
            raise SipUsageError("the dialog is over")
        if method == "ACK":
            if cseq is None:
                raise SipUsageError("an ACK repeats its INVITE's CSeq number")
            number = cseq
        else:
            self.local_seq += 1
            number = self.local_seq
        uri, routes = self._request_target()
        headers = Headers()
        headers.add("Via", str(via))
        for route in routes:
            headers.add("Route", str(route))
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self.local_uri.with_tag(self.local_tag)))
        to = self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri
        headers.add("To", str(to))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{number} {method}")
        if contact is not None and method in ("INVITE", "UPDATE", "SUBSCRIBE", "REFER"):
            headers.add("Contact", str(contact))
        if method == "ACK":
            for name, value in self.credentials:
                headers.add(name, value)
        for name, value in extra or ():
            headers.add(name, value)
        if body and content_type:
            headers.add("Content-Type", content_type)
        return Request(headers, body, method, uri)

    def _request_target(self) -> tuple[Uri, list[NameAddr]]:
        """Request-URI and Route headers: loose routing puts the route set in Route and the remote
        target in the Request-URI; a strict router first in the set gets the Request-URI and the
        remote target goes last in Route (§12.2.1.1)."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipUri) and not first.loose_route:
            # Parameters not allowed in a Request-URI go (§19.1.1); a strict router has no lr anyway.
            uri = replace(first, params=(), headers=())
            return uri, [*self.route_set[1:], NameAddr(self.remote_target)]
        return self.remote_target, list(self.route_set)

    def next_hop(self) -> Uri:
        """Where an in-dialog request goes first (§8.1.2): the first route, else the target."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    # ---- requests and responses from the peer -------------------------------------------------

    def check_request(self, request: Request) -> RequestCheck:
        """§12.2.2: a request with a lower CSeq than the last one is out of order (answer 500);
        otherwise the number is remembered and a target refresh updates the remote target."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return RequestCheck.OK
        if self.remote_seq is not None and seq < self.remote_seq:
            return RequestCheck.OUT_OF_ORDER
        self.remote_seq = seq
        if request.method in _TARGET_REFRESH and request.contact:
            self.remote_target = request.contact[0].uri
        return RequestCheck.OK

    def update_from_response(self, request: Request, response: Response) -> None:
        """A 2xx to a target refresh request updates the remote target (§12.2.1.2); a 2xx to the
        INVITE that made an early dialog confirms it."""
        if not 200 <= response.status < 300:
            return
        if request.method in _TARGET_REFRESH and response.contact:
            self.remote_target = response.contact[0].uri
        if request.method == "INVITE":
            self.confirm()


def _untagged(addr: NameAddr) -> NameAddr:
    return NameAddr(addr.uri, addr.display_name, tuple((k, v) for k, v in addr.params if k != "tag"))
