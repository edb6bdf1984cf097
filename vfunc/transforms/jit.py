"""jit: stage a function to a jaxpr once per input signature, optimise it, compile it to Python.

``jit(f)(*args)`` looks up a cache keyed on the pytree structure of the arguments, each leaf's
shape, dtype and weak type, the static arguments' values and the configuration flags
(``config.trace_key``: ``enable_x64`` changes what tracing produces). On a miss it traces ``f`` on
abstract values (``make_jaxpr``), runs the passes in ``compiler.passes`` and generates one
Python function (``compiler.codegen``) that calls numpy and fused numba kernels directly. On a
hit the call costs a flatten, a dict lookup and the generated function.

Composition: under ``grad``, ``vmap``, ``make_jaxpr`` or an enclosing ``jit`` the function is
*inlined*: its primitives are traced by the enclosing transformation like any other code, so
``grad(jit(f))`` and ``vmap(jit(f))`` are exact, and ``jit(grad(f))`` compiles the whole
backward pass. Put ``jit`` outermost for speed.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import optree

from vfunc import tree
from vfunc.config import config
from vfunc.core import ArrayImpl, Tracer, _new_array, _state, to_numpy_canonical
from vfunc.jaxpr import ClosedJaxpr
from vfunc.transforms.compiler import codegen, passes
from vfunc.transforms.staging import trace_to_jaxpr


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
    """Return ``x`` unchanged: vfunc computes synchronously, so every Array is ready.

    Kept for JAX compatibility (benchmark code calls it after every step).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.block_until_ready({"a": vnp.ones(2)})["a"].shape
        (2,)
    """
    return x


def _as_tuple(value: int | str | Sequence[Any] | None) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (int, str)):
        return (value,)
    return tuple(value)


class _Entry:
    """One compiled specialization: the generated function and how to rebuild the outputs."""

    __slots__ = ("compiled", "out_tree", "out_weak", "fn", "single")

    def __init__(self, compiled: codegen.Compiled, out_tree: Any):
        self.compiled = compiled
        self.fn = compiled.fn
        self.out_tree = out_tree
        self.out_weak = compiled.out_weak
        # A function returning one array (not a tuple or dict of them) skips the unflatten.
        self.single = out_tree.num_leaves == 1 and out_tree.num_nodes == 1


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
        self._cache: dict[Any, _Entry] = {}
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
        self._positional = positional
        self.static_argnums = tuple(sorted(nums))
        self.static_argnames = tuple(sorted(names))
        self.donate_argnums = tuple(sorted(set(donate_argnums)))
        self._name = _identifier(getattr(fun, "__name__", "fun"))

    def __repr__(self) -> str:
        return f"<jitted {getattr(self.fun, '__qualname__', self.fun)!r}>"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # Jitted methods bind like functions: `self` becomes the first (traced) argument.
        if instance is None:
            return self
        return functools.partial(self, instance)

    def _cache_size(self) -> int:
        """How many specializations (input signatures) have been compiled."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every compiled specialization."""
        self._cache.clear()

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
        if _jit_state.disabled or _state.dynamic is not None:
            return self.fun(*args, **kwargs)  # inline into the enclosing staging (or eager)
        if self.static_argnums or self.static_argnames:
            dyn_args, dyn_kwargs, statics, names = self._split(args, kwargs)
        else:
            dyn_args, dyn_kwargs, statics, names = args, kwargs, (), None
        # The hot path: flatten, key, look up, call, wrap. Keyword arguments are rare, so
        # positional-only calls flatten the argument tuple alone (a different key shape).
        if dyn_kwargs:
            leaves, treedef = optree.tree_flatten(
                (dyn_args, dyn_kwargs), none_is_leaf=False, namespace=tree.NAMESPACE
            )
        else:
            leaves, treedef = optree.tree_flatten(
                dyn_args, none_is_leaf=False, namespace=tree.NAMESPACE
            )
        signature = []
        values = []
        for leaf in leaves:
            if type(leaf) is ArrayImpl:
                value = leaf._value
                signature.append((value.shape, value.dtype, leaf._weak))
            elif isinstance(leaf, Tracer):
                return self.fun(*args, **kwargs)  # under grad/vmap: inline, see module doc
            else:
                value, weak = _leaf_value(leaf, self.fun)
                signature.append((value.shape, value.dtype, weak))
            values.append(value)
        # The flags' values are part of the key: enable_x64 changes what tracing produces.
        key = (treedef, statics, tuple(signature), config.trace_key)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(args, kwargs, dyn_args, dyn_kwargs, names, key)
        if self.donate_argnums:
            value = None  # the loop variable must not count as a reference to a donated buffer
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
        return optree.tree_unflatten(entry.out_tree, results)

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
