"""SIP header fields: names (long and compact), multi-value splitting, and typed views.

RFC 3261 §7.3: header names are case-insensitive; several values of one header may be written as
one line joined by commas *only* where the header's grammar is a comma-separated list (§7.3.1).
The authentication headers, Date and the free-text headers are not lists: a comma inside them is
part of the value and must never split it. Values are split at commas that sit outside quoted
strings and outside ``<...>``, so ``"Doe, John" <sip:a@b>`` stays one value.

``Headers`` keeps ``(name, value)`` pairs in wire order, one pair per value, and caches the typed
views (``via()``, ``cseq()``, ``from_()`` …) until the next change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from telex.sip._syntax import is_digits
from telex.sip.errors import SipParseError
from telex.sip.uri import (
    NameAddr,
    Params,
    SipUri,
    format_params,
    parse_host_port,
    parse_name_addr,
    parse_params,
)

__all__ = [
    "COMPACT_FORMS",
    "MULTI_VALUE",
    "CSeq",
    "Headers",
    "Via",
    "canonical_name",
    "compact_name",
    "contact_uri",
    "parse_cseq",
    "parse_via",
    "split_values",
]

# RFC 3261 §7.3.3 plus later RFCs' compact forms (RFC 3265 o/u, RFC 3515 r, RFC 3892 b,
# RFC 3841 a/j/d, RFC 4028 x, RFC 8224 y).
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "x": "Session-Expires",
    "y": "Identity",
}
_LONG_TO_COMPACT = {v.lower(): k for k, v in COMPACT_FORMS.items()}

_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Authentication-Info",
        "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition", "Content-Encoding",
        "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info",
        "Expires", "From", "In-Reply-To", "Max-Forwards", "Min-Expires", "MIME-Version",
        "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Priority",
        "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
        "Record-Route", "Reply-To", "Require", "Retry-After", "Route", "RSeq", "Server",
        "Session-Expires", "Min-SE", "Subject", "Supported", "Timestamp", "To", "Unsupported",
        "User-Agent", "Via", "Warning", "WWW-Authenticate", "Event", "Allow-Events", "Refer-To",
        "Referred-By", "Privacy", "Diversion", "History-Info", "Path", "Service-Route",
    )
}  # fmt: skip

# Headers whose grammar is ``#value`` / ``1#value`` (RFC 3261 §20 and the RFCs that define the
# others): a line with commas holds several values.
MULTI_VALUE = frozenset(
    {
        "accept", "accept-encoding", "accept-language", "alert-info", "allow", "allow-events",
        "call-info", "contact", "content-encoding", "content-language", "error-info",
        "in-reply-to", "p-asserted-identity", "p-preferred-identity", "proxy-require", "reason",
        "record-route", "require", "route", "supported", "unsupported", "via", "warning",
        "path", "service-route", "diversion", "history-info", "privacy",
    }
)  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_CALL_ID = re.compile(
    r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+)?\Z"
)
_MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5
_T = TypeVar("_T")


def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (compact forms expanded)."""
    low = name.lower()
    if len(low) == 1 and low in COMPACT_FORMS:
        return COMPACT_FORMS[low]
    return _CANONICAL.get(low, name)


def compact_name(name: str) -> str:
    return _LONG_TO_COMPACT.get(name.lower(), name)


