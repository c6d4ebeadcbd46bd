"""Pipeline tests run without progress bars."""

import pytest


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVERSE_O1_NO_PROGRESS", "1")
