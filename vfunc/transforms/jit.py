"""jit: stage a function to a jaxpr once per input signature, optimise it, compile it to Python.

``jit(f)(*args)`` looks up a cache keyed on the pytree structure of the arguments, each leaf's
shape, dtype and weak type, the static arguments' values and the configuration flags
(``config.trace_key``: ``enable_x64`` changes what tracing produces). On a miss it traces ``f`` on
abstract values (``make_jaxpr``), runs the passes in ``compiler.passes`` and generates one
Python function (``compiler.codegen``) that calls numpy and fused numba kernels directly. On a
hit the call costs building the key, a dict lookup and the generated function.

The key is built per positional argument: a bare Array gives its (shape, dtype, weak type); a
pytree is walked once (``_walk``) into its leaves' buffers and one token per node. An immutable
Module (every container a Module or tuple, every leaf an Array) keeps that walk on the instance
from its second call on, and a Module returned by a jitted function leaves with it, so a model
passed back and forth in a training loop costs a read of its leaves' buffers, not a flatten.

The caches belong to the function (and the jit options), not to the wrapper, as JAX's: a
``jit(f)(x)`` written inline in a loop compiles once. They leave with the function (a weak
reference), before its id can be reused.

Composition: under ``grad``, ``vmap``, ``jvp``, ``make_jaxpr`` or an enclosing ``jit`` the
function is staged once per signature and applied as one ``jit`` equation (JAX's ``pjit``),
carrying its jaxpr. Its rules emit ``jit`` equations over derived jaxprs, cached per (jaxpr,
transformation): forward mode a call of the JVP jaxpr; reverse mode a forward call that also
returns the residuals and a backward call from them (the VJP jaxpr split by ``partial_eval``,
as JAX linearizes and transposes); vmap a call of the batched jaxpr. So ``grad(g)`` of a ``g``
calling ``jit(f)`` runs two compiled functions and interprets nothing, and an enclosing jit
inlines the equation into its own compilation, where fusion crosses the call.

``grad(jit(f))`` and ``value_and_grad(jit(f))`` themselves go further: they are
``jit(grad(f))``, one compiled program made once per function and kept in its caches
(``_vf_transformed``), so the forward and backward passes fuse and no tape runs at all.
"""

from __future__ import annotations

import functools
import inspect
import operator
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import optree

from vfunc import tree
from vfunc.backends import device_aware, on_backend_change
from vfunc.config import config
from vfunc.core import (
    ArrayImpl,
    Primitive,
    ShapedArray,
    ShapeDtypeStruct,
    Tracer,
    _DeletedBuffer,
    _new_array,
    _state,
    to_numpy_canonical,
    wrap_numpy,
)
from vfunc.devices import as_buffer, device_backends_loaded
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Var, check_avals
from vfunc.primitives import axis_env
from vfunc.primitives._batching import batch_size, to_front
from vfunc.transforms.ad import jvp_jaxpr, partial_eval, vjp_jaxpr
from vfunc.transforms.batching import batch_jaxpr
from vfunc.transforms.compiler import codegen, passes
from vfunc.transforms.compiler.cache import JaxprCache, compiled
from vfunc.transforms.staging import lift_tracer_consts, trace_to_jaxpr


class _JitState(threading.local):
    def __init__(self) -> None:
        self.disabled = False


_jit_state = _JitState()


@contextmanager
def disable_jit(disable: bool = True) -> Iterator[None]:
    """Run jitted functions as plain Python (eagerly, op by op) inside this block.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> f = vfunc.jit(lambda x: x * 2)
        >>> with vfunc.disable_jit():
        ...     f(vnp.ones(2))
        Array([2., 2.], dtype=float32)
    """
    previous = _jit_state.disabled
    _jit_state.disabled = disable
    try:
        yield
    finally:
        _jit_state.disabled = previous


def block_until_ready(x: Any) -> Any:
    """Wait until every Array in ``x`` is computed and return ``x`` (as JAX's).

    Host arrays are ready when returned; arrays on a GPU may still be computing, and
    benchmark code calls this after every step to time the work rather than its launch.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.block_until_ready({"a": vnp.ones(2)})["a"].shape
        (2,)
    """
    if device_backends_loaded():  # device work is asynchronous: wait for it
        for leaf in tree.leaves(x):
            if type(leaf) is ArrayImpl:
                leaf.block_until_ready()
    return x


def _as_tuple(value: int | str | Sequence[Any] | None) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (int, str)):
        return (value,)
    return tuple(value)


class _Entry:
    """One compiled specialization: the generated function and how to rebuild the outputs."""

    __slots__ = ("compiled", "out_tree", "out_weak", "fn", "single", "kept")

    def __init__(self, compiled: codegen.Compiled, out_tree: Any):
        self.compiled = compiled
        self.fn = device_aware(compiled)  # compiled.fn itself where CuPy is not installed
        self.out_tree = out_tree
        self.out_weak = compiled.out_weak
        # A function returning one array (not a tuple or dict of them) skips the unflatten.
        self.single = out_tree.num_leaves == 1 and out_tree.num_nodes == 1
        # The Modules among the outputs that leave with their flatten kept (_keep_flattens);
        # None until the first call finds them.
        self.kept: list[tuple[int | None, int, int, _TreeKey]] | None = None


