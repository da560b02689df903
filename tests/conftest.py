"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    """Run async tests on asyncio only."""
    return "asyncio"
