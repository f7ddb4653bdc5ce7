from pathlib import Path

import pytest

from portal.runtime.settings import Settings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "citywifi.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.radius.auth_port == 1812
    assert settings.listener.port == 50100


def test_toml_then_env_overlay(tmp_path: Path) -> None:
    path = write(tmp_path, """
data_dir = "/var/lib/citywifi"
[radius]
auth_port = 11812
workers = 4
[redis]
sentinels = ["10.0.0.1:26379", "10.0.0.2:26379"]
[[acs]]
name = "ac1"
addresses = ["192.0.2.1"]
secret = "s3cret"
vendor = "h3c"
""")
    env = {"CITYWIFI_RADIUS_AUTH_PORT": "21812", "CITYWIFI_PORTAL_CLIENT_TIMEOUT": "1.5",
           "CITYWIFI_RADIUS_REQUIRE_MESSAGE_AUTHENTICATOR": "no"}
    settings = load_settings(path, environ=env)
    assert settings.data_dir == Path("/var/lib/citywifi")
    assert settings.radius.auth_port == 21812          # env wins over the file
    assert settings.radius.workers == 4                # file wins over the default
    assert settings.portal_client.timeout == 1.5
    assert settings.radius.require_message_authenticator == "no"   # the old boolean words still work
    assert settings.redis.sentinels == ("10.0.0.1:26379", "10.0.0.2:26379")
    assert settings.acs[0].name == "ac1" and settings.acs[0].addresses == ("192.0.2.1",)


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level = 'DEBUG'\n")
    assert load_settings(None, environ={"CITYWIFI_CONFIG": str(path)}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[radius]\nauth_port = 'abc'\n", {}, "radius.auth_port"),
        ("[radius]\nauth_prot = 1812\n", {}, "radius.auth_prot"),
        ("[nonsense]\nx = 1\n", {}, "nonsense"),
        ("", {"CITYWIFI_RADIUS_AUTH_PORT": "abc"}, "CITYWIFI_RADIUS_AUTH_PORT"),
        ("", {"CITYWIFI_RADIUS_AUTH_PROT": "1"}, "CITYWIFI_RADIUS_AUTH_PROT"),
        ("[[acs]]\nname = 'x'\nport = true\n", {}, "acs[0].port"),
        ("[listener]\nport = 1.5\n", {}, "listener.port"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ=env)
    assert info.value.key == key
    assert str(info.value).startswith(key)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "[radius\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(path, environ={})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_message_authenticator_policies_take_yes_no_auto_and_old_booleans(tmp_path: Path) -> None:
    path = write(tmp_path, """
[radius]
require_message_authenticator = true
limit_proxy_state = "AUTO"
[[acs]]
name = "old"
addresses = ["192.0.2.1"]
secret = "s3cret"
require_message_authenticator = false
[[acs]]
name = "new"
addresses = ["192.0.2.2"]
secret = "s3cret"
""")
    settings = load_settings(path, environ={})
    assert settings.radius.require_message_authenticator == "yes"
    assert settings.radius.limit_proxy_state == "auto"
    assert settings.acs[0].require_message_authenticator == "no"
    assert settings.acs[1].require_message_authenticator == ""      # the global setting
    assert settings.acs[1].strip_realm is True
    assert load_settings(None, environ={}).radius.require_message_authenticator == "auto"
    bad = write(tmp_path, "[radius]\nlimit_proxy_state = \"sometimes\"\n")
    with pytest.raises(SettingsError, match=r"radius\.limit_proxy_state: expected yes, no or auto"):
        load_settings(bad, environ={})
