"""Shared fixtures. (Helpers: add fixtures here, do not replace the file.)"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import vfunc


def _with_x64(enabled: bool):
    previous = vfunc.config.enable_x64
    vfunc.config.update("enable_x64", enabled)
    try:
        yield
    finally:
        vfunc.config.update("enable_x64", previous)


@pytest.fixture
def x64():
    """Run a test with 64-bit types enabled, restoring the previous setting afterwards."""
    yield from _with_x64(True)


@pytest.fixture
def x64_off():
    """Run a test with 32-bit defaults whatever the environment says (``VFUNC_ENABLE_X64``);
    modules whose expectations are 32-bit use it for every test via ``pytestmark``."""
    yield from _with_x64(False)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A NumPy generator seeded from this test's own id (parameters included): a test draws
    the same numbers whatever ran before it, alone or in the whole suite, and no two tests share
    a stream. Tests take it instead of a module-level generator."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
