"""The core: arrays, abstract values, primitives, traces and jaxprs.

Everything above this module (primitives, transformations, front ends) is written against the
small vocabulary defined here:

* ``ShapedArray`` -- an abstract value: shape, dtype and weak type, nothing else.
* ``Array`` -- the public array type. Concrete values are ``ArrayImpl`` (an immutable wrapper of a
  numpy array); values under a transformation are ``Tracer`` subclasses.
* ``Primitive`` -- an operation declared once with its impl, shape rule and (later) its
  differentiation and batching rules. ``Primitive.bind`` dispatches: eagerly straight to ``impl``
  when no transformation is active, otherwise to the innermost trace that owns an argument.
* ``Trace`` -- an interpreter. Traces live on a thread-local stack; a trace's level is its position
  on that stack, so nested transformations compose and two threads never see each other's traces.
* ``Jaxpr`` -- a staged program: typed variables, literals and equations, printed like JAX's.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from vfunc import dtypes
from vfunc.config import config
from vfunc.devices import (
    Device,
    SingleDeviceSharding,
    as_buffer,
    device_of,
    hooks,
    synchronize,
    to_host,
)
from vfunc.errors import (
    ConcretizationTypeError,
    DtypeError,
    TracerArrayConversionError,
    UnexpectedTracerError,
)

# --------------------------------------------------------------------------------------------
# Abstract values


class ShapedArray:
    """The abstract value of an array: shape, dtype and whether its dtype is weak.

    Weak types come from Python scalars; they let ``x * 2.0`` keep ``x``'s dtype.
    """

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = bool(weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, **changes: Any) -> ShapedArray:
        """A copy with some of shape, dtype, weak_type replaced."""
        fields = {"shape": self.shape, "dtype": self.dtype, "weak_type": self.weak_type}
        fields.update(changes)
        return ShapedArray(**fields)

    def str_short(self) -> str:
        """The jaxpr spelling, e.g. ``f32[3,4]``."""
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def str_long(self) -> str:
        """JAX's spelling in tracer reprs, e.g. ``float32[3,4]``, ``~float32[]`` when weak."""
        weak = "~" if self.weak_type else ""
        return f"{weak}{self.dtype.name}[{','.join(map(str, self.shape))}]"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ShapedArray)
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.weak_type == other.weak_type
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.str_short()}{weak})"


