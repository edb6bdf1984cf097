"""``debug_callback``: call back into Python with concrete values, from inside any transformation.

The primitive has no outputs and one effect, running its callback, so the compiler keeps it
though nothing reads a result (``effectful=True``): ``jit`` runs the callback on every call, with
the values of that call, as ``jax.debug.callback`` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc.core import Array, Primitive, wrap_numpy


@dataclasses.dataclass(frozen=True, eq=False)
class Callback:
    """The user's function and how to rebuild its arguments from the flat operands.

    Compared by identity (``eq=False``), so it keys the jit cache as the function it wraps does.
    """

    fn: Callable[..., Any]
    rebuild: Callable[[list[Array]], tuple[tuple, dict]]

    def __call__(self, values: list[Array]) -> None:
        args, kwargs = self.rebuild(values)
        self.fn(*args, **kwargs)


def _impl(*operands: np.ndarray, callback: Callback) -> list:
    # The callback sees vfunc Arrays, as JAX's sees jax Arrays; what it returns is dropped.
    callback([wrap_numpy(np.asarray(x)) for x in operands])
    return []


def _shape(*avals: Any, callback: Callback) -> list:
    del avals, callback
    return []


def _batch(args: list, dims: list, *, callback: Callback) -> tuple[list, list]:
    # As JAX's default: one call per member of the batch, in order, each with its own slice.
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    for i in range(size):
        member = [
            a if d is None else lax.index_in_dim(a, i, axis=d, keepdims=False)
            for a, d in zip(args, dims, strict=True)
        ]
        debug_callback_p.bind(*member, callback=callback)
    return [], []


debug_callback_p = Primitive(
    "debug_callback",
    impl=_impl,
    shape=_shape,
    batch=_batch,
    multiple_results=True,
    # No outputs, so nothing to differentiate: under grad the callback sees the primal values
    # and adds no cotangent, as in JAX.
    differentiable=False,
    effectful=True,
)