def split_values(value: str) -> list[str]:
    """Split a list header at commas outside quotes and angle brackets; empty items are errors."""
    if "," not in value:
        return [value]
    out: list[str] = []
    start = 0
    in_quote = in_angle = False
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            out.append(value[start:i].strip(" \t"))
            start = i + 1
        i += 1
    if in_quote or in_angle:
        raise SipParseError("unbalanced quotes or brackets")
    out.append(value[start:].strip(" \t"))
    if any(not item for item in out):
        raise SipParseError("empty list item")
    return out


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (RFC 3261 §20.42): ``SIP/2.0/UDP host:port;branch=z9hG4bK…``."""

    transport: str  # uppercase, e.g. "UDP"
    host: str
    port: int | None = None
    params: Params = ()

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        for k, v in self.params:
            if k == name:
                return v if v is not None else ""
        return None

    @property
    def branch(self) -> str | None:
        return self.param("branch") or None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return (self.host.lower(), self.port)

    def with_params(self, **updates: str | None) -> Via:
        kept = [(k, v) for k, v in self.params if k not in updates]
        kept.extend(updates.items())
        return replace(self, params=tuple(kept))


def parse_via(value: str) -> Via:
    protocol, _, rest = value.strip(" \t").partition(" ")
    # SLASH = SWS "/" SWS: "SIP / 2.0 / UDP" is legal, so rejoin around the slashes.
    while rest and (protocol.endswith("/") or rest.lstrip(" \t").startswith("/")):
        nxt, _, rest = rest.lstrip(" \t").partition(" ")
        protocol += nxt
    parts = protocol.split("/")
    if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0" or not _TOKEN.match(parts[2]):
        raise SipParseError("bad Via protocol")
    hostport, semi, param_text = rest.strip(" \t").partition(";")
    hostport = hostport.strip(" \t")
    if not hostport:
        raise SipParseError("Via without sent-by")
    host, port = parse_host_port(hostport)
    params = parse_params(param_text) if semi else ()
    return Via(parts[2].upper(), host, port, params)


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    number, _, method = value.strip(" \t").partition(" ")
    method = method.strip(" \t")
    if not is_digits(number) or not _TOKEN.match(method):
        raise SipParseError("bad CSeq")
    seq = int(number)
    if seq > _MAX_CSEQ:
        raise SipParseError("CSeq out of range")
    return CSeq(seq, method)


class Headers:
    """An ordered multi-map of header fields; lookups are case-insensitive and expand compact
    names. Typed views raise ``SipParseError`` on a malformed value."""

    __slots__ = ("_cache", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []  # (lowercase long name, name, value)
        self._cache: dict[str, object] = {}
        for name, value in items:
            self.add(name, value)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((name, value) for _, name, value in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def copy(self) -> Headers:
        out = Headers()
        out._items = list(self._items)
        return out

    def _key(self, name: str) -> str:
        low = name.lower()
        if len(low) == 1 and low in COMPACT_FORMS:
            return COMPACT_FORMS[low].lower()
        return low

    def get(self, name: str) -> str | None:
        key = self._key(name)
        for k, _, v in self._items:
            if k == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        return self._values(self._key(name))

    def _values(self, key: str) -> list[str]:
        return [v for k, _, v in self._items if k == key]

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Append a value (or put it first, as a proxy adds its Via)."""
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError("header name or value with a line break or colon")
        name = canonical_name(name)
        item = (name.lower(), name, value)
        if first:
            self._items.insert(0, item)
        else:
            self._items.append(item)
        self._cache.clear()

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one value, at the place of the first."""
        key = self._key(name)
        at = next((i for i, (k, _, _) in enumerate(self._items) if k == key), len(self._items))
        self.remove(name)
        name = canonical_name(name)
        self._items.insert(min(at, len(self._items)), (name.lower(), name, value))
        self._cache.clear()

    def remove(self, name: str) -> None:
        key = self._key(name)
        self._items = [item for item in self._items if item[0] != key]
        self._cache.clear()

    def _append_raw(self, key: str, name: str, value: str) -> None:
        self._items.append((key, name, value))

    # Typed views, cached until the next change.
    def _typed(self, key: str, build: Callable[[], _T]) -> _T:
        try:
            return self._cache[key]  # type: ignore[return-value]  # stored by this method only
        except KeyError:
            value = build()
            self._cache[key] = value
            return value

    def via(self) -> list[Via]:
        return self._typed("via", lambda: [parse_via(v) for v in self._values("via")])

    def cseq(self) -> CSeq:
        return self._typed("cseq", lambda: parse_cseq(self._required("cseq")))

    def call_id(self) -> str:
        def build() -> str:
            value = self._required("call-id").strip(" \t")
            if not _CALL_ID.match(value):
                raise SipParseError("bad Call-ID")
            return value

        return self._typed("call-id", build)

    def from_(self) -> NameAddr:
        return self._typed("from", lambda: parse_name_addr(self._required("from")))

    def to(self) -> NameAddr:
        return self._typed("to", lambda: parse_name_addr(self._required("to")))

    def contact(self) -> list[NameAddr]:
        """Contact values; ``*`` (REGISTER only) is not supported here and is an error."""
        return self._typed("contact", lambda: self._addresses("contact"))

    def record_route(self) -> list[NameAddr]:
        return self._typed("record-route", lambda: self._addresses("record-route"))

    def route(self) -> list[NameAddr]:
        return self._typed("route", lambda: self._addresses("route"))

    def _addresses(self, key: str) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self._values(key)]

    def max_forwards(self) -> int | None:
        def build() -> int | None:
            value = self.get("max-forwards")
            if value is None:
                return None
            value = value.strip(" \t")
            if not is_digits(value, 3) or int(value) > 255:
                raise SipParseError("bad Max-Forwards")
            return int(value)

        return self._typed("max-forwards", build)

    def tokens(self, name: str) -> frozenset[str]:
        """A token list header (Allow, Supported, Require …) as a lowercase set."""
        return frozenset(v.strip(" \t").lower() for v in self.get_all(name))

    def _required(self, key: str) -> str:
        values = self._values(key)
        value = values[0] if values else None
        if value is None:
            raise SipParseError(f"missing {canonical_name(key)}")
        return value


def contact_uri(headers: Headers) -> SipUri | None:
    """The first Contact's URI when it is a SIP URI (a dialog's remote target)."""
    contacts = headers.contact()
    if contacts and isinstance(contacts[0].uri, SipUri):
        return contacts[0].uri
    return None
