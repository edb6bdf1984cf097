"""Dtype policy: canonical dtypes (32-bit unless ``enable_x64``) and JAX's promotion lattice.

Python scalars are *weakly typed*: they adopt the dtype of the array they meet instead of
widening it (``f32_array * 2.0`` stays float32). Promotion follows JAX's type lattice rather than
NumPy's value-based rules, so the result dtype depends on dtypes only, never on values.
"""

from __future__ import annotations

import numpy as np

from vfunc.config import config
from vfunc.errors import DtypeError

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

SUPPORTED = frozenset(
    [bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64]
    + [float16, float32, float64, complex64, complex128]
)
_NARROW = {int64: int32, uint64: uint32, float64: float32, complex128: complex64}

_SHORT = {
    bool_: "bool", int8: "i8", int16: "i16", int32: "i32", int64: "i64", uint8: "u8",
    uint16: "u16", uint32: "u32", uint64: "u64", float16: "f16", float32: "f32", float64: "f64",
    complex64: "c64", complex128: "c128",
}  # fmt: skip


def short_name(dtype: np.dtype) -> str:
    """The jaxpr spelling of a dtype: ``f32``, ``i32``, ``bool``."""
    return _SHORT[dtype]


def check_supported(dtype: np.dtype, op: str = "vfunc") -> np.dtype:
    """Return ``dtype`` if vfunc can hold it, else raise a TypeError naming it and the op."""
    if dtype not in SUPPORTED:
        raise DtypeError(
            f"{op}: dtype {dtype} is not supported; vfunc arrays hold bool, integer, float and "
            "complex numbers. Convert strings or objects to numbers before passing them in."
        )
    return dtype


def canonicalize(dtype) -> np.dtype:
    """Map a requested dtype to the one vfunc stores: 64-bit types narrow unless x64 is on.

    Raises:
        TypeError: for dtypes vfunc cannot hold (object, strings, datetimes, structured).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise DtypeError(f"{dtype!r} is not a dtype vfunc understands") from err
    if not dt.isnative:
        dt = dt.newbyteorder("=")
    check_supported(dt)
    if config.enable_x64:
        return dt
    return _NARROW.get(dt, dt)


def default_int() -> np.dtype:
    """int64 with x64 enabled, else int32."""
    return int64 if config.enable_x64 else int32


def default_float() -> np.dtype:
    """float64 with x64 enabled, else float32."""
    return float64 if config.enable_x64 else float32


def default_complex() -> np.dtype:
    """complex128 with x64 enabled, else complex64."""
    return complex128 if config.enable_x64 else complex64


def is_float(dtype: np.dtype) -> bool:
    """True for real or complex floating dtypes (the differentiable ones)."""
    return dtype.kind in "fc"


def is_int(dtype: np.dtype) -> bool:
    """True for signed or unsigned integer dtypes (not bool)."""
    return dtype.kind in "iu"


# JAX's promotion lattice. 'i*', 'f*', 'c*' are the weak (Python scalar) kinds; an edge a -> b
# means a promotes to b. The result of mixing dtypes is their least upper bound.
_EDGES: dict[object, list[object]] = {
    bool_: ["i*"], "i*": [uint8, int8], "f*": [float16, "c*"], "c*": [complex64],
    uint8: [int16, uint16], uint16: [int32, uint32], uint32: [int64, uint64], uint64: ["f*"],
    int8: [int16], int16: [int32], int32: [int64], int64: ["f*"],
    float16: [float32], float32: [float64, complex64], float64: [complex128],
    complex64: [complex128], complex128: [],
}  # fmt: skip


def _upper_bounds() -> dict[object, frozenset]:
    def reach(node, seen):
        if node not in seen:
            seen.add(node)
            for nxt in _EDGES[node]:
                reach(nxt, seen)
        return seen

    return {node: frozenset(reach(node, set())) for node in _EDGES}


_UPPER = _upper_bounds()
_WEAK_NODE = {"i": "i*", "u": "i*", "f": "f*", "c": "c*"}


def _join(a, b):
    common = _UPPER[a] & _UPPER[b]
    return next(c for c in common if _UPPER[c] >= common)


_JOIN = {(a, b): _join(a, b) for a in _EDGES for b in _EDGES}


def _node(dtype: np.dtype, weak: bool):
    return _WEAK_NODE[dtype.kind] if weak and dtype != bool_ else dtype


def _node_dtype(node) -> np.dtype:
    if node == "i*":
        return default_int()
    if node == "f*":
        return default_float()
    if node == "c*":
        return default_complex()
    return canonicalize(node)


def promote(*typed: tuple[np.dtype, bool]) -> tuple[np.dtype, bool]:
    """Least upper bound of ``(dtype, weak_type)`` pairs under JAX's lattice.

    Returns the canonical result dtype and whether the result is weakly typed (it is when it
    lands on a weak kind, e.g. int32 array mixed with a Python float gives weak float32).
    """
    first_dtype, first_weak = typed[0]
    if all(d == first_dtype for d, _ in typed):
        # An operand made while x64 was on may still carry a 64-bit dtype: narrow it here too.
        dtype = first_dtype if config.enable_x64 else _NARROW.get(first_dtype, first_dtype)
        return dtype, all(w for _, w in typed)
    all_weak = all(w for _, w in typed)
    node = _node(first_dtype, first_weak and not all_weak)
    for dtype, weak in typed[1:]:
        node = _JOIN[node, _node(dtype, weak and not all_weak)]
    dtype = _node_dtype(node)
    weak = all_weak or isinstance(node, str)
    return dtype, weak and dtype != bool_


def scalar_dtype(value: bool | int | float | complex) -> np.dtype:
    """The weak dtype a Python scalar takes: bool, the default int, float or complex."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return default_int()
    if isinstance(value, float):
        return default_float()
    if isinstance(value, complex):
        return default_complex()
    raise DtypeError(f"{type(value).__name__} is not a Python scalar type vfunc accepts")
