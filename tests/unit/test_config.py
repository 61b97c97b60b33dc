"""Settings layers and strictness: defaults ← TOML ← TELEX_* ← CLI; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from telex.config import ConfigError, load_settings


def test_defaults() -> None:
    s = load_settings(environ={})
    assert (s.host, s.port, s.tls_port, s.data_dir) == ("127.0.0.1", 8080, 8443, Path(".telex"))
    assert s.identity.hmac_skew_seconds == 900
    assert s.turn.port == 3478


def test_layers_override_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "telex.toml"
    cfg.write_text('port = 1000\ntls_port = 1001\nhost = "::1"\n[identity]\nhmac_skew_seconds = 60\n')
    env = {"TELEX_PORT": "2000", "TELEX_IDENTITY__HMAC_SKEW_SECONDS": "120"}
    s = load_settings(cfg, environ=env, cli={"port": 3000})
    assert (s.port, s.tls_port, s.host, s.identity.hmac_skew_seconds) == (3000, 1001, "::1", 120)


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "telex.toml"
    cfg.write_text("port = 1234\n")
    assert load_settings(environ={"TELEX_CONFIG": str(cfg)}).port == 1234


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("prot = 1\n", "prot: unknown key"),
        ("[identity]\nskew = 1\n", "identity.skew: unknown key"),
        ("[nosuchsection]\na = 1\n", "nosuchsection: unknown key"),
        ("port = 70000\n", "port"),
        ('port = "http"\n', "port"),
    ],
)
def test_bad_file_keys_are_errors(tmp_path: Path, toml: str, needle: str) -> None:
    cfg = tmp_path / "telex.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, environ={})


def test_unknown_environment_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match="porrt: unknown key"):
        load_settings(environ={"TELEX_PORRT": "1"})


def test_access_key_variable_is_not_a_setting() -> None:
    load_settings(environ={"TELEX_ACCESS_KEY": "abc"})


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_turn_loopback_peers_are_off_by_default() -> None:
    settings = load_settings(environ={}).turn
    assert getattr(settings, "allow_loopback_peers", False) is False


def test_example_config_lists_every_setting_with_its_default() -> None:
    import tomllib

    from telex.config import Settings

    example = Path(__file__).parents[2] / "telex.example.toml"
    assert load_settings(example, environ={}) == load_settings(environ={})
    written = tomllib.loads(example.read_text())
    optional = {"access_key_file"}  # shown commented out: it has no default value to write
    for name, field in Settings.model_fields.items():
        if name in optional:
            continue
        assert name in written, f"telex.example.toml lacks {name}"
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            missing = set(section.model_fields) - set(written[name]) - {"tls_cert_file", "tls_key_file"}
            assert not missing, f"telex.example.toml [{name}] lacks {sorted(missing)}"
