"""Caches of work derived from a jaxpr object: its compiled function, a scan's compiled loop,
a loop pass's plan.

Keys are the jaxpr's ``id`` (plus parameters): sub-jaxprs live in equation params and are
hashed by identity, so the cache never walks a program. Each entry keeps its jaxpr alive, so
the id cannot be reused while the entry exists; the identity check guards the rare
clear-and-reuse. A cache that reaches its bound is cleared, not trimmed: entries are cheap to
rebuild and a bound only guards against programs that stage fresh jaxprs forever.

This module sits below the code generator, which compiles the sub-jaxprs of call equations
(a checkpoint's recomputation) through ``compiled``: the generator is installed here by the
compiler package (``install_codegen``) rather than imported, so the imports point one way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from vfunc.backends import (
    device_aware,
    device_aware_scan,
    on_backend_change,
    register_jaxpr_compiler,
)
from vfunc.jaxpr import ClosedJaxpr
from vfunc.transforms.compiler import cuda_fusion, passes

# Jitted code on a GPU: each fused cluster of the CPU's fusion plan becomes one CUDA kernel.
register_jaxpr_compiler("gpu", cuda_fusion.compile_for_backend)

MAX_ENTRIES = 4096


class JaxprCache:
    """``get(jaxpr, *key, make=...)``: ``make()`` computed once per (jaxpr object, key)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._entries: dict[tuple, tuple[ClosedJaxpr, Any]] = {}
        self._max = max_entries

    def get(self, jaxpr: ClosedJaxpr, *key: Hashable, make: Callable[[], Any]) -> Any:
        """The value cached for ``jaxpr`` (this object) and ``key``, made on first use."""
        full = (id(jaxpr), *key)
        entry = self._entries.get(full)
        if entry is None or entry[0] is not jaxpr:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[full] = entry = (jaxpr, make())
        return entry[1]

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()


_codegen: Any = None  # vfunc.transforms.compiler.codegen, once the compiler package installs it


def install_codegen(codegen: Any) -> None:
    """Set the code generator ``compiled`` and ``compiled_loop`` use (a module with
    ``compile_jaxpr`` and ``compile_scan_loop``); done once, by ``vfunc.transforms.compiler``."""
    global _codegen
    _codegen = codegen


_BODIES = JaxprCache()
_LOOPS = JaxprCache()


@on_backend_change
def _forget_compiled() -> None:
    # A function compiled before a backend came (or went) would keep its old routing.
    _BODIES.clear()
    _LOOPS.clear()


def compiled(closed: ClosedJaxpr) -> Callable:
    """``closed`` optimised and compiled to ``fn(*numpy_inputs) -> tuple of numpy outputs``."""
    return _BODIES.get(  # device_aware: the compiled fn itself without a device backend
        closed, make=lambda: device_aware(_codegen.compile_jaxpr(passes.optimize(closed), "body"))
    )


def compiled_loop(
    closed: ClosedJaxpr, num_consts: int, num_carry: int, length: int, reverse: bool
) -> Callable:
    """The scan over body ``closed`` as one compiled function ``(*consts, *init, *xs) ->
    (*final_carry, *stacked_ys)``, the body inlined as straight-line code."""

    def make() -> Callable:
        body = passes.optimize(closed)
        loop = _codegen.compile_scan_loop(body, num_consts, num_carry, length, reverse).fn
        return device_aware_scan(loop, body, num_consts, num_carry, length, reverse)

    return _LOOPS.get(closed, num_consts, num_carry, length, reverse, make=make)
