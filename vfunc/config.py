"""Global configuration, read like ``jax.config``.

Only flags that change semantics live here. ``enable_x64`` starts from the environment variable
``VFUNC_ENABLE_X64`` (``1``/``true``) and can be flipped with ``config.update``.

Every flag here changes what a traced program computes (``enable_x64`` decides the dtype of
``vnp.ones(3)`` inside a jitted function), so ``Config.trace_key`` -- the values of all flags --
is part of every cache of traced or compiled programs: a function jitted before an update is
traced again after it.
"""

from __future__ import annotations

import os
from typing import Any


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# Flags that change the result of tracing a function; their values key jit's cache.
_FLAGS = ("enable_x64",)


class Config:
    """Holds vfunc's flags; use the module-level ``config`` instance."""

    def __init__(self) -> None:
        self.enable_x64: bool = _env_flag("VFUNC_ENABLE_X64")
        self._listeners: list = []

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _FLAGS:
            # A tuple of every flag's value, read once per jit call (cheaper than rebuilding
            # it there); kept current even when a flag is assigned directly.
            super().__setattr__("trace_key", tuple(getattr(self, f, None) for f in _FLAGS))

    def update(self, name: str, value: Any) -> None:
        """Set flag ``name`` to ``value``, e.g. ``config.update("enable_x64", True)``.

        Raises:
            AttributeError: if ``name`` is not a known flag.
        """
        if name not in _FLAGS:
            raise AttributeError(
                f"vfunc.config has no flag {name!r}; known flags: {', '.join(_FLAGS)}"
            )
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
