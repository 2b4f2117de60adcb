from __future__ import annotations

from typing import Any

import pytest

from syncd.store.db import Database
from tests.core.conftest import env  # noqa: F401 (the sandbox configuration, for the CLI tests)
from tests.reports.data import seed


@pytest.fixture
def seeded(db: Database) -> tuple[Database, dict[str, Any]]:
    return db, seed(db)
