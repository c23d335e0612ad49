"""Shared fixtures of the parity suite."""

import pytest

from parity_tests.compare import parity_precision


@pytest.fixture(scope="session")
def cpu():
    """Checks run on CPU at full float32 precision; yields the torch device."""
    with parity_precision("cpu") as (device, _):
        yield device
