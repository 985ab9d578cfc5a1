"""Typed settings: environment, flags, clear one-line errors, production safety."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import Env, SettingsError, load, resolve


def test_defaults_are_development_on_loopback() -> None:
    """With no environment the service is a local development instance."""
    s = load({})
    assert s.env is Env.DEVELOPMENT
    assert s.host == "127.0.0.1" and s.port == 8080
    assert s.redis_url is None and s.key_prefix == "duyet"


def test_environment_and_overrides() -> None:
    """DUYET_* variables are read, REDIS_URL unprefixed, and flags override the environment."""
    s = load(
        {"DUYET_PORT": "9000", "REDIS_URL": "redis://x:6379/0", "DUYET_CORS_ORIGINS": "https://a.vn, https://b.vn"},
        port=9100,
    )
    assert s.port == 9100
    assert s.redis_url == "redis://x:6379/0"
    assert s.cors_origins == ("https://a.vn", "https://b.vn")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DUYET_PORT": "eighty"}, "DUYET_PORT='eighty' is invalid: expected a TCP port"),
        ({"DUYET_PORT": "70000"}, "DUYET_PORT='70000' is invalid"),
        ({"DUYET_ENV": "prod"}, "DUYET_ENV='prod' is invalid: expected 'development' or 'production'"),
        ({"DUYET_CORS_ORIGINS": "portal.vn"}, "DUYET_CORS_ORIGINS"),
        ({"DUYET_TRUSTED_PROXIES": "10.0.0.300"}, "DUYET_TRUSTED_PROXIES"),
        ({"DUYET_KEY_PREFIX": "a b"}, "DUYET_KEY_PREFIX"),
        ({"DUYET_LOG_LEVEL": "LOUD"}, "DUYET_LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], needle: str) -> None:
    """An invalid value is reported in one line naming the variable and what it accepts."""
    with pytest.raises(SettingsError) as info:
        load(env)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_secret_is_never_echoed() -> None:
    """A too-short secret is refused without printing it."""
    with pytest.raises(SettingsError) as info:
        load({"DUYET_SECRET_KEY": "hunter2"})
    assert "hunter2" not in str(info.value)
    assert "DUYET_SECRET_KEY" in str(info.value)


def test_unknown_setting_warns(caplog: pytest.LogCaptureFixture) -> None:
    """A misspelt DUYET_ variable is warned about, not silently ignored."""
    with caplog.at_level(logging.WARNING):
        load({"DUYET_PROT": "1"})
    assert "DUYET_PROT" in caplog.text


def test_production_refuses_missing_secret_and_test_mode() -> None:
    """Production has no insecure defaults: no generated secret, no captcha test mode."""
    with pytest.raises(SettingsError, match="DUYET_SECRET_KEY must be set"):
        resolve(load({"DUYET_ENV": "production"}))
    with pytest.raises(SettingsError, match="CAPTCHA_TEST_CODE"):
        resolve(load({"DUYET_ENV": "production", "DUYET_SECRET_KEY": "s" * 40, "DUYET_CAPTCHA_TEST_CODE": "X"}))
    ok = resolve(load({"DUYET_ENV": "production", "DUYET_SECRET_KEY": "s" * 40}))
    assert ok.effective_log_format.value == "json"


def test_development_secret_is_generated_once(tmp_path: Path) -> None:
    """Development mode generates a secret in the data dir and keeps it across restarts."""
    first = resolve(load({"DUYET_DATA_DIR": str(tmp_path)}))
    second = resolve(load({"DUYET_DATA_DIR": str(tmp_path)}))
    assert first.secret_key and len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_cli_reports_bad_setting_and_exits_2() -> None:
    """`duyet serve` with a bad value stops at once with one clear line and exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "service.commands.main", "serve", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert "DUYET_PORT=99999 is invalid" in proc.stderr
