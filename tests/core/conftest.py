"""Fixtures shared by the command-line tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.core.test_config_loader import SANDBOX


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sandbox configuration as SYNCD_CONFIG_DIR, a data directory, and simulators nobody runs."""
    cfg = tmp_path / "config"
    shutil.copytree(SANDBOX, cfg)
    monkeypatch.setenv("SYNCD_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("SYNCD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNCD_SANDBOX_URL", "http://127.0.0.1:9")
    return cfg
