"""Global configuration, read like ``jax.config``.

Only flags that change semantics live here. ``enable_x64`` starts from the environment variable
``VFUNC_ENABLE_X64`` (``1``/``true``) and can be flipped with ``config.update``.
"""

from __future__ import annotations

import os
from typing import Any


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Config:
    """Holds vfunc's flags; use the module-level ``config`` instance."""

    def __init__(self) -> None:
        self.enable_x64: bool = _env_flag("VFUNC_ENABLE_X64")
        self._listeners: list = []

    def update(self, name: str, value: Any) -> None:
        """Set flag ``name`` to ``value``, e.g. ``config.update("enable_x64", True)``.

        Raises:
            AttributeError: if ``name`` is not a known flag.
        """
        if name not in ("enable_x64",):
            raise AttributeError(f"vfunc.config has no flag {name!r}; known flags: enable_x64")
        setattr(self, name, bool(value))
        for listener in self._listeners:
            listener(name)

    def read(self, name: str) -> Any:
        """Return the current value of flag ``name``."""
        return getattr(self, name)

    def on_update(self, listener) -> None:
        """Call ``listener(name)`` after every update (caches keyed on flags register here)."""
        self._listeners.append(listener)


config = Config()
