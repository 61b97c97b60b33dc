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

from pydantic import Field, ValidationError

from telex.calling import CallingSettings
from telex.chat import ChatSettings
from telex.core.settings import StrictSettings
from telex.demo.settings import DemoSettings
from telex.identity import IdentitySettings
from telex.notifications.settings import NotificationSettings
from telex.realtime import RealtimeSettings
from telex.turn.settings import TurnSettings
from telex.web.settings import HttpSettings

__all__ = [
    "CallingSettings",
    "ChatSettings",
    "ConfigError",
    "DemoSettings",
    "HttpSettings",
    "IdentitySettings",
    "NotificationSettings",
    "RealtimeSettings",
    "Settings",
    "TurnSettings",
    "load_settings",
]

# Environment variables that are read directly rather than as settings.
_ENV_NOT_SETTINGS = frozenset({"TELEX_ACCESS_KEY"})


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


class Settings(StrictSettings):
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
    realtime: RealtimeSettings = RealtimeSettings()
    calling: CallingSettings = CallingSettings()
    demo: DemoSettings = DemoSettings()
    notifications: NotificationSettings = NotificationSettings()
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
