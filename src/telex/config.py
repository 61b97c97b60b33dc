"""Typed, validated settings: code defaults ← TOML file ← ``TELEX_*`` environment ← CLI flags.

Unknown keys are errors at every layer (a typo in a config file must not silently fall back to a
default). Nested sections use ``__`` in environment names: ``TELEX_IDENTITY__HMAC_SKEW_SECONDS``.
A list setting takes a JSON array or comma-separated values from the environment:
``TELEX_HTTP__ALLOWED_ORIGINS='["https://a.example"]'`` or ``=https://a.example,https://b.example``.
Secrets may come from files: ``access_key_file`` instead of ``TELEX_ACCESS_KEY``.

    TOML ──┐
    env ───┼─► (env strings of list settings split) ─► merged dict ─► Settings.model_validate
    CLI ───┘                                                            └─ ConfigError naming the key
"""

from __future__ import annotations

import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from telex.automation.settings import AutomationSettings
from telex.calling import CallingSettings
from telex.carriers import CarriersSettings
from telex.chat import ChatSettings
from telex.core.settings import StrictSettings
from telex.demo.settings import DemoSettings
from telex.identity import IdentitySettings
from telex.notifications.settings import NotificationSettings
from telex.numbers import NumbersSettings
from telex.pstn.settings import SipSettings
from telex.push import PushSettings
from telex.realtime import RealtimeSettings
from telex.sms import SmsSettings
from telex.subscriptions import EventsSettings
from telex.tls import TlsSettings
from telex.turn.settings import TurnSettings
from telex.web.settings import HttpSettings, normalize_origin
from telex.webhooks import OutboundSettings

__all__ = [
    "AutomationSettings",
    "CallingSettings",
    "CarriersSettings",
    "ChatSettings",
    "ConfigError",
    "DemoSettings",
    "EventsSettings",
    "HttpSettings",
    "IdentitySettings",
    "NotificationSettings",
    "NumbersSettings",
    "OutboundSettings",
    "PushSettings",
    "RealtimeSettings",
    "Settings",
    "SmsSettings",
    "TlsSettings",
    "TurnSettings",
    "load_settings",
]

# Environment variables that are read directly rather than as settings.
_ENV_NOT_SETTINGS = frozenset({"TELEX_ACCESS_KEY", "TELEX_TURN_NATIVE"})
# Settings that moved: the old key is an error that names the new one.
_MOVED = {
    ("realtime", "allowed_origins"): "http.allowed_origins",
    ("automation", "outbound_allow_http"): "outbound.allow_http",
    ("automation", "outbound_allowed"): "outbound.allowed",
}
_LIST_TYPES = (tuple, list, set, frozenset)


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


class Settings(StrictSettings):
    data_dir: Path = Path("./.telex")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_port: int = Field(default=8443, ge=0, le=65535)
    # Empty: SQLite in ``data_dir``; otherwise an SQLAlchemy URL (``postgresql://…``).
    database: str = ""
    # Apply schema migrations at start (off: ``telex serve --no-migrate``, for deployments that
    # run ``telex migrate`` as a step of their own; the node then refuses a schema not at head).
    migrate: bool = True
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    access_key_file: Path | None = None
    # The URL clients reach this server by (behind a reverse proxy, or a public name):
    # "https://telex.example.com". It becomes the connection string's endpoint, a name in the
    # self-signed certificate and an origin of the server's own. Empty: https://host:tls_port/.
    public_url: str = ""
    identity: IdentitySettings = IdentitySettings()
    http: HttpSettings = HttpSettings()
    tls: TlsSettings = TlsSettings()
    turn: TurnSettings = TurnSettings()
    chat: ChatSettings = ChatSettings()
    realtime: RealtimeSettings = RealtimeSettings()
    calling: CallingSettings = CallingSettings()
    automation: AutomationSettings = AutomationSettings()
    demo: DemoSettings = DemoSettings()
    notifications: NotificationSettings = NotificationSettings()
    outbound: OutboundSettings = OutboundSettings()
    events: EventsSettings = EventsSettings()
    push: PushSettings = PushSettings()
    # Phone numbers, SMS and the carriers behind them (telex.numbers, telex.sms, telex.carriers).
    numbers: NumbersSettings = NumbersSettings()
    sms: SmsSettings = SmsSettings()
    carriers: CarriersSettings = CarriersSettings()
    # PSTN voice: the SIP trunk gateway (telex.pstn), on when a trunk is listed.
    sip: SipSettings = SipSettings()
    # Empty: in-process pub/sub; ``redis://…`` when several nodes share one PostgreSQL.
    bus: str = ""
    # How often ``telex serve`` hands freed memory back to the system (glibc's malloc_trim; 0
    # never). After a burst the allocator otherwise keeps the pages it grew by.
    memory_trim_seconds: float = Field(default=30.0, ge=0)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            origin = normalize_origin(value.rstrip("/"))
        except ValueError:
            origin = "*"
        if origin == "*":
            raise ValueError("must be http(s)://host[:port] (Telex serves at the root, no path)")
        return origin + "/"

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.data_dir / 'telex.db').resolve()}"


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("TELEX_") or name in _ENV_NOT_SETTINGS:
            continue
        path = name[len("TELEX_") :].lower().split("__")
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return layer


def _list_field(annotation: Any) -> bool:
    """A tuple/list setting (possibly ``X | None``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_list_field(a) for a in typing.get_args(annotation) if a is not type(None))
    return typing.get_origin(annotation) in _LIST_TYPES or annotation in _LIST_TYPES


def _split_list(name: str, text: str) -> Any:
    """A list from an environment string: a JSON array, or comma-separated values."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            problem = f"{name}: not a JSON array ({exc})"
            raise ConfigError(f"invalid configuration (environment): {problem}") from exc
    return [part.strip() for part in stripped.split(",") if part.strip()]


def _lists_from_env(model: type[BaseModel], layer: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``layer`` with the string values of list settings turned into lists (the environment has
    only strings; pydantic would read a string as one value, or refuse it)."""
    out = dict(layer)
    for key, value in layer.items():
        field = model.model_fields.get(key)
        if field is None:
            continue  # unknown: validation names it
        annotation = field.annotation
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out[key] = _lists_from_env(annotation, value, f"{prefix}{key}.")
        elif isinstance(value, str) and _list_field(annotation):
            out[key] = _split_list(f"{prefix}{key}", value)
    return out


def _check_moved(layer: Mapping[str, Any], source: str) -> None:
    for (section, key), new in _MOVED.items():
        old = layer.get(section)
        if isinstance(old, Mapping) and key in old:
            raise ConfigError(f"invalid configuration ({source}): {section}.{key}: moved to {new}")


def _describe(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return f"invalid configuration ({source}): " + "; ".join(parts)


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from the layers; raises ``ConfigError`` naming any bad or unknown key."""
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    sources = []
    if config_file is None and env.get("TELEX_CONFIG"):
        config_file = Path(env["TELEX_CONFIG"])
    if config_file is not None:
        try:
            file_layer = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        _check_moved(file_layer, str(config_file))
        merged = _merge(merged, file_layer)
        sources.append(str(config_file))
    env_layer = _env_layer(env)
    env_layer.pop("config", None)
    if env_layer:
        _check_moved(env_layer, "environment")
        env_layer = _lists_from_env(Settings, env_layer)
        sources.append("environment")
    merged = _merge(merged, env_layer)
    if cli:
        sources.append("command line")
        merged = _merge(merged, {k: v for k, v in cli.items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, ", ".join(sources) or "defaults")) from exc
