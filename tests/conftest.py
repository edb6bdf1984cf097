"""Shared fixtures. (Helpers: add fixtures here, do not replace the file.)"""

from __future__ import annotations

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
