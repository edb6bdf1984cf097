"""``r_`` and ``c_``: NumPy's index-expression shorthands for building arrays by concatenation.

``vnp.r_[1:4, [7, 8], x]`` joins its pieces along the first axis, ``vnp.c_[a, b]`` stacks them
as columns. Slices expand to ``arange`` (or ``linspace`` for a complex step such as ``0:1:5j``)
and need concrete bounds; the pieces may be traced arrays, as in JAX.
"""

from __future__ import annotations

from typing import Any

from vfunc.core import Array
from vfunc.numpy._promote import as_array, promote_args
from vfunc.numpy.creation import arange, linspace
from vfunc.numpy.movement import concatenate
from vfunc.numpy.shapes import reshape


def _slice_range(op: str, s: slice) -> Array:
    start = 0 if s.start is None else s.start
    step = 1 if s.step is None else s.step
    if isinstance(step, complex):
        # a complex step counts points, end included, as numpy.linspace
        return as_array(linspace(start, s.stop, int(abs(step))), op)
    if s.stop is None:
        raise ValueError(f"{op}: the slice {s} needs a stop")
    return arange(start, s.stop, step)


class _Concatenator:
    def __init__(self, name: str, axis: int, columns: bool):
        self._name, self._axis, self._columns = name, axis, columns

    def __getitem__(self, key: Any) -> Array:
        items = key if isinstance(key, tuple) else (key,)
        axis = self._axis
        pieces = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                if i != 0:
                    raise ValueError(f"{self._name}: a string directive must come first")
                try:
                    axis = int(item)
                except ValueError:
                    raise NotImplementedError(
                        f"{self._name}: only an axis directive such as '1' is supported, got "
                        f"{item!r}"
                    ) from None
                continue
            piece = _slice_range(self._name, item) if isinstance(item, slice) else item
            piece = as_array(piece, self._name)
            if piece.ndim == 0:
                piece = reshape(piece, (1,))
            if self._columns and piece.ndim == 1:
                piece = reshape(piece, (-1, 1))  # c_: vectors become columns
            pieces.append(piece)
        if not pieces:
            raise ValueError(f"{self._name}: nothing to join")
        return concatenate(promote_args(*pieces), axis)

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"vfunc.numpy.{self._name}"


r_ = _Concatenator("r_", 0, columns=False)
c_ = _Concatenator("c_", -1, columns=True)

__all__ = ["c_", "r_"]
