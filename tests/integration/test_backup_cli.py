"""`samflode backup` and `samflode restore` as an operator types them: a clear error (Swedish) for what cannot be done,
nothing lost; the round trip itself is tests/integration/test_operations.py."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, Settings
from webui.cli import main


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SAMFLODE_PROCESSES_DIR", str(tmp_path))
    assert main(["init-db"]) == 0
    return tmp_path


def test_backup_then_restore_from_the_command_line(sqlite_env, capsys):
    target = sqlite_env / "kopia.db"
    assert main(["backup", str(target)]) == 0
    assert "Säkerhetskopian är skriven" in capsys.readouterr().out
    assert main(["backup", str(target)]) == 1  # never overwrites
    assert "finns redan" in capsys.readouterr().err
    assert main(["restore", str(target)]) == 2  # replacing everything needs --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["restore", str(target), "--yes"]) == 0
    assert "återställd" in capsys.readouterr().out
    assert main(["restore", str(sqlite_env / "saknas.db"), "--yes"]) == 1
    assert "finns inte" in capsys.readouterr().err


def test_serve_refuses_zero_workers(sqlite_env, capsys):
    assert main(["serve", "--workers", "0"]) == 2
    assert "minst 1" in capsys.readouterr().err


def test_operations_settings_are_checked():
    base = {"DATABASE_URL": "sqlite://"}
    assert Settings.from_env({**base, "SAMFLODE_SCHEDULERS": "2", "SAMFLODE_LOG_FORMAT": "json"}).schedulers == 2
    with pytest.raises(ConfigError, match="SAMFLODE_SCHEDULERS"):
        Settings.from_env({**base, "SAMFLODE_SCHEDULERS": "0"})
    with pytest.raises(ConfigError, match="heltal"):
        Settings.from_env({**base, "SAMFLODE_SCHEDULERS": "två"})
    with pytest.raises(ConfigError, match="SAMFLODE_LOG_FORMAT"):
        Settings.from_env({**base, "SAMFLODE_LOG_FORMAT": "xml"})