class ShapeDtypeStruct:
    """A shape and dtype standing in for an array (``eval_shape``'s result type, as in JAX)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: Sequence[int], dtype, weak_type: bool = False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtypes.canonicalize(dtype)
        self.weak_type = bool(weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype, self.weak_type) == (
            other.shape,
            other.dtype,
            other.weak_type,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{weak})"


# --------------------------------------------------------------------------------------------
# Arrays

if TYPE_CHECKING:  # vfunc.numpy's operators and methods, declared for type checkers only
    from vfunc._array_methods import ArrayMethods
else:
    ArrayMethods = object


class Array(ArrayMethods):
    """The public array type: immutable, with NumPy's operators and methods.

    Concrete arrays are ``ArrayImpl``; inside ``make_jaxpr``/``jit``/``grad`` the values your
    function sees are tracers, which are also ``Array`` instances with the same methods.
    Arithmetic operators and methods are attached by ``vfunc.numpy`` from one table.
    """

    __slots__ = ()
    # numpy defers binary operators to us (np.ones(3) + x is an Array), as it does for JAX arrays.
    __array_priority__ = 100
    __hash__ = None  # type: ignore[assignment]  # mutable-looking values must not key dicts

    shape: tuple[int, ...]
    dtype: np.dtype
    weak_type: bool

    @property
    def aval(self) -> ShapedArray:
        return ShapedArray(self.shape, self.dtype, self.weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d array)")
        return self.shape[0]

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "vfunc arrays are immutable: instead of x[idx] = y, write "
            "x = x.at[idx].set(y) (or .add, .multiply, .min, .max), which returns a new array."
        )


class ArrayImpl(Array):
    """A concrete array: an immutable wrapper of a numpy array.

    Never construct directly; use ``vfunc.numpy.asarray``. The wrapped array is made read-only
    before it is ever handed out (``np.asarray(x)`` is zero-copy and cannot be written).
    """

    __slots__ = ("_value", "_weak")

    _value: np.ndarray
    _weak: bool

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self._value.dtype

    @property
    def weak_type(self) -> bool:  # type: ignore[override]
        return self._weak

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    def delete(self) -> None:
        """Release the buffer (as ``jax.Array.delete``); any later use raises RuntimeError.

        jit deletes the Arrays passed in ``donate_argnums``: their buffers may hold the
        outputs now.
        """
        self._value = _DELETED

    def is_deleted(self) -> bool:
        """Whether ``delete`` (or a donating jit call) has released this Array."""
        return self._value is _DELETED

    def block_until_ready(self) -> ArrayImpl:
        """Wait until this Array is computed and return it (host arrays are ready already)."""
        synchronize(self._value)
        return self

    def devices(self) -> set[Device]:
        """The devices holding this Array, as ``jax.Array.devices``: ``{CpuDevice(id=0)}``."""
        return {device_of(self._value)}

    @property
    def device(self) -> Device:
        """The device holding this Array (``cpu:0``, ``cuda:0``), as ``jax.Array.device``."""
        return device_of(self._value)

    @property
    def sharding(self) -> SingleDeviceSharding:
        """How this Array is laid out over devices: whole on one device."""
        return SingleDeviceSharding(device_of(self._value))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        value = self._value
        if type(value) is not np.ndarray:  # a device buffer (vfunc.backends): copy to host
            value = to_host(value)
        # Outputs of impls are only made read-only here, on export, which keeps eager dispatch
        # cheap; nothing inside vfunc ever writes to an impl's output.
        value.flags.writeable = False
        if copy:
            value = value.copy()
        if dtype is not None and np.dtype(dtype) != value.dtype:
            if copy is False:
                raise ValueError("converting an Array to another dtype requires a copy")
            value = value.astype(dtype)
        return value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def __index__(self) -> int:
        if not dtypes.is_int(self.dtype) and self.dtype != dtypes.bool_:
            raise TypeError(
                f"only integer arrays can be used as an index, got dtype {self.dtype} "
                f"with shape {self.shape}; use x.astype(int) first"
            )
        return self._value.__index__()

    def __iter__(self) -> Iterator[Array]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        weak = self._weak
        return (_wrap(row, weak) for row in self._value)

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(to_host(self._value)[()], spec)
        return format(str(self), spec)

    def __reduce__(self):
        # Pickling stores the values, not the (possibly shared) buffer.
        return (_unpickle, (np.array(to_host(self._value)), self._weak))

    def item(self, *args: Any) -> Any:
        """The element as a Python scalar, like ``ndarray.item``."""
        return self._value.item(*args)

    def tolist(self) -> Any:
        """Nested Python lists of Python scalars, like ``ndarray.tolist``."""
        return self._value.tolist()

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        if self._value is _DELETED:
            return "Array(<deleted>)"
        prefix = "Array("
        suffix = f", dtype={self.dtype.name}" + (", weak_type=True" if self._weak else "") + ")"
        if self._value.size == 0:
            body = "[]" if self._value.ndim == 1 else repr(self._value.shape)
            return f"{prefix}{body}{suffix}"
        host = to_host(self._value)
        body = np.array2string(host, prefix=prefix, suffix=suffix, separator=", ")
        return prefix + body + suffix


class _DeletedBuffer:
    """Stands in for the numpy buffer of a deleted (donated) Array: every use explains."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocol probes (doctest, copy, pickle) must stay quiet
            raise AttributeError(name)
        self._explain()

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        self._explain()

    @staticmethod
    def _explain() -> NoReturn:
        raise RuntimeError(
            "Array has been deleted: it was passed in donate_argnums of a jit call, which may "
            "have reused its buffer for the outputs. Use the call's outputs instead, or do not "
            "donate arrays you still need."
        )

    def __repr__(self) -> str:
        return "<deleted>"


_DELETED = _DeletedBuffer()


def _unpickle(value: np.ndarray, weak: bool) -> ArrayImpl:
    return _wrap(value, weak)


_new_array = object.__new__


def _wrap(value: Any, weak: bool) -> ArrayImpl:
    """Wrap an impl's numpy output (assumed canonical and never to be written) as an Array."""
    if type(value) is not np.ndarray:
        value = as_buffer(value)  # device buffers stay where they are
    out = _new_array(ArrayImpl)
    out._value = value
    out._weak = weak
    return out


def wrap_numpy(value: np.ndarray, weak: bool = False) -> ArrayImpl:
    """Wrap a numpy array that vfunc owns (nobody else holds a writable reference to it)."""
    place = hooks.place_new
    if place is not None:  # a default_device other than the CPU may be active
        value = place(value)
    return _wrap(value, weak)


def to_numpy_canonical(value: Any, dtype=None) -> tuple[np.ndarray, bool]:
    """Convert an array-like to a fresh numpy array of canonical dtype, and its weak type.

    Only exact Python scalars are weak; NumPy scalars (even ``np.float64``, a float subclass)
    and everything else are strongly typed. The result never aliases the input (a later write
    to the caller's numpy array must not change a vfunc Array).

    Raises:
        OverflowError: for a Python int (alone or inside a list) that the dtype cannot hold.
    """
    weak = False
    if isinstance(value, ArrayImpl):
        arr, weak = value._value, value._weak
        if dtype is None:
            return arr, weak
        if type(arr) is not np.ndarray:  # a device buffer converts where it lives
            return call_quietly(arr.astype, dtypes.canonicalize(dtype)), False
    elif isinstance(value, Tracer):
        raise TypeError("to_numpy_canonical got a tracer; this is a vfunc bug")
    elif type(value) in _PY_SCALARS and dtype is None:
        return scalar_to_numpy(value, dtypes.scalar_dtype(value)), type(value) is not bool
    else:
        arr = np.asarray(value)
        if isinstance(value, (list, tuple)) and arr.dtype.kind in "iufO":
            _check_python_ints(value, arr.dtype, dtype)
        if arr.dtype.kind in "OUSVMm" and dtype is None:
            dtypes.check_supported(arr.dtype, "asarray")
    target = dtypes.canonicalize(dtype if dtype is not None else arr.dtype)
    if dtype is not None:
        weak = False
    # Out-of-range floats become inf, as in JAX, without numpy's cast warning.
    out = call_quietly(np.array, arr, dtype=target, copy=True)
    return out, weak


