"""Shared fixtures. (Helpers: add fixtures here, do not replace the file.)"""

from __future__ import annotations

import pytest

import vfunc


@pytest.fixture
def x64():
    """Run a test with 64-bit types enabled, restoring the previous setting afterwards."""
    previous = vfunc.config.enable_x64
    vfunc.config.update("enable_x64", True)
    try:
        yield
    finally:
        vfunc.config.update("enable_x64", previous)
