"""`jax.debug`'s printing and callbacks: see concrete values from inside `jit`, `vmap` and `grad`.

A plain `print(x)` inside a jitted function prints a tracer once, while tracing. `debug.print`
and `debug.callback` instead stage a `debug_callback` primitive, which the compiler never drops,
so they run on every call with that call's values: under `vmap` once per member of the batch,
under `grad` with the primal values, as in JAX.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import Array
from vfunc.primitives.debug import Callback, debug_callback_p

__all__ = ["breakpoint", "callback", "print"]


def callback(
    callback: Callable[..., Any],
    *args: Any,
    ordered: bool = False,
    partitioned: bool = False,
    **kwargs: Any,
) -> None:
    """Calls `callback(*args, **kwargs)` with concrete values, wherever the call is traced.

    Args:
        callback: a Python function; its return value is ignored.
        *args, **kwargs: pytrees whose array leaves `callback` receives as concrete vfunc
            Arrays (other leaves pass through unchanged).
        ordered, partitioned: accepted for JAX compatibility; vfunc runs callbacks in program
            order on one device, so both hold always.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> f = vfunc.jit(lambda x: callback(lambda v: builtins.print("got", v), x) or x + 1)
        >>> _ = f(vnp.arange(2.0))
        got [0. 1.]
    """
    del ordered, partitioned
    leaves, treedef = tree.flatten((args, kwargs))
    is_operand = [isinstance(leaf, (Array, np.ndarray)) for leaf in leaves]
    operands = [leaf for leaf, op in zip(leaves, is_operand, strict=True) if op]

    def rebuild(values: list[Array]) -> tuple[tuple, dict]:
        it = iter(values)
        filled = [next(it) if op else leaf for leaf, op in zip(leaves, is_operand, strict=True)]
        rebuilt: Any = tree.unflatten(treedef, filled)  # the (args, kwargs) pair flattened
        return rebuilt

    debug_callback_p.bind(*operands, callback=Callback(callback, rebuild))


def print(fmt: str, *args: Any, ordered: bool = False, **kwargs: Any) -> None:  # noqa: A001
    """Prints `fmt.format(*args, **kwargs)` with concrete values, as `jax.debug.print`.

    Args:
        fmt: a `str.format` template: `"x={x}"`, `"{} and {}"`, `"{x:.3f}"` for a scalar.
        *args, **kwargs: the values (pytrees of arrays) to format.
        ordered: accepted for JAX compatibility (vfunc prints in program order).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> _ = vfunc.vmap(lambda x: print("x={x}", x=x) or x)(vnp.arange(2.0))
        x=0.0
        x=1.0
    """

    def show(*values: Any, **named: Any) -> None:
        builtins.print(fmt.format(*values, **named))

    callback(show, *args, ordered=ordered, **kwargs)


def breakpoint(  # noqa: A001 - JAX's name
    *,
    backend: str | None = None,
    filter_frames: bool = True,
    num_frames: int | None = None,
    ordered: bool = False,
    token: Any = None,
) -> None:
    """Enters the Python debugger when the surrounding code runs, as `jax.debug.breakpoint`.

    Staged like `callback`: inside `jit` it stops on every call, not once while tracing; inside
    a `lax.cond` branch only when that branch is taken (so `cond(ok, pass_fn, stop_fn, x)` is
    a conditional breakpoint); under `vmap` once per member of the batch.

    Where we differ from JAX: JAX opens its own debugger over the frames it captured while
    tracing, with their traced values made concrete; vfunc calls `sys.breakpointhook()` (pdb
    unless `PYTHONBREAKPOINT` says otherwise), which shows the live Python stack of the call.

    Args:
        backend, filter_frames, num_frames, ordered, token: accepted for JAX compatibility.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> def stop_if_nonfinite(x):
        ...     vfunc.lax.cond(vnp.isfinite(x).all(), lambda: None, breakpoint)
        >>> vfunc.jit(lambda x: stop_if_nonfinite(x) or x)(1.0)  # finite: no stop
        Array(1., dtype=float32, weak_type=True)
    """
    del backend, filter_frames, num_frames, ordered, token
    callback(lambda: sys.breakpointhook())