_PY_SCALARS = (bool, int, float, complex)


def _check_python_ints(value: list | tuple, inferred: np.dtype, dtype: Any) -> None:
    # numpy infers int64, uint64, float64 or object for lists with big Python ints; narrowing
    # or converting would then change them silently ([2**40] -> [0]), so check each one as JAX
    # does. A list of Python ints only has the default int dtype in JAX, whatever numpy infers.
    leaves = []
    for leaf in _leaves(value):
        if inferred.kind == "f" and type(leaf) is not int:
            return  # a float list: Python ints in it become floats, as in JAX
        leaves.append(leaf)
    ints = [v for v in leaves if type(v) is int]
    if not ints:
        return
    if dtype is not None:
        target = dtypes.canonicalize(dtype)
    elif len(ints) == len(leaves) or inferred.kind == "O":
        target = dtypes.default_int()
    else:
        target = dtypes.canonicalize(inferred)
    if target.kind not in "iu":
        return
    info = np.iinfo(target)
    for v in ints:
        if not info.min <= v <= info.max:
            raise _int_overflow(v, target)


def _leaves(items: list | tuple) -> Iterator[Any]:
    for v in items:
        if isinstance(v, (list, tuple)):
            yield from _leaves(v)
        else:
            yield v


def _int_overflow(value: int, dtype: np.dtype) -> OverflowError:
    hint = (
        ""
        if config.enable_x64
        else (" or enable 64-bit types with vfunc.config.update('enable_x64', True)")
    )
    return OverflowError(
        f"Python int {value} is too large for {dtype}; pass an explicit dtype{hint}"
    )


def scalar_to_numpy(value: bool | int | float | complex, dtype: np.dtype) -> np.ndarray:
    """A Python scalar as a 0-d numpy array of ``dtype``.

    The result depends on the dtype only: a float too large for float16 becomes inf (without
    numpy's overflow warning), while an int the integer dtype cannot hold raises.

    Raises:
        OverflowError: when ``dtype`` is an integer dtype that cannot hold ``value``.
    """
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise _int_overflow(value, dtype)
    if dtype.kind in "fc":
        return call_quietly(np.array, value, dtype=dtype)
    return np.array(value, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Tracers and traces


class Tracer(Array):
    """A value inside a transformation: an abstract value bound to the trace interpreting it."""

    __slots__ = ("_trace", "aval")

    _trace: Trace
    aval: ShapedArray  # type: ignore[assignment]

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self.aval.dtype

    @property
    def weak_type(self) -> bool:  # type: ignore[override]
        return self.aval.weak_type

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        # Never the primal value: NumPy would compute on it without the trace, and a gradient
        # through it would silently be zero (as JAX, refuse; bool/int/float still concretize).
        # Where the trace has no value at all (jit, make_jaxpr) its own error says more: which
        # argument the value depends on, and static_argnums.
        self._trace.concretize(self, "numpy.asarray")
        raise TracerArrayConversionError(
            f"numpy.asarray() was called on a traced {self.aval.str_short()} inside "
            f"{type(self._trace).__name__}: NumPy would compute on its value without the "
            "transformation (under grad its derivative would silently be lost). Use the "
            "vfunc.numpy function of the same name (import vfunc.numpy as vnp) instead of numpy's, "
            "or move the NumPy code outside the transformed function."
        )

    def __bool__(self) -> bool:
        return bool(self._trace.concretize(self, "bool"))

    def __int__(self) -> int:
        return int(self._trace.concretize(self, "int"))

    def __float__(self) -> float:
        return float(self._trace.concretize(self, "float"))

    def __complex__(self) -> complex:
        return complex(self._trace.concretize(self, "complex"))

    def __index__(self) -> int:
        return int(self._trace.concretize(self, "index"))

    def item(self, *args: Any) -> Any:
        """The element as a Python scalar (needs a concrete value)."""
        return self._trace.concretize(self, "item").item(*args)

    def tolist(self) -> Any:
        """Nested lists of Python scalars (needs a concrete value)."""
        return self._trace.concretize(self, "tolist").tolist()

    def devices(self) -> set[Device]:
        """Raises ConcretizationTypeError, as JAX does: a traced value has no placement yet."""
        raise ConcretizationTypeError(
            f"devices() was called on a traced array {self.aval.str_short()} inside "
            f"{type(self._trace).__name__}; only concrete arrays have devices. Call it outside "
            "the transformed function, on its inputs or results."
        )

    def __iter__(self) -> Iterator[Array]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        row = _row_view
        if row is None:  # pragma: no cover - importing vfunc installs it
            raise TypeError("iterating a traced array needs vfunc.primitives imported")
        return (row(self, i) for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.aval.str_long()})"


