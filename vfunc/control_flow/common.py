"""What cond, while_loop and scan share: sub-jaxpr surgery for their rules, and the front
end's flattening, staging and type checks.

The rules build the sub-jaxprs of the equations they emit with the transforms' public
jaxpr-level API (``vjp_jaxpr``, ``jvp_jaxpr``, ``batch_jaxpr``, ``partial_eval``,
``trace_flat``); the few operations on jaxprs themselves (reordering and adding inputs) are
here.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

from vfunc import tree
from vfunc.config import config
from vfunc.core import Array, ShapedArray, ShapeDtypeStruct, Tracer
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, Var
from vfunc.primitives.builders import as_array
from vfunc.transforms.staging import trace_callable

# ----------------------------------------------------------------------------------------------
# Sub-jaxprs


def is_float(aval: Any) -> bool:
    """Whether values of ``aval`` carry derivatives (float or complex)."""
    return aval.dtype.kind in "fc"


def insert_invars(closed: ClosedJaxpr, at: int, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """``closed`` taking extra unused inputs of ``avals``, inserted before input ``at``."""
    jaxpr = closed.jaxpr
    invars = list(jaxpr.invars)
    invars[at:at] = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.outvars, jaxpr.eqns), closed.consts)


def permuted(closed: ClosedJaxpr, in_order: Sequence[int], out_order: Sequence[int]) -> ClosedJaxpr:
    """``closed`` with its inputs and outputs reordered (new position k holds old ``order[k]``)."""
    jaxpr = closed.jaxpr
    new = Jaxpr(
        jaxpr.constvars, [jaxpr.invars[i] for i in in_order],
        [jaxpr.outvars[i] for i in out_order], jaxpr.eqns,
    )  # fmt: skip
    return ClosedJaxpr(new, closed.consts)


# ----------------------------------------------------------------------------------------------
# The front end: pytrees in, flat operands to the primitives


class _TypeName:
    """A pytree leaf that prints as its type (``f32[3]``), for error messages."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def describe(treedef: Any, avals: Sequence[Any]) -> str:
    """A pytree of types, as ``(f32[3], {'a': i32[]})``, for error messages."""
    return repr(tree.unflatten(treedef, [_TypeName(a.str_short()) for a in avals]))


def flat_arrays(value: Any) -> tuple[list[Array], Any]:
    """The leaves of pytree ``value`` as arrays, and its structure."""
    leaves, treedef = tree.flatten(value)
    return [as_array(leaf) for leaf in leaves], treedef


def types_match(got: Sequence[Any], want: Sequence[Any]) -> bool:
    """Same shapes and dtypes, one for one. Weak types may differ: a Python-scalar carry and a
    float32 update share one type."""
    return len(got) == len(want) and all(
        g.shape == w.shape and g.dtype == w.dtype for g, w in zip(got, want, strict=True)
    )


# ----------------------------------------------------------------------------------------------
# Staging user functions once: eager loops and branches reuse their traced bodies, so the
# compiled code cached per jaxpr object (``compiler.cache``) is reused too.


class _Same:
    """A cache-key part equal only to itself: an object compared by identity (kept alive by
    the key, so its id cannot be reused while the entry exists)."""

    __slots__ = ("obj", "_hash")

    def __init__(self, obj: Any):
        self.obj = obj
        self._hash = id(obj)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Same and other.obj is self.obj


class _Uncacheable(Exception):
    """The function closes over a traced value or too much to key: it is staged every call."""


