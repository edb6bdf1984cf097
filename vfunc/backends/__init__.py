"""Backends: where primitives run. numpy on the CPU; CuPy on NVIDIA GPUs (``vfunc[cuda]``).

An Array's value is a *buffer*: a numpy array on the CPU, a ``cupy.ndarray`` on a GPU. Nothing
in the primitive layer needs to know which: an impl written against numpy's functions and
ufuncs runs on CuPy buffers unchanged (CuPy implements NumPy's ``__array_ufunc__`` and
``__array_function__`` protocols), and one that creates arrays asks
``vfunc.devices.array_module(*operands)`` for the module to create them with. Where the APIs
disagree (the numba kernels), a backend registers its own impl for the primitive: written once
against the array module in ``xp_impls`` (threefry, the normal sampler, conv as a product per
kernel tap), or for one platform with ``register_impl``.

Placement follows JAX's rules, simplified:

* An array lives where its buffer is: ``x.device``; ``np.asarray(x)`` copies to the host.
* An op runs on the device of its device operands. Host arrays that were never placed
  explicitly (NumPy inputs, constants, Python numbers, results of host ops) follow them there,
  as JAX's uncommitted arrays do.
* ``device_put(x, device)`` commits ``x`` to ``device`` (host results computed from committed
  host arrays are committed too): an op mixing arrays committed to different devices raises
  ``DeviceMismatchError`` naming the op, the operands and both devices.
* ``default_device(device)`` (or ``$VFUNC_DEFAULT_DEVICE``) places new arrays there and runs
  ops whose operands are all uncommitted host arrays there.

With no device backend loaded (the CPU install), none of this runs: primitives keep their own
impls and nothing on the eager or jit path changes. Installing one (the first ``device_put``
to, ``default_device`` of, or ``devices`` of a GPU) wraps every primitive's impl in a
``DeviceImpl`` that sends device operands to the backend. Compiled code (``jit``, the bodies
of ``cond``/``while_loop``/``scan``) is generated for the host; called with device buffers it
runs its optimised jaxpr on the device instead: compiled by the backend where it can
(``Backend.compile_jaxpr``, or a maker registered by the compiler: CUDA's,
``vfunc.transforms.compiler.cuda_fusion``, makes each fused elementwise cluster of the CPU's
fusion plan one kernel), else ``interpret``ed primitive by primitive.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import ArrayImpl, Primitive, Tracer, registry, to_numpy_canonical
from vfunc.devices import (
    _BUFFER_KINDS,
    CPU,
    Device,
    SingleDeviceSharding,
    array_module,
    buffer_kind,
    device_of,
    hooks,
    register_buffer_type,
    set_platform_loader,
    to_host,
)
from vfunc.devices import devices as _platform_devices_of
from vfunc.errors import VfuncError
from vfunc.jaxpr import eval_jaxpr

__all__ = [
    "Backend",
    "DeviceMismatchError",
    "array_module",
    "default_device",
    "device_put",
    "register_impl",
]


class DeviceMismatchError(VfuncError, ValueError):
    """An op received arrays committed to different devices (see ``device_put``)."""


# --------------------------------------------------------------------------------------------
# Loaded backends


class Backend:
    """A platform other than the CPU: its array module, devices, and the impls it overrides.

    Subclasses (``vfunc.backends.cuda.CudaBackend``) implement the buffer methods; they are
    also the platform's ``vfunc.devices.BufferKind``. One may also define
    ``compile_jaxpr(jaxpr) -> run(consts, values)``, the device code of jitted functions
    (without it they are interpreted primitive by primitive).
    """

    platform: str
    xp: Any
    array_type: type
    devices: list[Device]

    def __init__(self) -> None:
        self.impls: dict[Primitive, Callable[..., Any]] = {}

    def put(self, value: Any, device: Device) -> Any:
        """``value`` (a host or device buffer) as a buffer on ``device``."""
        raise NotImplementedError

    def scope(self, device: Device) -> contextlib.AbstractContextManager:
        """A context in which new buffers and kernels go to ``device``."""
        raise NotImplementedError

    def device_of(self, buffer: Any) -> Device:
        raise NotImplementedError

    def to_host(self, buffer: Any) -> np.ndarray:
        raise NotImplementedError

    def synchronize(self, buffer: Any) -> None:
        raise NotImplementedError


_BACKENDS: dict[str, Backend] = {}
_MODULES = {"gpu": "vfunc.backends.cuda"}


def _load(platform: str) -> Backend:
    backend = _BACKENDS.get(platform)
    if backend is not None:
        return backend
    module = _MODULES.get(platform)
    if module is None:
        raise RuntimeError(f"backend {platform!r} is not available; vfunc knows 'cpu' and 'gpu'")
    return install(importlib.import_module(module).load())  # or RuntimeError: what is missing


_ON_CHANGE: list[Callable[[], None]] = []


def on_backend_change(hook: Callable[[], None]) -> Callable[[], None]:
    """Register ``hook`` to run whenever a backend is installed or removed: caches of compiled
    functions register here, since ``device_aware`` decides once, when it wraps a function,
    whether device buffers must be routed away from the host code."""
    _ON_CHANGE.append(hook)
    return hook


def _backends_changed() -> None:
    for hook in _ON_CHANGE:
        hook()


def install(backend: Backend) -> Backend:
    """Make ``backend`` the one of its platform: its buffers become Array values and every
    primitive's impl dispatches by where its operands live. ``load()`` of a backend module
    returns what is installed here; the tests install a stand-in GPU this way."""
    _BACKENDS[backend.platform] = backend
    register_buffer_type(backend.array_type, backend)
    _wrap_impls()
    _backends_changed()
    return backend


def uninstall(platform: str) -> None:
    """Forget ``platform``'s backend; with none left, primitives get their own impls back and
    vfunc is in its CPU-only state again (for tests)."""
    global _wrapped
    backend = _BACKENDS.pop(platform, None)
    if backend is not None:
        _BUFFER_KINDS.pop(backend.array_type, None)
    if not _BACKENDS:
        for prim in registry.values():
            if isinstance(prim.impl, DeviceImpl):
                prim.impl = prim.impl.host_impl
        _wrapped = 0
        hooks.place_new = None
    _backends_changed()


def _platform_devices(platform: str) -> list[Device]:
    return list(_load(platform).devices)


set_platform_loader(_platform_devices)


def cuda_installed() -> bool:
    """Whether CuPy is importable (checked without importing it)."""
    return _cupy_spec()


@functools.cache
def _cupy_spec() -> bool:
    return importlib.util.find_spec("cupy") is not None


def register_impl(platform: str, prim: Primitive) -> Callable[[Callable], Callable]:
    """Decorate the impl of ``prim`` on ``platform``'s buffers (where the shared one won't do).

    The impl receives that platform's buffers (host operands already moved there) and the
    primitive's params, inside the device's scope, and must return what the shape rule says.
    """

    def register(fn: Callable) -> Callable:
        _load(platform).impls[prim] = fn
        return fn

    return register


# --------------------------------------------------------------------------------------------
# Committed host arrays and the default device

# Host buffers that device_put committed to the CPU, by id (numpy arrays are not hashable); the
# weak values drop an entry with its buffer, and `is` guards against reused ids.
_COMMITTED_HOST: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def _committed_host(value: Any) -> bool:
    return type(value) is np.ndarray and _COMMITTED_HOST.get(id(value)) is value


def _commit_host(out: Any) -> Any:
    for o in out if isinstance(out, (list, tuple)) else (out,):
        if type(o) is np.ndarray:
            _COMMITTED_HOST[id(o)] = o
    return out


def _parse_device(name: str) -> Device:
    platform, _, index = name.partition(":")
    found = _platform_devices_of(platform)
    i = int(index) if index else 0
    if not 0 <= i < len(found):
        raise ValueError(f"device {name!r}: there are {len(found)} {platform} devices")
    return found[i]


_DEFAULT: contextvars.ContextVar[Device | None] = contextvars.ContextVar(
    "vfunc_default_device", default=None
)


def _default() -> Device | None:
    """The default device if it is not the CPU, else None."""
    d = _DEFAULT.get()
    return None if d is None or d.platform == "cpu" else d


def _place_new(value: np.ndarray) -> Any:
    # core.wrap_numpy's hook. 0-d constants stay on the host: they are cached and shared
    # (builders.weak_scalar), and ops move them to their device operands' device anyway.
    target = _default()
    if target is None or value.ndim == 0:
        return value
    _wrap_impls()  # primitives registered since the backend loaded (custom rules)
    return _BACKENDS[target.platform].put(value, target)


@contextlib.contextmanager
def default_device(device: Device | str | None) -> Iterator[None]:
    """Within the block, create arrays on ``device`` and run host-only ops there (JAX's).

    Args:
        device: a ``Device`` (``vfunc.devices("gpu")[0]``), a name (``"cuda:0"``, ``"gpu"``,
            ``"cpu"``) or None for the CPU.

    Example:
        >>> import vfunc.numpy as vnp
        >>> with default_device("cpu"):
        ...     print(vnp.ones(2).device)
        cpu:0
    """
    if isinstance(device, str):
        device = _parse_device(device)
    if device is not None and device.platform != "cpu":
        _load(device.platform)
        hooks.place_new = _place_new
    token = _DEFAULT.set(device)
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def device_put(x: Any, device: Device | SingleDeviceSharding | str | None = None) -> Any:
    """Copy the arrays of pytree ``x`` to ``device`` (as ``jax.device_put``).

    Args:
        x: a pytree of arrays, NumPy arrays or numbers.
        device: a ``Device``, a ``SingleDeviceSharding``, a name (``"cuda:0"``) or None for the
            default device. An array put on a named device is committed there: ops never move
            it, and mixing it with an array committed elsewhere raises ``DeviceMismatchError``.

    Returns:
        ``x``'s structure with every leaf an Array on ``device``. Traced values (under
        ``jit``/``grad``/``vmap``) pass through unchanged.

    Example:
        >>> import vfunc.numpy as vnp
        >>> y = device_put(vnp.arange(3.0), "cpu")
        >>> y.device, y.tolist()
        (CpuDevice(id=0), [0.0, 1.0, 2.0])
    """
    if isinstance(device, SingleDeviceSharding):
        device = device.device
    elif isinstance(device, str):
        device = _parse_device(device)
    commit = device is not None
    target = device if device is not None else (_DEFAULT.get() or CPU)
    _wrap_impls()
    return tree.map(lambda leaf: _put_leaf(leaf, target, commit), x)


def _put_leaf(leaf: Any, target: Device, commit: bool) -> Any:
    if isinstance(leaf, Tracer):
        return leaf
    value, weak = to_numpy_canonical(leaf)
    if target.platform == "cpu":
        host = to_host(value)
        if host is value:
            host = value.view()  # a buffer of its own, so committing it commits no one else
        if commit:
            _commit_host(host)
        out = ArrayImpl.__new__(ArrayImpl)
        out._value, out._weak = host, weak
        return out
    buffer = _load(target.platform).put(value, target)
    out = ArrayImpl.__new__(ArrayImpl)
    out._value, out._weak = buffer, weak
    return out


# --------------------------------------------------------------------------------------------
# Dispatch: every primitive's impl, once a device backend is loaded


class DeviceImpl:
    """A primitive's impl that runs where its operands live.

    With only host operands (and no device default) it calls the host impl directly: one loop
    over the operands' types. ``host_impl`` is the primitive's own impl, for code that wants it.
    """

    __slots__ = ("prim", "host_impl", "ufunc")

    def __init__(self, prim: Primitive, host_impl: Callable[..., Any]):
        self.prim = prim
        self.host_impl = host_impl
        self.ufunc = isinstance(host_impl, np.ufunc)

    def __call__(self, *args: Any, **params: Any) -> Any:
        kinds = _BUFFER_KINDS
        for a in args:
            if type(a) in kinds:
                return _run_on_device(self, args, params, None)
        if _COMMITTED_HOST and any(_committed_host(a) for a in args):
            # computed from arrays committed to the CPU: committed there too, as in JAX
            return _commit_host(self.host_impl(*args, **params))
        target = _default()
        if target is None:
            return self.host_impl(*args, **params)
        return _run_on_device(self, args, params, target)

    def __repr__(self) -> str:
        return f"DeviceImpl({self.prim.name})"


_wrapped = 0  # how many registered primitives _wrap_impls has seen


def _wrap_impls() -> None:
    global _wrapped
    if not _BACKENDS or len(registry) == _wrapped:
        return
    for prim in list(registry.values()):
        if not isinstance(prim.impl, DeviceImpl):
            prim.impl = DeviceImpl(prim, prim.impl)
    _wrapped = len(registry)


def _describe(value: Any, i: int) -> str:
    return f"operand {i} ({value.dtype}{list(value.shape)})"


def _run_on_device(impl: DeviceImpl, args: tuple, params: dict, target: Device | None) -> Any:
    prim = impl.prim
    where = None  # (device, description) of the operand that fixed the device
    if target is not None:
        where = (target, "the default device")
    for i, a in enumerate(args):
        kind = buffer_kind(a)
        if kind is None:
            if _committed_host(a):
                if where is None:
                    continue  # checked below, once a device operand is seen
                raise _mismatch(prim, where, (CPU, _describe(a, i)))
            continue
        d = kind.device_of(a)
        if where is None:
            where = (d, _describe(a, i))
        elif d != where[0]:
            raise _mismatch(prim, where, (d, _describe(a, i)))
    assert where is not None
    device = where[0]
    for i, a in enumerate(args):
        if _committed_host(a):
            raise _mismatch(prim, where, (CPU, _describe(a, i)))
    backend = _BACKENDS[device.platform]
    moved = []
    for a in args:
        if type(a) is np.ndarray or isinstance(a, np.generic):
            if impl.ufunc and a.ndim == 0:
                a = a[()]  # a ufunc takes a numpy scalar as a kernel argument: no copy
            else:
                a = backend.put(a, device)
        moved.append(a)
    fn = backend.impls.get(prim, impl.host_impl)
    with backend.scope(device):
        return fn(*moved, **params)


def _mismatch(prim: Primitive, a: tuple[Device, str], b: tuple[Device, str]) -> Exception:
    return DeviceMismatchError(
        f"{prim.name}: operands live on different devices: {a[1]} on {a[0]} and {b[1]} on "
        f"{b[0]}. Arrays placed with device_put stay on their device; move one to the "
        f"other's first, e.g. vfunc.device_put(x, {str(a[0])!r})."
    )


# --------------------------------------------------------------------------------------------
# jit over device buffers


# Device code generators by platform, registered from above this layer (the compiler owns the
# fusion plan they build on): ``maker(backend, jaxpr) -> run(consts, values)``.
_JAXPR_COMPILERS: dict[str, Callable[[Any, Any], Any]] = {}


def register_jaxpr_compiler(platform: str, maker: Callable[[Any, Any], Any]) -> None:
    """Make ``maker(backend, jaxpr)`` compile the jitted jaxprs that run on ``platform``'s
    devices (a backend's own ``compile_jaxpr`` method, if it has one, comes first)."""
    _JAXPR_COMPILERS[platform] = maker


def device_aware(compiled: Any) -> Callable[..., Any]:
    """The function a jit cache entry calls for ``compiled`` (a ``codegen.Compiled``).

    Without CuPy (or another backend) installed this is ``compiled.fn`` itself. Otherwise
    calls whose inputs include device buffers (or that run under a device default) run the
    optimised jaxpr on the device (the backend's ``compile_jaxpr``, once per device, or
    ``interpret``) instead of the generated host code, which serves the rest.
    """
    host_fn = compiled.fn
    if not _BACKENDS and not cuda_installed():
        return host_fn
    consts: dict[Device, list] = {}

    def fn(*values: Any, _donated: Any = None) -> Any:
        device = _target(values)
        if device is not None:
            return _run_jaxpr(compiled, values, consts, device)
        if _donated is None:
            return host_fn(*values)
        return host_fn(*values, _donated=_donated)

    return fn


def _target(values: tuple) -> Device | None:
    """Where a compiled function called with ``values`` runs, or None for the host code."""
    kinds = _BUFFER_KINDS
    for v in values:
        if type(v) in kinds:
            return device_of(v)
    target = _default()
    if target is not None and not any(_committed_host(v) for v in values):
        return target
    return None


def _run_jaxpr(compiled: Any, values: tuple, consts: dict, device: Device) -> tuple:
    closed = compiled.closed
    entry = consts.get(device)
    backend = _BACKENDS[device.platform]
    if entry is None:  # constants go to the device once, not at every call
        placed = [_const_on(c, backend, device) for c in closed.consts]
        # A backend that generates code for its devices (CUDA: fused kernels) compiles the
        # jaxpr once per device; others interpret it primitive by primitive.
        compile_jaxpr = getattr(backend, "compile_jaxpr", None)
        maker = _JAXPR_COMPILERS.get(device.platform)
        if compile_jaxpr is None and maker is not None:
            compile_jaxpr = functools.partial(maker, backend)
        _wrap_impls()
        runner = compile_jaxpr(closed.jaxpr) if compile_jaxpr is not None else None
        entry = consts[device] = (placed, runner)
    placed, runner = entry
    if runner is None:
        return tuple(interpret(closed.jaxpr, placed, values))
    with backend.scope(device):
        return tuple(runner(placed, values))


def interpret(jaxpr: Any, consts: list, values: Sequence[Any]) -> list:
    """Evaluate ``jaxpr`` on buffers by binding its primitives one by one (each runs where its
    operands live): the device path of compiled code until device code generation exists."""
    _wrap_impls()
    args = []
    for v, aval in zip(values, jaxpr.in_avals, strict=True):
        a = ArrayImpl.__new__(ArrayImpl)
        a._value, a._weak = v, aval.weak_type
        args.append(a)
    outs = eval_jaxpr(jaxpr, consts, *args)
    return [o._value if isinstance(o, ArrayImpl) else np.asarray(o, aval.dtype)
            for o, aval in zip(outs, jaxpr.out_avals, strict=True)]  # fmt: skip


def device_aware_scan(
    loop: Callable[..., Any], body: Any, num_consts: int, num_carry: int, length: int,
    reverse: bool,
) -> Callable[..., Any]:  # fmt: skip
    """A compiled scan ``loop`` over ``body`` (a ClosedJaxpr) that runs the steps with
    ``interpret`` when its operands are device buffers (see ``device_aware``)."""
    if not _BACKENDS and not cuda_installed():
        return loop

    def fn(*values: Any) -> Any:
        device = _target(values)
        if device is None:
            return loop(*values)
        consts = list(values[:num_consts])
        carry = list(values[num_consts : num_consts + num_carry])
        xs = values[num_consts + num_carry :]
        ys = []
        for i in range(length - 1, -1, -1) if reverse else range(length):
            out = interpret(body.jaxpr, body.consts, [*consts, *carry, *[x[i] for x in xs]])
            carry = out[:num_carry]
            ys.append(out[num_carry:])
        if reverse:
            ys.reverse()
        backend = _BACKENDS[device.platform]
        stacked = []
        with backend.scope(device):
            for j, aval in enumerate(body.out_avals[num_carry:]):
                if ys:
                    stacked.append(backend.xp.stack([backend.put(y[j], device) for y in ys]))
                else:
                    stacked.append(backend.xp.empty((0, *aval.shape), aval.dtype))
        return (*carry, *stacked)

    return fn


def _const_on(c: Any, backend: Backend, device: Device) -> Any:
    if isinstance(c, ArrayImpl) and np.ndim(c._value) > 0:
        out = ArrayImpl.__new__(ArrayImpl)
        out._value, out._weak = backend.put(c._value, device), c._weak
        return out
    return c


def use_environment_default() -> None:
    """Make ``$VFUNC_DEFAULT_DEVICE`` (``gpu``, ``cuda:1``, ``cpu``) the default device of every
    thread: a whole program, the test suite say, then runs there unchanged. ``import vfunc``
    calls this once every primitive is registered."""
    global _DEFAULT
    name = os.environ.get("VFUNC_DEFAULT_DEVICE")
    if not name:
        return
    device = _parse_device(name)
    _DEFAULT = contextvars.ContextVar("vfunc_default_device", default=device)
    if device.platform != "cpu":
        hooks.place_new = _place_new