# Row ``i`` of an array, as a traceable value. A slice is a primitive, and primitives are
# declared above this module, so the primitive layer installs the function (``set_row_view``)
# and ``Tracer.__iter__`` calls it: core never imports upward.
_row_view: Callable[[Array, int], Array] | None = None


def set_row_view(row: Callable[[Array, int], Array]) -> None:
    """Install ``row(x, i)`` (row ``i`` of ``x``, first axis dropped) for ``Tracer.__iter__``."""
    global _row_view
    _row_view = row


class Trace:
    """An interpreter of primitives. Subclasses define how tracers are made and ops processed."""

    level: int
    alive: bool

    def __init__(self, level: int):
        self.level = level
        self.alive = True

    def pure(self, value: Any) -> Tracer:
        """Lift a constant (ArrayImpl or Python scalar) into this trace."""
        raise NotImplementedError

    def lift(self, tracer: Tracer) -> Tracer:
        """Lift a tracer of an enclosing (lower-level) trace into this trace."""
        raise NotImplementedError

    def process_primitive(self, prim: Primitive, tracers: list[Tracer], params: dict) -> Any:
        """Apply ``prim`` to tracers of this trace; return a tracer (or a list of them)."""
        raise NotImplementedError

    def concretize(self, tracer: Tracer, fn_name: str) -> np.ndarray:
        """Return a concrete value for ``tracer`` or raise ConcretizationTypeError."""
        raise ConcretizationTypeError(
            f"{fn_name}() needs a concrete value but got an abstract {tracer.aval.str_short()} "
            f"inside {type(self).__name__}."
        )

    def full_raise(self, value: Any) -> Tracer:
        """Bring any argument (constant or tracer of this or an outer trace) into this trace."""
        if not isinstance(value, Tracer):
            return self.pure(value)
        trace = value._trace
        if trace is self:
            return value
        check_tracer_alive(value)
        if trace.level < self.level:
            return self.lift(value)
        raise UnexpectedTracerError(
            f"a {type(value).__name__} of an inner transformation reached an outer one; "
            "this is a vfunc bug unless a tracer was stored in a global or closure"
        )


class _TraceState(threading.local):
    """Per-thread trace stack: tracing in one thread is invisible to every other thread."""

    def __init__(self) -> None:
        self.stack: list[Trace] = []
        # The innermost staging trace (make_jaxpr/jit) captures every bind, even on constants.
        self.dynamic: Trace | None = None


_state = _TraceState()


def check_tracer_alive(tracer: Tracer) -> None:
    """Raise UnexpectedTracerError for a tracer whose transformation has already returned."""
    trace = tracer._trace
    stack = _state.stack
    if not trace.alive or trace.level >= len(stack) or stack[trace.level] is not trace:
        raise UnexpectedTracerError(
            f"Encountered a leaked tracer {tracer!r}: it was created inside a transformation "
            f"({type(trace).__name__}) that has already finished, or in another thread, and was "
            "kept (in a global, a closure, or an attribute) and used afterwards. Return values "
            "out of transformed functions instead of storing them."
        )


class new_trace:  # noqa: N801 - used as a function: ``with new_trace(make) as trace``
    """Push a trace built by ``make_trace(level)``; pop it (and mark it dead) on exit.

    ``dynamic=True`` makes it capture every primitive bound while it is innermost, including
    ones on constants only (how ``make_jaxpr`` stages ``vnp.zeros(3)`` instead of running it).
    A class rather than a generator context manager: every grad and vmap call enters one, and
    this costs a third as much.
    """

    __slots__ = ("trace", "dynamic", "previous_dynamic")

    def __init__(self, make_trace: Callable[[int], Trace], dynamic: bool = False):
        self.trace = make_trace(len(_state.stack))
        self.dynamic = dynamic

    def __enter__(self) -> Trace:
        state = _state
        state.stack.append(self.trace)
        self.previous_dynamic = state.dynamic
        if self.dynamic:
            state.dynamic = self.trace
        return self.trace

    def __exit__(self, *exc: Any) -> None:
        state = _state
        self.trace.alive = False
        state.stack.pop()
        state.dynamic = self.previous_dynamic


def find_top_trace(args: Sequence[Any]) -> Trace | None:
    """The innermost trace among the arguments' tracers and the dynamic trace, or None."""
    top = _state.dynamic
    for arg in args:
        if isinstance(arg, Tracer):
            check_tracer_alive(arg)
            trace = arg._trace
            if top is None or trace.level > top.level:
                top = trace
    return top


# --------------------------------------------------------------------------------------------
# Primitives