_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_BUDGET = 256  # key parts per function; a larger closure is staged every call
# id(code) -> (code, names): code objects hash their whole contents, so they are looked up (and
# keyed, as ``_Same``) by identity; a nested function's code is one object for every closure.
_GLOBAL_NAMES: dict[int, tuple[types.CodeType, tuple[str, ...]]] = {}


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """The names ``code`` (and the functions and comprehensions defined in it) may read as
    globals: a superset (attribute names too), which only makes the key a little longer."""
    entry = _GLOBAL_NAMES.get(id(code))
    if entry is None or entry[0] is not code:
        found = dict.fromkeys(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(dict.fromkeys(_global_names(const)))
        if len(_GLOBAL_NAMES) > 4096:
            _GLOBAL_NAMES.clear()
        entry = _GLOBAL_NAMES[id(code)] = (code, tuple(found))
    return entry[1]


def _value_key(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Uncacheable
    t = type(value)
    if t in _PLAIN:
        return (t, value)  # by value: 1, 1.0 and True are different constants
    if isinstance(value, Tracer):
        raise _Uncacheable
    if t is tuple or t is list:
        return (t, *[_value_key(v, depth, budget) for v in value])
    if t is dict:
        return (dict, *[(_value_key(k, depth, budget), _value_key(v, depth, budget))
                        for k, v in value.items()])  # fmt: skip
    if depth > 0 and (t is types.FunctionType or t is functools.partial or t is types.MethodType):
        return _function_key(value, depth - 1, budget)
    # Arrays (immutable), modules, Modules and other objects: by identity, as JAX keys on them.
    return _Same(value)


def _function_key(fun: Any, depth: int, budget: list[int]) -> Any:
    """What the jaxpr staged from ``fun`` depends on besides its arguments' types: its code
    and the current values of the variables it closes over, its defaults and the globals it
    names, functions among them followed ``depth`` levels down."""
    t = type(fun)
    if t is functools.partial:
        return (t, _function_key(fun.func, depth, budget), _value_key(fun.args, depth, budget),
                _value_key(fun.keywords, depth, budget))  # fmt: skip
    if t is types.MethodType:
        return (t, _function_key(fun.__func__, depth, budget), _Same(fun.__self__))
    if t is not types.FunctionType:
        return _Same(fun)  # a callable object: its own identity
    code = fun.__code__
    parts: list[Any] = [_Same(code), _value_key(fun.__defaults__, depth, budget),
                        _value_key(fun.__kwdefaults__, depth, budget)]  # fmt: skip
    for cell in fun.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # a cell not yet assigned (a function defined before its variable)
            raise _Uncacheable from None
        parts.append(_value_key(contents, depth, budget))
    scope = fun.__globals__
    for name in _global_names(code):
        if name in scope:
            parts.append((name, _value_key(scope[name], depth, budget)))
    return tuple(parts)


_STAGED: dict[Any, tuple[ClosedJaxpr, list, Any]] = {}
_MAX_STAGED = 512


def stage(fun: Callable, structure: Any, types: Sequence[tuple], build: Callable[[list], tuple],
          adapter: Callable | None = None) -> tuple:  # fmt: skip
    """``trace_callable(fun, build(sds))``, with the jaxpr reused while ``fun`` and what it
    reads are the same. ``types`` are the argument leaves' ``(shape, dtype, weak_type)``,
    ``structure`` (hashable) their pytree structure, and ``build`` makes the arguments (a
    tuple) from their ``ShapeDtypeStruct``s on a miss. The key is ``fun``'s code, the values
    its closure cells and named globals hold now (arrays and other objects by identity), its
    defaults, and the arguments' types. A closure over a traced value is staged every call.
    ``adapter(fun, *args)``, a module-level function, wraps the call (checks of what ``fun``
    returns).

    As with JAX's caches, a closed-over object changed in place (a numpy array written to,
    an attribute reassigned) is not seen; vfunc Arrays and Modules are immutable.
    """
    try:
        fkey = _function_key(fun, 2, [_BUDGET])
    except _Uncacheable:
        fkey = None
    key: Any = None
    if fkey is not None:
        # (trace_key is set by Config's __setattr__, invisible to the type checker)
        key = (fkey, adapter, structure, tuple(types), config.trace_key)  # type: ignore[attr-defined]
        try:
            found = _STAGED.get(key)
        except TypeError:  # an unhashable part (a default value): staged every call
            key, found = None, None
        if found is not None:
            return found
    target = fun if adapter is None else functools.partial(adapter, fun)
    found = trace_callable(target, build([ShapeDtypeStruct(*t) for t in types]))
    if fkey is not None and key is not None and not found[1]:  # no lifted tracers: reusable
        if len(_STAGED) >= _MAX_STAGED:
            _STAGED.clear()
        _STAGED[key] = found
    return found


def leaf_types(arrays: Sequence[Array]) -> list[tuple]:
    """``(shape, dtype, weak_type)`` of each array: the argument types ``stage`` keys on."""
    return [(a.shape, a.dtype, a.weak_type) for a in arrays]
