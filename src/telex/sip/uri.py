"""SIP, SIPS and tel URIs, and the name-addr / addr-spec forms of From, To, Contact and Route.

Grammar references: RFC 3261 §19.1 (SIP-URI, SIPS-URI) and §25.1 (the ABNF), RFC 3966 §3 (tel),
RFC 3261 §20.10 (name-addr: a URI holding ``,``, ``?`` or ``;`` must sit inside ``<...>``, and
parameters after a bare addr-spec belong to the header, not to the URI).

    "Alice" <sip:alice:pw@example.com:5060;transport=tcp?subject=x>;tag=88
     └ display ┘ └─────────────── uri ─────────────────────────────┘ └ header params ┘

Parsing raises ``SipParseError`` and nothing else. URI parameter names are case-insensitive and
stored lowercase; so are the values of ``transport``, ``user``, ``method``, ``maddr`` and ``lr``
compared through the helpers here (a peer writing ``transport=UDP`` is the same as ``udp``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

from telex.sip._syntax import is_digits
from telex.sip.errors import SipParseError

__all__ = [
    "AbsoluteUri",
    "NameAddr",
    "Params",
    "SipUri",
    "TelUri",
    "Uri",
    "format_params",
    "parse_host_port",
    "parse_name_addr",
    "parse_params",
    "parse_uri",
    "quote_display_name",
]

# Parameters as an ordered tuple of (lowercase name, value or None for a flag).
Params = tuple[tuple[str, str | None], ...]

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# RFC 3261 §25.1 character classes, with %HH escapes checked separately.
_UNRESERVED = "A-Za-z0-9\\-_.!~*'()"
_USER_CHARS = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|%[0-9A-Fa-f]{{2}})+\Z")
_PASSWORD_CHARS = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|%[0-9A-Fa-f]{{2}})*\Z")
_PARAM_CHARS = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|%[0-9A-Fa-f]{{2}})+\Z")
_HEADER_CHARS = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|%[0-9A-Fa-f]{{2}})*\Z")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
_TEL_GLOBAL = re.compile(r"\+[0-9\-.()]*[0-9][0-9\-.()]*\Z")
_TEL_LOCAL = re.compile(r"[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*\Z")
_MAX_URI = 2048


def _check_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise SipParseError("bad IPv6 reference")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise SipParseError("bad IPv6 reference") from exc
        return host
    if not _HOSTNAME.match(host):
        raise SipParseError("bad host")
    return host


def parse_host_port(text: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 references in brackets (RFC 3261 §25.1 hostport)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("bad IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError("bad host")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    host = _check_host(host)
    if port_text is None:
        return host, None
    if not is_digits(port_text, 5):
        raise SipParseError("bad port")
    port = int(port_text)
    if port > 65535:
        raise SipParseError("bad port")
    return host, port


def parse_params(text: str, chars: re.Pattern[str] = _PARAM_CHARS) -> Params:
    """``;name[=value]`` pairs (the leading ``;`` already removed); names lowercased."""
    out: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        part = part.strip(" \t")
        if not part:
            raise SipParseError("empty parameter")
        name, sep, value = part.partition("=")
        name = name.strip(" \t")
        if not chars.match(name):
            raise SipParseError("bad parameter name")
        if sep:
            value = value.strip(" \t")
            if value.startswith('"'):
                value = _unquote(value)
            elif not chars.match(value):
                raise SipParseError("bad parameter value")
            out.append((name.lower(), value))
        else:
            out.append((name.lower(), None))
    return tuple(out)


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={_quote_if_needed(v)}" for k, v in params)


def _quote_if_needed(value: str) -> str:
    if value == "" or not _PARAM_CHARS.match(value):
        return quote_display_name(value)
    return value


def _unquote(text: str) -> str:
    """A whole quoted-string (RFC 3261 §25.1): quotes removed, ``\\x`` escapes resolved."""
    if len(text) < 2 or not text.endswith('"'):
        raise SipParseError("unterminated quoted string")
    out: list[str] = []
    i, end = 1, len(text) - 1
    while i < end:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= end:
                raise SipParseError("bad escape in quoted string")
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            raise SipParseError("stray quote")
        out.append(ch)
        i += 1
    return "".join(out)


def quote_display_name(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _param(params: Params, name: str) -> str | None:
    for k, v in params:
        if k == name:
            return v if v is not None else ""
    return None


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``port`` is None when absent (the transport's default)."""

    host: str
    user: str | None = None
    port: int | None = None
    scheme: str = "sip"
    password: str | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = field(default=())

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        hdrs = "?" + "&".join(f"{k}={v}" for k, v in self.headers) if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{hdrs}"

    def param(self, name: str) -> str | None:
        """A parameter's value ('' for a flag), None when absent; ``name`` is lowercase."""
        return _param(self.params, name)

    @property
    def transport(self) -> str:
        """The ``transport`` parameter lowercased; ``tls`` for sips: without one."""
        value = self.param("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def loose_route(self) -> bool:
        return self.param("lr") is not None

    def with_params(self, **updates: str | None) -> SipUri:
        """A copy with parameters set (value None = flag) or removed (value ``...`` not offered:
        use ``without_param``)."""
        kept = [(k, v) for k, v in self.params if k not in updates]
        kept.extend(updates.items())
        return replace(self, params=tuple(kept))

    def without_param(self, name: str) -> SipUri:
        return replace(self, params=tuple((k, v) for k, v in self.params if k != name))

    def without_headers(self) -> SipUri:
        return replace(self, headers=())


@dataclass(frozen=True, slots=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): a global number (``+`` then digits) or a local one with a
    ``phone-context`` parameter. ``number`` keeps visual separators; ``digits`` drops them."""

    number: str
    params: Params = ()
    scheme: str = "tel"

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.number if ch not in "-.()")

    def param(self, name: str) -> str | None:
        return _param(self.params, name)


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other scheme (``mailto:``, ``urn:``…), kept as text: a request to one gets 416."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    if len(text) > _MAX_URI:
        raise SipParseError("URI too long")
    scheme, sep, rest = text.partition(":")
    if not sep or not _SCHEME.match(scheme):
        raise SipParseError("bad URI scheme")
    low = scheme.lower()
    if low in ("sip", "sips"):
        return _parse_sip_uri(low, rest)
    if low == "tel":
        return _parse_tel_uri(rest)
    if not rest or any(ch in rest for ch in ' \t\r\n<>"'):
        raise SipParseError("bad URI")
    return AbsoluteUri(low, rest)


def _parse_sip_uri(scheme: str, rest: str) -> SipUri:
    # The user part may hold ';' and '?' (user-unreserved) but never '@', and nothing after the
    # host may hold a raw '@': the last '@' ends the userinfo.
    at = rest.rfind("@")
    user = password = None
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if not user or not _USER_CHARS.match(user):
            raise SipParseError("bad URI user")
        if colon:
            if not _PASSWORD_CHARS.match(pw):
                raise SipParseError("bad URI password")
            password = pw
    rest, qmark, header_text = rest.partition("?")
    headers: list[tuple[str, str]] = []
    if qmark:
        for item in header_text.split("&"):
            name, eq, value = item.partition("=")
            if not eq or not name or not _HEADER_CHARS.match(name) or not _HEADER_CHARS.match(value):
                raise SipParseError("bad URI header")
            headers.append((name, value))
    hostport, semi, param_text = rest.partition(";")
    host, port = parse_host_port(hostport)
    params = parse_params(param_text) if semi else ()
    return SipUri(host, user, port, scheme, password, params, tuple(headers))


def _parse_tel_uri(rest: str) -> TelUri:
    number, semi, param_text = rest.partition(";")
    params = parse_params(param_text) if semi else ()
    if number.startswith("+"):
        if not _TEL_GLOBAL.match(number):
            raise SipParseError("bad global telephone number")
    elif not _TEL_LOCAL.match(number) or _param(params, "phone-context") is None:
        # RFC 3966 §5.1.5: a local number needs its phone-context.
        raise SipParseError("bad local telephone number")
    return TelUri(number, params)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """The value of From, To, Contact, Route, Record-Route, Reply-To, P-Asserted-Identity."""

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    def __str__(self) -> str:
        name = f"{quote_display_name(self.display_name)} " if self.display_name is not None else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    @property
    def tag(self) -> str | None:
        value = self.param("tag")
        return value or None

    def with_tag(self, tag: str) -> NameAddr:
        kept = tuple((k, v) for k, v in self.params if k != "tag")
        return replace(self, params=(*kept, ("tag", tag)))


def parse_name_addr(text: str) -> NameAddr:
    """``[display-name] <URI> *(;param)`` or ``addr-spec *(;param)`` (RFC 3261 §20.10)."""
    text = text.strip(" \t")
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    if text.startswith('"'):
        end = _closing_quote(text)
        display = _unquote(text[: end + 1])
        text = text[end + 1 :].lstrip(" \t")
        if not text.startswith("<"):
            raise SipParseError("display name without <URI>")
    lt = text.find("<")
    if lt >= 0:
        if display is None and lt > 0:
            words = text[:lt].strip(" \t")
            # An unquoted display name is a sequence of tokens separated by LWS.
            if not all(_TOKEN.match(w) for w in words.split()):
                raise SipParseError("bad display name")
            display = " ".join(words.split())
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("unterminated <URI>")
        uri = parse_uri(text[lt + 1 : gt])
        tail = text[gt + 1 :].strip(" \t")
    else:
        # addr-spec: everything up to the first ';' is the URI; parameters belong to the header.
        spec, semi, tail_ = text.partition(";")
        if any(ch in spec for ch in ' \t,?"'):
            raise SipParseError("bad addr-spec")
        uri = parse_uri(spec)
        tail = ";" + tail_ if semi else ""
    params: Params = ()
    if tail:
        if not tail.startswith(";"):
            raise SipParseError("junk after address")
        params = parse_params(tail[1:])
    return NameAddr(uri, display, params)


def _closing_quote(text: str) -> int:
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise SipParseError("unterminated quoted string")
