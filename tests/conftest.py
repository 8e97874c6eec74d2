"""Fixtures many test modules share; a module's own fixture of the same name wins."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.factories import Clock
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset

__all__ = ["clock", "dataset", "http"]


@pytest.fixture
def clock() -> Clock:
    """A settable clock (epoch seconds) at :data:`tests.factories.NOW`."""
    return Clock()


@pytest.fixture
def dataset() -> Dataset:
    """An empty Cloud Assistant dataset for a fake to answer from."""
    return Dataset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One pooled httpx client for the test, closed after it."""
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def cloud(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    """The Cloud Assistant fake on 127.0.0.1, answering from ``dataset``."""
    with CloudAssistantFake(dataset=dataset) as server:
        yield server
