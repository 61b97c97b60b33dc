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
            commented = {"tls_cert_file", "tls_key_file", "cert_file", "key_file", "tls_client_ca_file",
                         "nonce_secret_file"}  # fmt: skip
            missing = set(section.model_fields) - set(written[name]) - commented
            assert not missing, f"telex.example.toml [{name}] lacks {sorted(missing)}"


@pytest.mark.parametrize(
    "value",
    [
        '["https://a.example", "https://b.example:8443"]',
        "https://a.example,https://b.example:8443",
        " https://a.example , https://b.example:8443 ,",
        "HTTPS://A.example:443,https://b.example:8443/",  # normalised as browsers send Origin
    ],
)
def test_list_settings_come_from_the_environment(value: str) -> None:
    s = load_settings(environ={"TELEX_HTTP__ALLOWED_ORIGINS": value})
    assert s.http.allowed_origins == ("https://a.example", "https://b.example:8443")


def test_every_list_setting_takes_json_or_commas() -> None:
    env = {
        "TELEX_TURN__DENIED_PEERS": "198.51.100.0/24, 203.0.113.0/24",
        "TELEX_TURN__EXTERNAL_URLS": '["turn:relay2.example:3478?transport=udp"]',
        "TELEX_TLS__HOSTNAMES": "telex.example,192.0.2.7",
        "TELEX_HTTP__ALLOWED_ORIGINS": "",
    }
    s = load_settings(environ=env)
    assert s.turn.denied_peers == ("198.51.100.0/24", "203.0.113.0/24")
    assert s.turn.external_urls == ("turn:relay2.example:3478?transport=udp",)
    assert s.tls.hostnames == ("telex.example", "192.0.2.7")
    assert s.http.allowed_origins == ()


def test_a_bad_json_list_in_the_environment_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"http\.allowed_origins: not a JSON array"):
        load_settings(environ={"TELEX_HTTP__ALLOWED_ORIGINS": '["https://a.example"'})


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/path", "ftp://x", "https://"])
def test_an_origin_that_is_not_one_is_refused(origin: str) -> None:
    with pytest.raises(ConfigError, match=r"http\.allowed_origins"):
        load_settings(environ={}, cli={"http": {"allowed_origins": [origin]}})


@pytest.mark.parametrize("key", ["outbound_allow_http", "outbound_allowed"])
def test_automation_outbound_keys_name_the_one_outbound_policy(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"automation\.{key}: moved to outbound\."):
        load_settings(environ={f"TELEX_AUTOMATION__{key.upper()}": "true"})


def test_the_moved_origin_setting_names_its_new_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"realtime\.allowed_origins: moved to http\.allowed_origins"):
        load_settings(environ={"TELEX_REALTIME__ALLOWED_ORIGINS": "https://a.example"})
    cfg = tmp_path / "telex.toml"
    cfg.write_text('[realtime]\nallowed_origins = ["https://a.example"]\n')
    with pytest.raises(ConfigError, match=r"realtime\.allowed_origins: moved to http\.allowed_origins"):
        load_settings(cfg, environ={})


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://Telex.Example.com", "https://telex.example.com/"),
        ("https://telex.example.com:443/", "https://telex.example.com/"),
        ("https://telex.example.com:8443", "https://telex.example.com:8443/"),
        ("http://[2001:db8::7]:8080", "http://[2001:db8::7]:8080/"),
    ],
)
def test_public_url_is_kept_as_an_origin_with_a_slash(given: str, stored: str) -> None:
    assert load_settings(environ={"TELEX_PUBLIC_URL": given}).public_url == stored


@pytest.mark.parametrize("given", ["telex.example.com", "https://telex.example.com/prefix", "*"])
def test_public_url_must_be_a_root_url(given: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        load_settings(environ={"TELEX_PUBLIC_URL": given})


def test_tls_files_go_together() -> None:
    with pytest.raises(ConfigError, match="tls"):
        load_settings(environ={"TELEX_TLS__CERT_FILE": "/etc/telex/cert.pem"})
