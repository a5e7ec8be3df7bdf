"""Settings: defaults, the vhost from the URL, and start-up failures that name the variable."""

import subprocess
import sys

import pytest

from services.common.settings import CommonSettings, load_settings


def test_defaults_and_vhost(monkeypatch, tmp_path):
    monkeypatch.delenv("SHOTLINE_AMQP_URL", raising=False)
    monkeypatch.setenv("SHOTLINE_HOME", str(tmp_path))
    settings = load_settings(CommonSettings)
    assert settings.amqp_url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.vhost == "/"
    assert settings.home == tmp_path.resolve()


def test_vhost_in_url_is_honoured(monkeypatch):
    monkeypatch.setenv("SHOTLINE_AMQP_URL", "amqp://u:p@broker:5672/lab%2Fone")
    assert load_settings(CommonSettings).vhost == "lab/one"


def test_settings_are_frozen():
    settings = CommonSettings()
    with pytest.raises(Exception):
        settings.home = "/elsewhere"  # type: ignore[misc]


def test_invalid_setting_fails_at_start_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("SHOTLINE_AMQP_URL", "http://not-amqp")
    monkeypatch.setenv("SHOTLINE_LOG_LEVEL", "LOUD")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(CommonSettings)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "SHOTLINE_AMQP_URL" in err and "SHOTLINE_LOG_LEVEL" in err


def test_command_refuses_to_start_with_invalid_settings():
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "topology"],
        env={"SHOTLINE_AMQP_URL": "amqp://", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "SHOTLINE_AMQP_URL" in proc.stderr


def test_the_broker_url_is_a_secret_in_every_rendering(monkeypatch):
    monkeypatch.setenv("SHOTLINE_AMQP_URL", "amqp://ingest:s3cret-pw@broker:5672/lab")
    settings = load_settings(CommonSettings)
    for rendering in (repr(settings), str(settings), str(settings.model_dump()),
                      settings.model_dump_json()):
        assert "s3cret-pw" not in rendering, rendering
    assert settings.vhost == "lab"