class Lowered:
    """A traced and optimised specialization of a jitted function (``jit(f).lower(*args)``)."""

    def __init__(self, closed: ClosedJaxpr, out_tree: Any, name: str, donated: frozenset):
        self.jaxpr = closed
        self.out_tree = out_tree
        self._name = name
        self._donated = donated

    def as_text(self) -> str:
        """The optimised jaxpr, in ``make_jaxpr``'s notation."""
        return self.jaxpr.pretty_print()

    def compile(self) -> codegen.Compiled:
        """Generate the Python function (``.as_text()`` shows its source)."""
        return codegen.compile_jaxpr(self.jaxpr, self._name, self._donated)


class JitFunction:
    """The callable ``jit`` returns; see ``jit``."""

    def __init__(
        self,
        fun: Callable,
        static_argnums: tuple[int, ...],
        static_argnames: tuple[str, ...],
        donate_argnums: tuple[int, ...],
    ):
        functools.update_wrapper(self, fun)
        self.fun = fun
        # As JAX's, the caches belong to the function (and these options), not to this
        # wrapper: ``jit(f)(x)`` written inline in a loop compiles once.
        caches = _function_caches(fun, (static_argnums, static_argnames, donate_argnums))
        self._caches = caches
        self._cache: dict[Any, _Entry] = caches.entries
        self._positional = caches.positional
        self.static_argnums = caches.static_argnums
        self.static_argnames = caches.static_argnames
        self.donate_argnums = caches.donate_argnums
        self._name = caches.name

    def __repr__(self) -> str:
        return f"<jitted {getattr(self.fun, '__qualname__', self.fun)!r}>"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # Jitted methods bind like functions: `self` becomes the first (traced) argument.
        if instance is None:
            return self
        return functools.partial(self, instance)

    def _cache_size(self) -> int:
        """How many specializations (input signatures) have been compiled for concrete calls."""
        return len(self._cache)

    def _trace_count(self) -> int:
        """How many times the function has been traced for calls under a transformation or
        inside another jit (each staged once per signature, then cached)."""
        return self._caches.traces

    def clear_cache(self) -> None:
        """Forget every compiled specialization and staged jaxpr."""
        self._cache.clear()
        self._caches.staged.clear()
        self._caches.transformed.clear()

    def _vf_transformed(self, transform: Callable, options: tuple) -> JitFunction | None:
        """``jit(transform(fun, *options))`` with this jit's static arguments, made once per
        function and kept with its caches; None where that would change what a call does.

        ``grad(jit(f))`` asks for it (``value_and_grad`` does): the gradient is then one
        compiled program, forward and backward fused and scheduled together as
        ``jit(grad(f))`` is, instead of a compiled forward call returning residuals and a
        compiled backward call with the autodiff tape between them. The values are the same:
        jit promises no more than the function's values. Donated arguments keep the two
        calls (donation is the caller's, of the forward call's buffers).
        """
        if self.donate_argnums:
            return None
        key = (transform, options)
        try:
            transformed = self._caches.transformed.get(key)
        except TypeError:  # unhashable options: the plain path reports them
            return None
        if transformed is None:
            # Kept in fun's caches, it reaches fun through a weak reference (see _weak_target);
            # the jit caches of the transformed function are its own, found by its identity.
            transformed = transform(_weak_target(self.fun), *options)
            self._caches.transformed[key] = transformed
        jitted = JitFunction(transformed, self.static_argnums, self.static_argnames, ())
        jitted._vf_keep = self.fun  # the caller's reference: fun lives while this does
        return jitted

    def _split(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple, list[str]]:
        nargs = len(args)
        static_pos = _positions(self.static_argnums, nargs)
        statics = []
        for i in sorted(static_pos):
            statics.append((i, _check_hashable(args[i], f"static argument {i}", self.fun)))
        for name in self.static_argnames:
            if name in kwargs:
                statics.append((name, _check_hashable(kwargs[name], f"static argument {name!r}",
                                                      self.fun)))  # fmt: skip
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_pos)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        names = [
            self._positional[i] if i < len(self._positional) else f"args[{i}]"
            for i in range(nargs)
            if i not in static_pos
        ]
        return dyn_args, dyn_kwargs, tuple(statics), names

    def _bind_statics(self, args: tuple, kwargs: dict) -> Callable:
        nargs = len(args)
        static_pos = _positions(self.static_argnums, nargs)
        static_kw = {k: v for k, v in kwargs.items() if k in self.static_argnames}

        def staged(*dyn: Any, **dyn_kw: Any) -> Any:
            it = iter(dyn)
            full = [args[i] if i in static_pos else next(it) for i in range(nargs)]
            return self.fun(*full, **dyn_kw, **static_kw)

        return staged

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _jit_state.disabled:
            return self.fun(*args, **kwargs)
        if _state.stack:
            if any(frame.comm is None for frame in axis_env._env.frames):
                # Collectives over a vmap axis need that vmap's trace, which a staged body
                # does not see (as for scan and cond bodies): inline under a named vmap.
                return self.fun(*args, **kwargs)
            # Under a transformation or inside an enclosing staging: one `jit` equation, whose
            # operands include the transformation's values the function closes over.
            return self._call_staged(args, kwargs)
        if self.static_argnums or self.static_argnames:
            dyn_args, dyn_kwargs, statics, names = self._split(args, kwargs)
        else:
            dyn_args, dyn_kwargs, statics, names = args, kwargs, (), None
        # The hot path: key, look up, call, wrap. Positional calls key each argument on its
        # own: a bare Array needs no flatten at all, and an immutable Module reuses the
        # flatten and signature of its earlier calls (see _arg_key). Keyword arguments are
        # rare: they flatten together with the positional ones, under a key of their own.
        values: list = []
        if dyn_kwargs:
            part = _arg_key((dyn_args, dyn_kwargs), values, self.fun)
            key = None if part is None else (_KWARGS, part)
        else:
            key = []
            for arg in dyn_args:
                if type(arg) is ArrayImpl:
                    value = arg._value
                    key.append((value.shape, value.dtype, arg._weak))
                    values.append(value)
                    continue
                part = _arg_key(arg, values, self.fun)
                if part is None:
                    key = None
                    break
                key.append(part)
        if key is None:  # pragma: no cover - a Tracer leaf implies a trace on the stack
            return self._call_staged(args, kwargs)
        # The flags' values are part of the key: enable_x64 changes what tracing produces.
        key = (tuple(key), statics, config.trace_key)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(args, kwargs, dyn_args, dyn_kwargs, names, key)
        if self.donate_argnums:
            value = None  # the loop variable must not count as a reference to a donated buffer
            leaves = tree.leaves((dyn_args, dyn_kwargs) if dyn_kwargs else dyn_args)
            outs = self._call_donating(entry, leaves, values)
        else:
            outs = entry.fn(*values)
        if entry.single:
            result = _new_array(ArrayImpl)
            result._value = outs[0]
            result._weak = entry.out_weak[0]
            return result
        results = []
        for out, weak in zip(outs, entry.out_weak, strict=True):
            result = _new_array(ArrayImpl)
            result._value = out
            result._weak = weak
            results.append(result)
        out = optree.tree_unflatten(entry.out_tree, results)
        if entry.kept is None:
            entry.kept = _kept_outputs(out, self.fun)
        for position, start, stop, key in entry.kept:
            module = out if position is None else out[position]
            module.__dict__["_vf_flat"] = _CachedFlat(results[start:stop], key, id(module))
        return out

    def _call_staged(self, args: tuple, kwargs: dict) -> Any:
        """Apply the function as one ``jit`` equation: the call under a transformation (whose
        rules derive compiled calls from it) or inside an enclosing staging (``make_jaxpr``
        shows it; an enclosing jit inlines it). The jaxpr is staged once per signature."""
        if self.static_argnums or self.static_argnames:
            dyn_args, dyn_kwargs, statics, names = self._split(args, kwargs)
        else:
            dyn_args, dyn_kwargs, statics, names = args, kwargs, (), None
        leaves, in_tree = tree.flatten((dyn_args, dyn_kwargs))
        operands = []
        for leaf in leaves:
            if not isinstance(leaf, (Tracer, ArrayImpl)):
                leaf = wrap_numpy(*_leaf_value(leaf, self.fun))
            operands.append(leaf)
        types = tuple([(a.shape, a.dtype, a.weak_type) for a in operands])
        key = (in_tree, types, statics, config.trace_key)
        staged = self._caches.staged.get(key)
        if staged is None:
            abstract = tree.unflatten(in_tree, [ShapeDtypeStruct(*t) for t in types])
            target = self._bind_statics(args, kwargs) if names is not None else self.fun
            closed, _, out_tree = trace_to_jaxpr(target, abstract[0], abstract[1], names)
            self._caches.traces += 1
            closed, lifted = lift_tracer_consts(closed)
            staged = (closed, lifted, out_tree)
            if not lifted:  # a closure over an enclosing transformation's values: not reusable
                self._caches.staged[key] = staged
        closed, lifted, out_tree = staged
        outs = jit_p.bind(*lifted, *operands, jaxpr=closed, name=self._caches.label)
        return tree.unflatten(out_tree, outs)

    def _compile(self, args, kwargs, dyn_args, dyn_kwargs, names, key) -> _Entry:
        lowered = self._lower(args, kwargs, dyn_args, dyn_kwargs, names)
        entry = _Entry(lowered.compile(), lowered.out_tree)
        self._cache[key] = entry  # only after a successful compile: errors leave no entry
        return entry

    def _lower(self, args, kwargs, dyn_args, dyn_kwargs, names) -> Lowered:
        target = self._bind_statics(args, kwargs) if names is not None else self.fun
        closed, _, out_tree = trace_to_jaxpr(target, dyn_args, dyn_kwargs, arg_names=names)
        donated = self._donated_leaves(dyn_args, dyn_kwargs, args)
        return Lowered(passes.optimize(closed), out_tree, self._name, donated)

    def _donated_leaves(self, dyn_args: tuple, dyn_kwargs: dict, args: tuple) -> frozenset:
        if not self.donate_argnums:
            return frozenset()
        nargs = len(args)
        donated_pos = _positions(self.donate_argnums, nargs)
        static_pos = _positions(self.static_argnums, nargs)
        flat, start = set(), 0
        dyn_index = 0
        for i in range(nargs):
            if i in static_pos:
                continue
            count = len(tree.leaves(dyn_args[dyn_index]))
            if i in donated_pos:
                flat.update(range(start, start + count))
            start += count
            dyn_index += 1
        return frozenset(flat)

    def _call_donating(self, entry: _Entry, leaves: list, values: list) -> Any:
        donated = entry.compiled.donated
        offers: list = [None] * len(values)
        for i in donated:
            leaf = leaves[i]
            if type(leaf) is ArrayImpl and _only_owner(leaf._value):
                value = leaf._value
                value.flags.writeable = True  # it owns its memory, so numpy allows this
                offers[i] = value
        outs = entry.fn(*values, _donated=offers)
        for i in donated:
            leaf = leaves[i]
            if type(leaf) is ArrayImpl:
                leaf.delete()
        return outs

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace and optimise for these arguments without running (``jax.jit(f).lower``)."""
        if self.static_argnums or self.static_argnames:
            dyn_args, dyn_kwargs, _, names = self._split(args, kwargs)
        else:
            dyn_args, dyn_kwargs, names = args, kwargs, None
        return self._lower(args, kwargs, dyn_args, dyn_kwargs, names)


class _FunctionCaches:
    """What jit keeps per (function, options), shared by every ``jit(fun, ...)`` wrapper: the
    compiled specializations of concrete calls, the jaxprs staged for calls under
    transformations, and the options resolved against the signature."""

    __slots__ = ("entries", "staged", "traces", "positional", "static_argnums",
                 "static_argnames", "donate_argnums", "name", "label", "transformed",
                 "__weakref__")  # fmt: skip

    def __init__(self, fun: Callable, options: tuple) -> None:
        static_argnums, static_argnames, donate_argnums = options
        self.entries: dict[Any, _Entry] = {}
        self.staged: dict[Any, tuple[ClosedJaxpr, list, Any]] = {}
        self.traces = 0
        # (transformation, its options) -> the transformed function (see _vf_transformed)
        self.transformed: dict[tuple, Callable] = {}
        try:
            params = list(inspect.signature(fun).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        # As JAX: a static argument can be named either way; both lists end up complete.
        nums = set(static_argnums)
        names = set(static_argnames)
        for i, name in enumerate(positional):
            if name in names:
                nums.add(i)
            if i in nums:
                names.add(name)
        self.positional = positional
        self.static_argnums = tuple(sorted(nums))
        self.static_argnames = tuple(sorted(names))
        self.donate_argnums = tuple(sorted(set(donate_argnums)))
        self.name = _identifier(getattr(fun, "__name__", "fun"))
        self.label = _Label(getattr(fun, "__name__", "fun"))


# id(function) -> {options: caches}, for functions alive: an entry leaves with its function
# (a weakref callback), before the id can be reused by another object.
_BY_FUNCTION: dict[int, dict[tuple, _FunctionCaches]] = {}
_FUNCTION_REFS: dict[int, weakref.ref] = {}


def _function_caches(fun: Callable, options: tuple) -> _FunctionCaches:
    """The caches of ``fun`` under ``options``, shared by every jit wrapper of that function.
    A callable that takes no weak reference gets caches of its own wrapper."""
    key = id(fun)
    ref = _FUNCTION_REFS.get(key)
    if ref is None or ref() is not fun:
        try:
            ref = weakref.ref(fun, functools.partial(_forget_function, key))
        except TypeError:
            return _FunctionCaches(fun, options)
        _FUNCTION_REFS[key] = ref
        _BY_FUNCTION[key] = {}
    per_options = _BY_FUNCTION[key]
    try:
        caches = per_options.get(options)
    except TypeError:  # unhashable options: raised with a clear message by the call
        return _FunctionCaches(fun, options)
    if caches is None:
        caches = per_options[options] = _FunctionCaches(fun, options)
    return caches


@on_backend_change
def _forget_compiled_entries() -> None:
    # Each entry's device routing was fixed when it was compiled (see device_aware).
    for per_options in _BY_FUNCTION.values():
        for caches in per_options.values():
            caches.entries.clear()


def _weak_target(fun: Callable) -> Callable:
    """``fun`` called through a weak reference, with its name and signature: what a cached
    transformation of ``fun`` (kept in ``fun``'s own caches) wraps, so that the caches do not
    keep ``fun`` alive (they leave with it). A function taking no weak reference has caches of
    its own wrapper, not the registry's: it is used as it is."""
    try:
        ref = weakref.ref(fun)
    except TypeError:
        return fun

    def target(*args: Any, **kwargs: Any) -> Any:
        return ref()(*args, **kwargs)  # type: ignore[misc]

    for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
        if hasattr(fun, attr):
            setattr(target, attr, getattr(fun, attr))
    try:
        target.__signature__ = inspect.signature(fun)
    except (TypeError, ValueError):
        pass
    return target


def _forget_function(key: int, ref: weakref.ref) -> None:
    if _FUNCTION_REFS.get(key) is ref:
        del _FUNCTION_REFS[key]
        _BY_FUNCTION.pop(key, None)


class _Label(str):
    """The ``name`` param of a ``jit`` equation: printed bare, as JAX prints it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


_KWARGS = object()  # marks the key of a call with keyword arguments (see __call__)
_VALUE = operator.attrgetter("_value")
_SEEN = object()  # _vf_flat of a Module flattened once: the second call caches its flatten
_NEVER = object()  # _vf_flat of a Module whose flatten cannot be cached (see _arg_key)


class _TreeKey:
    """The cache-key part of one pytree argument (see ``_walk``), hashed once. A Module keeps
    its own, so a call with the same model hashes nothing and compares by identity."""

    __slots__ = ("tokens", "_hash", "__weakref__")

    def __init__(self, tokens: tuple):
        self.tokens = tokens
        self._hash = hash(tokens)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return self is other or (
            type(other) is _TreeKey and self._hash == other._hash and self.tokens == other.tokens
        )


# Every _TreeKey in use, once: equal keys are the same object, so that the jit caches and the
# Modules' cached flattens (see _arg_key) compare by identity instead of token by token.
_TREE_KEYS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _interned(key: _TreeKey) -> _TreeKey:
    found = _TREE_KEYS.get(key)
    if found is None:
        _TREE_KEYS[key] = found = key
    return found


class _CachedFlat:
    """A Module's flatten, kept on the instance: its Array leaves and their key part.

    ``owner`` is the instance's id: a copy of its ``__dict__`` (``copy``, pickle) carries this
    along, and must not use it.
    """

    __slots__ = ("leaves", "key", "owner")

    def __init__(self, leaves: list, key: _TreeKey, owner: int):
        self.leaves = tuple(leaves)
        self.key = key
        self.owner = owner


def _arg_key(arg: Any, values: list, fun: Callable) -> _TreeKey | None:
    """Append the leaf values of one argument to ``values`` and return its key part, or None
    when a leaf is a Tracer (the call is then staged as a ``jit`` equation).

    A Module is immutable, and so are its Array leaves (up to ``delete``), so the flatten of
    an instance passed twice is kept on it (``_vf_flat``) and later calls only read the leaves'
    buffers. Only when every leaf is an Array and every container in the model is a Module or
    a tuple (``_vf_frozen_structure``): a list or dict field could be mutated in place, and a
    numpy leaf written to. The first call only marks the instance, so that a model rebuilt at
    every step (a training loop) pays nothing for a cache it never hits.
    """
    frozen = getattr(type(arg), "_vf_frozen_structure", None)
    state = None
    if frozen is not None:
        d = arg.__dict__
        state = d.get("_vf_flat")
        if type(state) is _CachedFlat and state.owner == id(arg):
            found = list(map(_VALUE, state.leaves))
            if _DeletedBuffer in set(map(type, found)):
                # A leaf was deleted (donated) since: reading it raises core's explanation.
                next(v for v in found if type(v) is _DeletedBuffer).shape  # noqa: B018
            values += found
            return state.key
    tokens: list = []
    try:
        _walk(arg, tokens, values, fun)
    except _TracerLeaf:
        return None
    key = _interned(_TreeKey(tuple(tokens)))
    if frozen is not None and state is not _NEVER:
        if state is None:
            d["_vf_flat"] = _SEEN
        else:
            leaves = tree.leaves(arg)  # once per instance; the order _walk visits
            if all(type(leaf) is ArrayImpl for leaf in leaves) and frozen(arg):
                d["_vf_flat"] = _CachedFlat(leaves, key, id(arg))
            else:
                d["_vf_flat"] = _NEVER
    return key


def _kept_outputs(out: Any, fun: Callable) -> list[tuple[int | None, int, int, _TreeKey]]:
    """Where a jitted function's outputs hold Modules whose flatten can be kept: the output
    itself, or the items of an output tuple or list (``return model, opt_state, loss``).

    A training step returns a new model every call, which the next call takes in: the output
    arrives with its flatten already kept (``_vf_flat``), so that call hashes nothing for it.
    Its key part is the same for every call of one compiled specialization (same treedef,
    same node data objects, same output types), so it is computed here once, by ``_walk``.
    Returns ``(position or None, first leaf, end leaf, key part)`` for each such Module.
    """
    sequence = type(out) is tuple or type(out) is list
    items = list(enumerate(out)) if sequence else [(None, out)]
    kept = []
    start = 0
    for position, item in items:
        count = len(tree.leaves(item))
        frozen = getattr(type(item), "_vf_frozen_structure", None)
        if frozen is not None and frozen(item):
            tokens: list = []
            _walk(item, tokens, [], fun)
            kept.append((position, start, start + count, _interned(_TreeKey(tuple(tokens)))))
        start += count
    return kept


class _TracerLeaf(Exception):
    """A leaf is a Tracer: jit is called under a transformation (see __call__)."""


_OPTREE = object()  # token of a subtree flattened by optree (a namedtuple, OrderedDict, ...)
_LEAF_TYPES = frozenset({np.ndarray, float, int, bool, complex})
# The Python flatten function of each type registered in vfunc's namespace (Modules, ...).
_CUSTOM: dict[type, Callable] = {}


def _walk(node: Any, tokens: list, values: list, fun: Callable) -> None:
    """Flatten ``node`` as ``tree.flatten`` does (same leaves, same order) into its leaves'
    buffers and a key: one token per node, each telling its kind and arity, so that equal
    token sequences mean equal treedefs and leaf signatures.

    optree's C++ flatten looks every node up in its registry, which costs more than this loop
    over the usual containers; anything unusual is handed to optree as one subtree. Array
    children are handled in their parent's loop: a call per leaf would double the cost.
    """
    t = type(node)
    flatten = _CUSTOM.get(t)
    if flatten is not None:
        flat = flatten(node)
        children = flat[0]
        if type(children) is not list and type(children) is not tuple:
            children = list(children)
        tokens.append((t, flat[1], len(children)))
    elif t is dict:
        try:
            names = sorted(node)  # tree.flatten's order
        except TypeError:
            _walk_optree(node, tokens, values, fun)
            return
        tokens.append((dict, tuple(names)))
        children = [node[name] for name in names]
    elif t is tuple or t is list:
        tokens.append((t, len(node)))
        children = node
    elif t is ArrayImpl:
        value = node._value
        tokens.append((value.shape, value.dtype, node._weak))
        values.append(value)
        return
    elif node is None:
        tokens.append(None)  # an empty subtree, as in tree.flatten
        return
    elif t in _LEAF_TYPES or isinstance(node, np.generic):
        value, weak = _leaf_value(node, fun)
        tokens.append((value.shape, value.dtype, weak))
        values.append(value)
        return
    elif isinstance(node, Tracer):
        raise _TracerLeaf
    else:
        entry = optree.register_pytree_node.get(t, namespace=tree.NAMESPACE)
        if entry is None or entry.kind != optree.PyTreeKind.CUSTOM:
            _walk_optree(node, tokens, values, fun)
            return
        _CUSTOM[t] = entry.flatten_func
        _walk(node, tokens, values, fun)
        return
    for child in children:
        if type(child) is ArrayImpl:
            value = child._value
            tokens.append((value.shape, value.dtype, child._weak))
            values.append(value)
        else:
            _walk(child, tokens, values, fun)


def _walk_optree(node: Any, tokens: list, values: list, fun: Callable) -> None:
    leaves, treedef = optree.tree_flatten(node, none_is_leaf=False, namespace=tree.NAMESPACE)
    tokens.append((_OPTREE, treedef))
    for leaf in leaves:
        if type(leaf) is ArrayImpl:
            value = leaf._value
            tokens.append((value.shape, value.dtype, leaf._weak))
        elif isinstance(leaf, Tracer):
            raise _TracerLeaf
        else:
            value, weak = _leaf_value(leaf, fun)
            tokens.append((value.shape, value.dtype, weak))
        values.append(value)


def _positions(argnums: tuple[int, ...], nargs: int) -> set[int]:
    """The non-negative positions ``argnums`` name among ``nargs`` positional arguments (as in
    JAX, numbers beyond the call's arguments are ignored)."""
    return {i % nargs for i in argnums if -nargs <= i < nargs}


def _only_owner(value: np.ndarray) -> bool:
    """Whether ``value``'s buffer is provably visible to nobody but the donated Array.

    It must own its memory (not a view of another array) and have no other references: views
    of it hold one, as does any other Array sharing it or a NumPy array handed out by
    ``np.asarray``. The count is: the Array's slot, the caller's ``values`` list, this
    function's argument and ``getrefcount``'s own.
    """
    if type(value) is not np.ndarray:  # a device buffer: donation reuses host buffers only
        return False
    return value.base is None and value.flags.c_contiguous and sys.getrefcount(value) <= 4


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"f_{cleaned}"


def _check_hashable(value: Any, what: str, fun: Callable) -> Any:
    try:
        hash(value)
    except TypeError:
        raise ValueError(
            f"jit({getattr(fun, '__name__', 'function')}): {what} must be hashable to key the "
            f"compilation cache, but got an unhashable {type(value).__name__}. Pass a tuple "
            "instead of a list, or make it a traced (array) argument."
        ) from None
    return value


def _leaf_value(leaf: Any, fun: Callable) -> tuple[np.ndarray, bool]:
    try:
        return to_numpy_canonical(leaf)
    except TypeError as err:
        raise TypeError(
            f"jit({getattr(fun, '__name__', 'function')}): argument leaves must be arrays or "
            f"numbers, got {type(leaf).__name__}; mark configuration arguments static with "
            "static_argnums / static_argnames"
        ) from err


# ----------------------------------------------------------------------------------------------
# jit[jaxpr name] *operands: a jitted function applied under a transformation or inside a staged
# program (JAX's ``jit``/``pjit`` equation). Its rules emit ``jit`` equations again, over
# derived jaxprs cached per (jaxpr, transformation), so every composition runs compiled code.


def _jit_shape(*avals: ShapedArray, jaxpr: ClosedJaxpr, name: str) -> list[ShapedArray]:
    check_avals(f"jit({name})", "operands", avals, jaxpr.in_avals)
    return [ShapedArray(a.shape, a.dtype) for a in jaxpr.out_avals]


def _jit_weak(weak: Sequence[bool], *, jaxpr: ClosedJaxpr, name: str) -> list[bool]:
    return [a.weak_type for a in jaxpr.out_avals]


def _jit_impl(*args: np.ndarray, jaxpr: ClosedJaxpr, name: str) -> list[np.ndarray]:
    return [as_buffer(o) for o in compiled(jaxpr)(*args)]  # device buffers stay put


def _is_float(aval: Any) -> bool:
    return aval.dtype.kind in "fc"


# Derived jaxprs, per (primal jaxpr object, transformation): the primal jaxprs are themselves
# cached per function and signature, so a derived one (and its compiled code) is made once.
_DERIVED = JaxprCache()


def _jit_jvp_full(primals: list, tangents: list, *, jaxpr: ClosedJaxpr, name: str) -> tuple:
    nonzero = tuple(t is not None for t in tangents)
    forward = _DERIVED.get(jaxpr, "jvp", nonzero,
                           make=lambda: jvp_jaxpr(jaxpr, nonzero, primals_out=True))  # fmt: skip
    outs = jit_p.bind(*primals, *[t for t in tangents if t is not None], jaxpr=forward,
                      name=_Label(f"jvp({name})"))  # fmt: skip
    n = len(jaxpr.out_avals)
    tans = iter(outs[n:])
    return outs[:n], [next(tans) if _is_float(a) else None for a in jaxpr.out_avals]


def _jit_jvp(primals: list, tangents: list, *, out: Any, jaxpr: ClosedJaxpr, name: str) -> list:
    del out
    return _jit_jvp_full(primals, tangents, jaxpr=jaxpr, name=name)[1]


def join_known(closed: ClosedJaxpr, known: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` also returning ``known``'s outputs, ``known`` (from ``partial_eval``) taking
    the same inputs; common subexpressions merged (``known`` usually repeats the primal
    computation, as a VJP jaxpr recomputes it) and dead code dropped."""
    body, kj = closed.jaxpr, known.jaxpr
    rename = dict(zip(kj.invars, body.invars, strict=True))

    def r(v: Any) -> Any:
        return rename.get(v, v) if isinstance(v, Var) else v

    extra = [JaxprEqn(e.primitive, [r(v) for v in e.invars], e.outvars, e.params)
             for e in kj.eqns]  # fmt: skip
    joined = ClosedJaxpr(
        Jaxpr(
            list(body.constvars) + list(kj.constvars), list(body.invars),
            list(body.outvars) + [r(v) for v in kj.outvars], list(body.eqns) + extra,
        ),
        list(closed.consts) + list(known.consts),
    )  # fmt: skip
    return passes.dead_code_elimination(passes.common_subexpression_elimination(joined))


class _Linearized:
    """Reverse mode of one jitted jaxpr, split as JAX splits it (linearize, then transpose):
    ``forward`` computes the outputs and the residuals the backward pass reads, in one
    compiled call; ``backward(wanted)`` maps (float output cotangents, residuals) to the
    cotangents of the wanted inputs, dead code for the others dropped."""

    def __init__(self, closed: ClosedJaxpr):
        in_avals = closed.in_avals
        self.float_inputs = [k for k, a in enumerate(in_avals) if _is_float(a)]
        vjp = passes.dead_code_elimination(vjp_jaxpr(closed, [_is_float(a) for a in in_avals]))
        n_in, n_ct = len(in_avals), len(vjp.in_avals) - len(in_avals)
        known, self.rest = partial_eval(vjp, [False] * n_in + [True] * n_ct,
                                        [False] * (n_in + n_ct))  # fmt: skip
        self.forward = join_known(closed, known)
        self._backward: dict[tuple[bool, ...], ClosedJaxpr] = {}

    def backward(self, wanted: tuple[bool, ...]) -> ClosedJaxpr:
        found = self._backward.get(wanted)
        if found is None:
            rest = self.rest.jaxpr
            outs = [v for v, k in zip(rest.outvars, self.float_inputs, strict=True) if wanted[k]]
            found = passes.dead_code_elimination(
                ClosedJaxpr(Jaxpr(rest.constvars, rest.invars, outs, rest.eqns), self.rest.consts)
            )
            self._backward[wanted] = found
        return found


def _linearized(jaxpr: ClosedJaxpr) -> _Linearized:
    return _DERIVED.get(jaxpr, "vjp", make=lambda: _Linearized(jaxpr))


def _jit_vjp_forward(*primals: Any, jaxpr: ClosedJaxpr, name: str) -> tuple[list, tuple]:
    outs = jit_p.bind(*primals, jaxpr=_linearized(jaxpr).forward, name=name)
    n = len(jaxpr.out_avals)
    return outs[:n], tuple(outs[n:])


def _jit_vjp(g, *primals, out, wants, jaxpr, name, residuals=None):
    del out
    wanted = tuple(w and _is_float(a) for w, a in zip(wants, jaxpr.in_avals, strict=True))
    if not any(wanted):
        return (None,) * len(primals)
    if residuals is None:  # forward mode derived from this rule, or a direct call
        residuals = _jit_vjp_forward(*primals, jaxpr=jaxpr, name=name)[1]
    float_g = [gi for gi, a in zip(g, jaxpr.out_avals, strict=True) if _is_float(a)]
    backward = _linearized(jaxpr).backward(wanted)
    label = _Label(f"transpose(jvp({name}))")
    cts = iter(jit_p.bind(*float_g, *residuals, jaxpr=backward, name=label))
    return tuple(next(cts) if w else None for w in wanted)


def _jit_batch(args: Sequence[Any], dims: Sequence[int | None], *, jaxpr: ClosedJaxpr,
               name: str) -> tuple[list, list]:  # fmt: skip
    size = batch_size(args, dims)
    moved = [x if d is None else to_front(x, d, size) for x, d in zip(args, dims, strict=True)]
    batched = tuple(d is not None for d in dims)
    body, out_batched = _DERIVED.get(jaxpr, "batch", size, batched,
                                     make=lambda: batch_jaxpr(jaxpr, size, batched))  # fmt: skip
    outs = jit_p.bind(*moved, jaxpr=body, name=_Label(f"vmap({name})"))
    return outs, [0 if b else None for b in out_batched]


jit_p = Primitive(
    "jit", _jit_impl, _jit_shape, weak_type=_jit_weak, vjp=_jit_vjp, jvp=_jit_jvp,
    batch=_jit_batch, multiple_results=True, vjp_wants=True, vjp_forward=_jit_vjp_forward,
    jvp_full=_jit_jvp_full, call_jaxpr_param="jaxpr",
    # An enclosing jit compiles the callee's equations with its own: fusion crosses the call.
    compiler_inline=lambda params: True,
)  # fmt: skip


def jit(
    fun: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    donate_argnums: int | Sequence[int] = (),
) -> Any:
    """Compile ``fun``: trace it once per input signature, optimise and generate Python code.

    Args:
        fun: a pure function of arrays and pytrees of arrays.
        static_argnums: positions of arguments that are Python values (hashable) rather than
            arrays: they are baked into the compiled code and part of the cache key.
        static_argnames: the same, by name.
        donate_argnums: positions of arguments whose buffers the compiled code may reuse for
            its outputs. A donated Array is deleted by the call (using it afterwards raises);
            its buffer is reused only when nothing else can see it, so donation never changes
            results.

    Returns:
        A callable with ``fun``'s signature; ``.lower(*args)`` gives the optimised jaxpr
        (``.as_text()``) and ``.lower(*args).compile().as_text()`` the generated source;
        ``._cache_size()`` counts compiled specializations.

    Usable as ``@jit``, ``@jit(static_argnums=...)`` or ``functools.partial(jit, ...)``.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> @vfunc.jit
        ... def f(x):
        ...     return vnp.sin(x) * 2.0
        >>> f(vnp.zeros(2))
        Array([0., 0.], dtype=float32)
        >>> print(f.lower(vnp.zeros(2)).as_text())
        { lambda ; a:f32[2]. let
            b:f32[2] = sin a
            c:f32[2] = mul b 2.0:f32[]
          in (c,) }
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            donate_argnums=donate_argnums,
        )
    if not callable(fun):
        raise TypeError(f"jit: expected a function, got {type(fun).__name__}")
    return JitFunction(
        fun, _as_tuple(static_argnums), _as_tuple(static_argnames), _as_tuple(donate_argnums)
    )
