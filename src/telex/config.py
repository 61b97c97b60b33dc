"""Typed, validated settings: code defaults ← TOML file ← ``TELEX_*`` environment ← CLI flags.

Unknown keys are errors at every layer (a typo in a config file must not silently fall back to a
default). Nested sections use ``__`` in environment names: ``TELEX_IDENTITY__HMAC_SKEW_SECONDS``.
Secrets may come from files: ``access_key_file`` instead of ``TELEX_ACCESS_KEY``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telex.turn.settings import TurnSettings

__all__ = [
    "CallingSettings",
    "ChatSettings",
    "ConfigError",
    "DemoSettings",
    "IdentitySettings",
    "Settings",
    "TurnSettings",
    "load_settings",
]

# Environment variables that are read directly rather than as settings.
_ENV_NOT_SETTINGS = frozenset({"TELEX_ACCESS_KEY"})


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentitySettings(_Strict):
    """Management-plane auth and user tokens."""

    # acs-wire.md §2.1: other Azure HMAC services allow ±15 minutes; ACS documents none.
    hmac_skew_seconds: int = Field(default=900, ge=1, le=3600)
    # How long a node may trust a cached "revoked before" instant (the issue asks ≤ 1 s).
    revocation_cache_seconds: float = Field(default=0.5, ge=0, le=1)
    # How often a node re-reads the keyring (access and signing keys) from the store.
    keyring_refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    token_leeway_seconds: int = Field(default=30, ge=0, le=60)
    resource_location: str = "local"


class HttpSettings(_Strict):
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # Seconds SIGTERM waits for in-flight requests before closing connections.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)


class ChatSettings(_Strict):
    """Chat limits (acs-wire.md §4) and the realtime gateway. Rate limits are per node."""

    max_content_bytes: int = Field(default=28 * 1024, ge=1)
    max_participants: int = Field(default=250, ge=1)
    max_participants_per_batch: int = Field(default=200, ge=1)
    max_page_size: int = Field(default=200, ge=1)
    default_page_size: int = Field(default=100, ge=1)
    # ACS turns typing notifications and read receipts off above this many participants.
    signals_max_participants: int = Field(default=20, ge=0)
    # Rate limits (0 disables one): ACS documents these values.
    threads_per_user_per_10s: int = Field(default=10, ge=0)
    messages_per_thread_per_10s: int = Field(default=10, ge=0)
    messages_per_thread_per_minute: int = Field(default=30, ge=0)
    typing_per_user_per_10s: int = Field(default=5, ge=0)
    # Realtime gateway.
    realtime_queue_size: int = Field(default=1024, ge=8)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    auth_timeout_seconds: float = Field(default=5.0, gt=0)
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    # How often open connections re-check their token (revocation must close them within 1 s).
    token_check_seconds: float = Field(default=0.5, gt=0, le=1)
    # The hub re-reads the log this often even without a bus announcement (a lost one costs latency).
    poll_seconds: float = Field(default=1.0, gt=0)
    # Browser origins allowed to open /realtime (clients without an Origin header are always allowed).
    allowed_origins: tuple[str, ...] = ()


class CallingSettings(_Strict):
    """Voice, video and data calls (the ``[calling]`` section)."""

    # An unanswered invitation ends with the ``missed`` reason after this long.
    ring_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Calls are a full mesh of WebRTC peer connections until a media server exists: every
    # participant sends to every other, so upstream bandwidth grows with the size of the call.
    max_participants: int = Field(default=6, ge=2, le=32)
    # Largest SDP or ICE candidate a client may send through signaling.
    max_signal_bytes: int = Field(default=64 * 1024, ge=1024, le=1 << 20)
    # A joined participant whose client sends no ``:keepAlive`` for this long is dropped with
    # ``connectionLost`` (a closed laptop, a crashed tab): otherwise it would stay "connected",
    # hold a mesh slot and keep a group call from ever ending. 0 turns this off. 90 s because
    # Chrome throttles timers in a tab hidden for 5 minutes to one wake-up a minute.
    keepalive_timeout_seconds: float = Field(default=90.0, ge=0, le=3600)
    # The ringing timer re-checks the store at least this often (another node may add deadlines).
    timer_poll_seconds: float = Field(default=1.0, gt=0, le=60)


class DemoSettings(_Strict):
    """``serve --demo``: the demo web app at ``/`` and its sample trusted service."""

    # Off by default: the sample service signs in anyone who opens the page.
    enabled: bool = False
    # Lifetime of the tokens it mints (the page refreshes them through its session).
    token_minutes: int = Field(default=60, ge=60, le=1440)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)


class Settings(_Strict):
    data_dir: Path = Path("./.telex")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_port: int = Field(default=8443, ge=0, le=65535)
    # Empty: SQLite in ``data_dir``; otherwise an SQLAlchemy URL (``postgresql://…``).
    database: str = ""
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    access_key_file: Path | None = None
    identity: IdentitySettings = IdentitySettings()
    http: HttpSettings = HttpSettings()
    turn: TurnSettings = TurnSettings()
    chat: ChatSettings = ChatSettings()
    calling: CallingSettings = CallingSettings()
    demo: DemoSettings = DemoSettings()
    # Empty: in-process pub/sub; ``redis://…`` when several nodes share one PostgreSQL.
    bus: str = ""

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
            merged = _merge(merged, tomllib.loads(config_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        sources.append(str(config_file))
    env_layer = _env_layer(env)
    env_layer.pop("config", None)
    if env_layer:
        sources.append("environment")
    merged = _merge(merged, env_layer)
    if cli:
        sources.append("command line")
        merged = _merge(merged, {k: v for k, v in cli.items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, ", ".join(sources) or "defaults")) from exc