def _all_weak(weak: Sequence[bool], **params: Any) -> bool:
    return bool(weak) and all(weak)


def never_weak(weak: Sequence[bool], **params: Any) -> bool:
    """Weak-type rule of ops whose output dtype does not follow their inputs (bool, indices)."""
    return False


registry: dict[str, Primitive] = {}


# vfunc follows IEEE semantics silently, as JAX does (log(0) is -inf, inf - inf is NaN), so impls
# run with numpy's floating-point warnings off. `np.errstate` costs about a microsecond per call,
# several times numpy's own dispatch on small arrays, so the eager path sets numpy's error-state
# context variable directly; if a numpy release moves that private variable, `np.errstate` is
# used instead.
try:
    from numpy._core._ufunc_config import _extobj_contextvar as _numpy_errstate
    from numpy._core.umath import _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")
    _errstate_set, _errstate_reset = _numpy_errstate.set, _numpy_errstate.reset
except (ImportError, AttributeError, TypeError):  # pragma: no cover - other numpy releases
    _numpy_errstate = None


def call_quietly(fn: Callable[..., Any], *args: Any, **params: Any) -> Any:
    """``fn(*args, **params)`` with numpy's floating-point warnings off."""
    if _numpy_errstate is None:  # pragma: no cover
        with np.errstate(all="ignore"):
            return fn(*args, **params)
    token = _numpy_errstate.set(_IGNORE_ALL)
    try:
        return fn(*args, **params)
    finally:
        _numpy_errstate.reset(token)


@dataclasses.dataclass(frozen=True)
class Fusion:
    """How the compiler's fusion pass writes an elementwise primitive inside a numba loop.

    Args:
        expr: the scalar expression, a ``str.format`` template over the operands' expressions
            ``{0}``, ``{1}``, ...; ``{f}`` names the first operand's dtype constructor
            (``np.float32``) and ``{out}`` the result's. It may call ``math``, ``np`` and,
            as ``fm``, the compiler's vectorizable transcendentals.
        operands: dtype kinds each operand may have for the expression to be fused, one string
            for all operands or one per operand: ``"f"`` float32/float64, ``"b"`` bool.
        result: the dtype kinds the result may have (same letters).
        vectorized: the name of the ``fm`` function ``expr`` calls; the op fuses only where that
            function exists (libm's would stop the loop from vectorizing).
        exact: the expression over a float64 argument that is exact where ``expr`` is not,
            with ``beyond``: the expression counting (0 or 1) the arguments ``expr`` cannot
            take. A kernel using such an op counts them and, if it met any, computes its
            block again with ``exact``.
        small_power: operand 1 is an exponent: a literal integer 0..4 becomes repeated
            multiplication (libm's ``pow`` neither vectorizes nor costs as little).
        identity: declares a reduction over the ``axes`` param instead: ``expr`` combines the
            accumulator ``{0}`` with an element ``{1}``, starting from ``identity`` (a Python
            float literal such as ``"-inf"``); the loop then fuses with its operand's producers.
        wide: a reduction accumulating float32 in float64 (sums: numpy's pairwise summation is
            about as accurate; a running float32 sum is not).
    """

    expr: str
    _: dataclasses.KW_ONLY
    operands: str | tuple[str, ...] = "f"
    result: str = "fb"
    vectorized: str | None = None
    exact: str | None = None
    beyond: str | None = None
    small_power: bool = False
    identity: str | None = None
    wide: bool = False

    def operand_kinds(self, count: int) -> tuple[str, ...]:
        """The accepted dtype kinds of each of ``count`` operands."""
        if isinstance(self.operands, str):
            return (self.operands,) * count
        return self.operands


@dataclasses.dataclass(frozen=True, kw_only=True)
class Identities:
    """Exact algebraic identities of a primitive, which the compiler's simplification applies.

    Every identity holds bit for bit in IEEE arithmetic (signed zeros and NaN included), so
    rewriting with it never changes a result.

    Args:
        unit: a literal that, in one of the positions ``unit_at``, makes the binary primitive
            return its other operand (``x * 1``, ``x - 0``; ``x + -0.0``, as ``-0.0 + 0.0``
            is ``+0.0``). Integer operands match it numerically; a float ``0`` also matches
            its sign.
        unit_at: the operand positions the unit may take, in the order they are tried.
        noop: ``noop(**params) -> bool``: with these params the primitive returns operand 0
            unchanged whenever its result has the operand's shape, dtype and weak type
            (a reshape to the same shape; an identity permutation).
        involution: ``op(op(x)) == x`` (``neg``).
        idempotent: ``op(op(x)) == op(x)`` (``floor``).
        compose: ``compose(inner_params, outer_params) -> params`` of one application
            equivalent to the primitive applied twice (a reshape of a reshape).
        permutation: ``permutation(**params) -> tuple``: the primitive is an axis permutation
            (a producer's ``absorb_permutation`` may then compute the permuted result itself).
        absorb_permutation: ``absorb(params, operand_avals, permutation) -> (order, params)``
            or None: the primitive's result permuted by ``permutation`` is the primitive
            applied to its operands reordered by ``order``, with ``params`` (a transposed
            matrix product is the product of the swapped operands).
    """

    unit: float | None = None
    unit_at: tuple[int, ...] = ()
    noop: Callable[..., bool] | None = None
    involution: bool = False
    idempotent: bool = False
    compose: Callable[[dict, dict], dict] | None = None
    permutation: Callable[..., tuple[int, ...]] | None = None
    absorb_permutation: Callable[..., Any] | None = None


