from __future__ import annotations

from typing import Any

import pytest

from syncd.store.db import Database
from tests.reports.data import seed


@pytest.fixture
def seeded(db: Database) -> tuple[Database, dict[str, Any]]:
    return db, seed(db)