NO_IDENTITIES = Identities()


class Primitive:
    """An operation, declared once with every rule an interpreter needs.

    Args:
        name: the jaxpr name (``sin``, ``reduce_sum``).
        impl: ``impl(*ndarrays, **params) -> ndarray`` -- the eager computation; must return the
            dtype and shape the shape rule promises. Callers run it with numpy's floating-point
            warnings off (``call_quietly``): IEEE results, no warnings, as in JAX.
        shape: ``shape(*avals, **params) -> ShapedArray`` (its weak_type is ignored) -- validates
            operands and params, raising the user-facing error.
        weak_type: ``rule(in_weak_types, **params) -> bool``; default: weak iff all inputs are.
        vjp: ``vjp(g, *primals, out, **params) -> tuple`` -- one cotangent per operand (None for
            a zero or non-differentiable operand), written with vfunc operations so it can be
            traced and differentiated again. ``g`` is a list for multiple results.
        jvp: ``jvp(primals, tangents, *, out, **params)`` -- the output tangent (tangents are
            None for zero); optional: forward mode derives it from ``linear`` or ``vjp``.
        linear: operand positions in which the primitive is jointly linear (the others, such
            as indices, are passed through); forward mode then applies the primitive itself to
            the tangents.
        batch: the vmap rule.
        multiple_results: impl and shape return sequences.
        differentiable: False for ops whose outputs carry no gradient (comparisons, argmax).
        elementwise: the op maps elements to elements with NumPy broadcasting: vmap applies the
            shared elementwise rule, and with a ``fusion`` the compiler may fuse it.

    Optional keywords refine reverse mode: ``vjp_wants=True`` makes the backward pass
    pass ``wants`` (which operands need a cotangent) to ``vjp``; ``vjp_forward(*args,
    **params) -> (out, residuals)`` replaces ``impl`` under reverse mode, and the VJP receives
    ``residuals``. Likewise ``jvp_full(primals, tangents, **params) -> (out, tangent)``
    replaces ``impl`` plus ``jvp`` under forward mode, for rules that compute the output
    themselves (a custom JVP rule returns both; evaluating the primal first would run the
    function twice).

    Primitives that apply a function given as a jaxpr in their params (custom rules,
    checkpoint) name that param in ``call_jaxpr_param``, and ``compiler_inline(params)`` says
    whether the compiler may replace the equation by that jaxpr's equations.

    The compiler finds everything else it knows about a primitive here too, never by its name:
    ``fusion`` (a ``Fusion``: the fused scalar expression of an elementwise op),
    ``identities`` (an ``Identities``: exact rewrites of the simplification pass) and
    ``as_matmul(params, *operand_avals) -> (transpose_lhs, transpose_rhs) | None``, which says
    when the op is one 2-D matrix product BLAS computes from its operands as they are or
    transposed (``np.dot(a.T, b)``), for emitters that call BLAS directly.
    ``strided_view=True`` marks an op whose impl may return a view with other strides than a
    fresh array's (a broadcast's zero strides, a transpose, a slice): fused kernels then read
    its result in place through an N-D loop, where raveling it for a flat loop would copy it;
    ``strided_view="inherit"`` an op that may return an operand itself or a reshaped view of
    it (reshape, squeeze, a no-op conversion), strided where that operand may be.
    ``effectful=True`` marks an op whose impl does something besides computing its outputs
    (``debug_callback``): the compiler keeps, never merges and never pre-evaluates it.
    ``sum_over_steps(steps, *operands, **params) -> build | None`` lets a loop pass sum the
    op's per-step results over all steps of a scan after the loop, from the operands stacked
    along a new leading axis: ``steps.stacked(v)`` reads a per-step operand stacked (None if
    it is the same at every step), ``steps.lift(v)`` sums an operand's own producer the same
    way (for linear ops), and the returned ``build(stacks)`` computes the sum with builders.
    Only contractions, reductions and the linear ops between them declare it: for anything
    else, stacking the operands costs more than adding in the loop.
    """

    def __init__(
        self,
        name: str,
        impl: Callable[..., Any],
        shape: Callable[..., Any],
        *,
        weak_type: Callable[..., bool] = _all_weak,
        vjp: Callable[..., Any] | None = None,
        jvp: Callable[..., Any] | None = None,
        linear: tuple[int, ...] | None = None,
        batch: Callable[..., Any] | None = None,
        multiple_results: bool = False,
        differentiable: bool = True,
        elementwise: bool = False,
        vjp_wants: bool = False,
        vjp_forward: Callable[..., Any] | None = None,
        jvp_full: Callable[..., Any] | None = None,
        call_jaxpr_param: str | None = None,
        compiler_inline: Callable[[dict], bool] | None = None,
        fusion: Fusion | None = None,
        identities: Identities = NO_IDENTITIES,
        as_matmul: Callable[..., tuple[bool, bool] | None] | None = None,
        strided_view: bool | str = False,
        effectful: bool = False,
        sum_over_steps: Callable[..., Any] | None = None,
    ):
        if name in registry:
            raise ValueError(f"primitive {name!r} is already registered")
        self.name = name
        self.impl = impl
        self.shape_rule = shape
        self.weak_type_rule = weak_type
        self.vjp = vjp
        self.jvp = jvp
        self.linear = linear
        self.batch = batch
        self.multiple_results = multiple_results
        self.differentiable = differentiable
        self.elementwise = elementwise
        self.vjp_wants = vjp_wants
        self.vjp_forward = vjp_forward
        self.jvp_full = jvp_full
        self.call_jaxpr_param = call_jaxpr_param
        self.compiler_inline = compiler_inline
        self.fusion = fusion
        self.identities = identities
        self.as_matmul = as_matmul
        self.strided_view = strided_view
        self.effectful = effectful
        self.sum_over_steps = sum_over_steps
        # (shapes, dtypes, params) -> output weak types, for the eager path. A pure function of
        # its key, so it can never go stale; failed evaluations are not stored.
        self._eager_cache: dict[Any, Any] = {}
        # The dtypes at which apply1/apply2 may skip the rules (see there): filled by _eager
        # once a call at that dtype has passed the shape rule. Only elementwise primitives
        # whose result is weak iff all operands are (or never weak) qualify.
        self._fast_dtypes: dict[np.dtype, None] = {}
        self._weak_follows: bool | None = None
        if elementwise and not multiple_results and _numpy_errstate is not None:
            if weak_type is _all_weak:
                self._weak_follows = True
            elif weak_type is never_weak:
                self._weak_follows = False
        registry[name] = self

    def __repr__(self) -> str:
        return self.name

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive: eagerly, or through the innermost active trace."""
        if not params:
            if len(args) == 2:
                return self.apply2(args[0], args[1])
            if len(args) == 1:
                return self.apply1(args[0])
        elif len(args) == 1 and not self.multiple_results:
            # One concrete operand with params (a reduction, a movement) whose types were
            # checked before: the cache hit runs impl here; anything else takes _dispatch.
            x = args[0]
            if type(x) is ArrayImpl and _state.dynamic is None:
                vx = x._value
                try:
                    weak = self._eager_cache.get((vx.shape, vx.dtype, x._weak, *params.items()))
                except TypeError:  # an unhashable param: _eager copes
                    weak = None
                if weak is not None:
                    token = _errstate_set(_IGNORE_ALL)
                    try:
                        out = self.impl(vx, **params)
                    finally:
                        _errstate_reset(token)
                    result = _new_array(ArrayImpl)
                    result._value = out if type(out) is np.ndarray else as_buffer(out)
                    result._weak = weak
                    return result
        return self._dispatch(args, params)

    # The eager fast path of an elementwise primitive without params: with concrete operands of
    # one dtype this primitive has already been checked at, run impl and wrap its result. No
    # shape rule (numpy's broadcasting is the elementwise contract, and a mismatch makes impl
    # raise, which sends the call down the full path to our error) and no cache key; the
    # dtype check is one dict probe, the weak type one ``and``.

    def apply1(self, x: Any, otherwise: Callable[[Any], Any] | None = None) -> Any:
        """``bind(x)`` for a primitive without params, the eager elementwise case inlined;
        ``otherwise(x)``, when given, replaces the full path (a front end's promotion)."""
        if type(x) is ArrayImpl and _state.dynamic is None:
            vx = x._value
            if vx.dtype in self._fast_dtypes:
                token = _errstate_set(_IGNORE_ALL)
                try:
                    out = self.impl(vx)
                except Exception:  # noqa: BLE001 - the full path below reports it properly
                    out = None
                finally:
                    _errstate_reset(token)
                if out is not None:
                    result = _new_array(ArrayImpl)
                    result._value = out if type(out) is np.ndarray else as_buffer(out)
                    result._weak = x._weak and self._weak_follows
                    return result
        if otherwise is not None:
            return otherwise(x)
        return self._dispatch((x,), {})

    def apply2(self, x: Any, y: Any, otherwise: Callable[[Any, Any], Any] | None = None) -> Any:
        """``bind(x, y)`` for a primitive without params, the eager elementwise case inlined;
        ``otherwise(x, y)``, when given, replaces the full path (a front end's promotion)."""
        if type(x) is ArrayImpl and type(y) is ArrayImpl and _state.dynamic is None:
            vx, vy = x._value, y._value
            dtype = vx.dtype
            if dtype is vy.dtype and dtype in self._fast_dtypes:
                token = _errstate_set(_IGNORE_ALL)
                try:
                    out = self.impl(vx, vy)
                except Exception:  # noqa: BLE001 - e.g. shapes that do not broadcast
                    out = None
                finally:
                    _errstate_reset(token)
                if out is not None:
                    result = _new_array(ArrayImpl)
                    result._value = out if type(out) is np.ndarray else as_buffer(out)
                    result._weak = x._weak and y._weak and self._weak_follows
                    return result
        if otherwise is not None:
            return otherwise(x, y)
        return self._dispatch((x, y), {})

    def _dispatch(self, args: Sequence[Any], params: dict) -> Any:
        top = _state.dynamic
        if top is None:
            # Eager with params (reductions, movement): the cache key covers everything the
            # shape and weak-type rules read.
            if len(args) == 1:
                x = args[0]
                if type(x) is ArrayImpl:
                    vx = x._value
                    return self._eager(args, [vx], (vx.shape, vx.dtype, x._weak), params)
            elif len(args) == 2:
                x, y = args
                if type(x) is ArrayImpl and type(y) is ArrayImpl:
                    vx, vy = x._value, y._value
                    key = (vx.shape, vx.dtype, x._weak, vy.shape, vy.dtype, y._weak)
                    return self._eager(args, [vx, vy], key, params)
        stack = _state.stack
        for a in args:
            if isinstance(a, Tracer):
                trace = a._trace
                if trace is not top:
                    level = trace.level
                    if not trace.alive or level >= len(stack) or stack[level] is not trace:
                        check_tracer_alive(a)  # raises
                    if top is None or level > top.level:
                        top = trace
        if top is None:
            args = [a if type(a) is ArrayImpl else _wrap(*to_numpy_canonical(a)) for a in args]
            values = [a._value for a in args]
            key = tuple([(v.shape, v.dtype, a._weak) for v, a in zip(values, args, strict=True)])
            return self._eager(args, values, key, params)
        tracers = [
            a if isinstance(a, Tracer) and a._trace is top else top.full_raise(a) for a in args
        ]
        return top.process_primitive(self, tracers, params)

    def abstract_eval(self, *avals: Any, **params: Any) -> Any:
        """Output aval(s) from input avals: the shape rule plus the weak-type rule."""
        out = self.shape_rule(*avals, **params)
        weak = self.weak_type_rule([a.weak_type for a in avals], **params)
        if self.multiple_results:
            weaks = weak if isinstance(weak, (list, tuple)) else [weak] * len(out)
            return [o.update(weak_type=w) for o, w in zip(out, weaks, strict=True)]
        return out.update(weak_type=weak)

    def _eager(self, args: Sequence[Any], values: list, key: Any, params: dict) -> Any:
        if params:
            key = (*key, *params.items())  # bind's one-operand path looks up the same key
        try:
            weak_types = self._eager_cache.get(key)
        except TypeError:  # an unhashable param: correct, just not cached
            weak_types, key = None, None
        if weak_types is None:
            # First time at these shapes: run the shape rule so bad input gets our error, not
            # numpy's (or worse, a silently different dtype).
            avals = [
                ShapedArray(v.shape, v.dtype, a._weak) for v, a in zip(values, args, strict=True)
            ]
            out_avals = self.abstract_eval(*avals, **params)
            if self.multiple_results:
                weak_types = tuple(a.weak_type for a in out_avals)
                dtypes_out = tuple(a.dtype for a in out_avals)
            else:
                weak_types, dtypes_out = out_avals.weak_type, out_avals.dtype
            out = call_quietly(self.impl, *values, **params)
            _check_impl_dtype(self, out, dtypes_out)
            if key is not None:
                if len(self._eager_cache) > 4096:
                    self._eager_cache.clear()
                self._eager_cache[key] = weak_types
            if self._weak_follows is not None and not params and len(values) <= 2:
                # Checked once at this dtype: apply1/apply2 take the fast path from now on.
                if all(v.dtype is values[0].dtype for v in values):
                    self._fast_dtypes[values[0].dtype] = None
        else:
            out = call_quietly(self.impl, *values, **params)
        if self.multiple_results:
            return [_wrap(o, w) for o, w in zip(out, weak_types, strict=True)]
        if type(out) is not np.ndarray:
            out = as_buffer(out)
        result = _new_array(ArrayImpl)
        result._value = out
        result._weak = weak_types
        return result


def _check_impl_dtype(prim: Primitive, out: Any, expected: Any) -> None:
    outs, expected = (out, expected) if prim.multiple_results else ([out], (expected,))
    got = tuple(as_buffer(o).dtype for o in outs)
    if got != tuple(expected):  # pragma: no cover - guarded by the registry consistency tests
        raise DtypeError(f"{prim.name}: impl returned {got}, shape rule promised {expected}")


def x64_enabled() -> bool:
    """Whether 64-bit dtypes are on (``vfunc.config.enable_x64``)."""
    return config.enable_x64
