"""Staging: trace a Python function on abstract values into a jaxpr.

``make_jaxpr`` and ``eval_shape`` push a ``JaxprTrace`` as the dynamic trace, so every primitive
bound while the function runs -- even on constants, as in ``vnp.zeros(3)`` -- becomes an
equation. Closed-over arrays become constant vars; Python scalars become literals.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import (
    Array,
    ArrayImpl,
    Primitive,
    ShapedArray,
    ShapeDtypeStruct,
    Trace,
    Tracer,
    new_trace,
    to_numpy_canonical,
    wrap_numpy,
)
from vfunc.errors import ConcretizationTypeError
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var


class JaxprTracer(Tracer):
    """A staged value: an abstract value and the jaxpr variable (or literal) that holds it."""

    # Not ``var``: a slot of that name would hide ``Array.var`` (the variance) on tracers.
    __slots__ = ("jaxpr_var",)

    def __init__(self, trace: JaxprTrace, aval: ShapedArray, var: Var | Literal):
        self._trace = trace
        self.aval = aval
        self.jaxpr_var = var

    def __repr__(self) -> str:
        # JAX's spelling (``JitTracer(~float32[])``): what a notebook printing a traced value
        # under jit or make_jaxpr shows.
        return f"JitTracer({self.aval.str_long()})"


class JaxprTrace(Trace):
    """Records each primitive applied to its tracers as a jaxpr equation."""

    def __init__(self, level: int):
        super().__init__(level)
        self.eqns: list[JaxprEqn] = []
        self.consts: dict[int, tuple[Any, Var]] = {}  # id(value) -> (value, constvar)
        self.arg_names: dict[Var, str] = {}
        self.producers: dict[Var, JaxprEqn] = {}

    def new_arg(self, aval: ShapedArray, name: str) -> JaxprTracer:
        var = Var(aval)
        self.arg_names[var] = name
        return JaxprTracer(self, aval, var)

    def pure(self, value: Any) -> JaxprTracer:
        if isinstance(value, Tracer):  # a tracer of an enclosing transformation: a constant here
            return self._constvar(value, value.aval)
        if not isinstance(value, ArrayImpl):
            value = wrap_numpy(*to_numpy_canonical(value))
        if value.ndim == 0:
            return JaxprTracer(self, value.aval, Literal(value, value.aval))
        return self._constvar(value, value.aval)

    lift = pure

    def _constvar(self, value: Any, aval: ShapedArray) -> JaxprTracer:
        entry = self.consts.get(id(value))
        if entry is None:
            entry = self.consts[id(value)] = (value, Var(aval))
        return JaxprTracer(self, aval, entry[1])

    def process_primitive(self, prim: Primitive, tracers: list, params: dict) -> Any:
        out_avals = prim.abstract_eval(*[t.aval for t in tracers], **params)
        avals = out_avals if prim.multiple_results else [out_avals]
        outvars = [Var(a) for a in avals]
        eqn = JaxprEqn(prim, [t.jaxpr_var for t in tracers], outvars, params)
        self.eqns.append(eqn)
        for v in outvars:
            self.producers[v] = eqn
        outs = [JaxprTracer(self, a, v) for a, v in zip(avals, outvars, strict=True)]
        return outs if prim.multiple_results else outs[0]

    def concretize(self, tracer: Tracer, fn_name: str) -> np.ndarray:
        raise ConcretizationTypeError(
            f"{fn_name}() needs a concrete value, but it was called on an abstract "
            f"{tracer.aval.str_short()} that depends on {self._describe_inputs(tracer)} while "
            "the function was being traced (make_jaxpr/jit) with only shapes and dtypes known. "
            "If that argument is a configuration value, mark it static (static_argnums / "
            "static_argnames); for a value-dependent branch use lax.cond or vnp.where."
        )

    def _describe_inputs(self, tracer: Tracer) -> str:
        names, seen, todo = [], set(), [tracer.jaxpr_var]
        while todo:
            var = todo.pop()
            if isinstance(var, Literal) or id(var) in seen:
                continue
            seen.add(id(var))
            if var in self.arg_names:
                names.append(self.arg_names[var])
            elif var in self.producers:
                todo.extend(self.producers[var].invars)
        if not names:
            return "no argument (a traced constant)"
        return "argument " + ", ".join(sorted(set(names)))

    def to_closed_jaxpr(
        self, in_tracers: Sequence[JaxprTracer], outs: Sequence[Any]
    ) -> ClosedJaxpr:
        out_tracers = [self.full_raise(o) for o in outs]
        consts = list(self.consts.values())
        jaxpr = Jaxpr(
            constvars=[var for _, var in consts],
            invars=[t.jaxpr_var for t in in_tracers],
            outvars=[t.jaxpr_var for t in out_tracers],
            eqns=list(self.eqns),
        )
        return ClosedJaxpr(jaxpr, [value for value, _ in consts])


def _leaf_aval(leaf: Any, path: str) -> ShapedArray:
    if isinstance(leaf, Tracer):
        return leaf.aval
    if isinstance(leaf, ShapeDtypeStruct):
        return ShapedArray(leaf.shape, leaf.dtype, leaf.weak_type)
    if isinstance(leaf, ArrayImpl):
        return leaf.aval
    try:
        value, weak = to_numpy_canonical(leaf)
    except TypeError as err:
        raise TypeError(
            f"argument {path} of type {type(leaf).__name__} is not an array: traced arguments "
            "must be arrays, numbers or pytrees of them (mark other values static)"
        ) from err
    return ShapedArray(value.shape, value.dtype, weak)


def _arg_names(fun: Callable, nargs: int) -> list[str]:
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(nargs):
        if i < len(params) and params[i].kind in (
            params[i].POSITIONAL_ONLY,
            params[i].POSITIONAL_OR_KEYWORD,
        ):
            names.append(params[i].name)
        else:
            names.append(f"args[{i}]")
    return names


def trace_to_jaxpr(
    fun: Callable,
    args: Sequence[Any],
    kwargs: dict | None = None,
    arg_names: Sequence[str] | None = None,
) -> tuple[ClosedJaxpr, Any, Any]:
    """Stage ``fun(*args, **kwargs)``; return the closed jaxpr and the in/out tree definitions.

    Every leaf of ``args`` and ``kwargs`` becomes an input variable, in flattening order.
    ``arg_names`` names the positional arguments in error messages (default: ``fun``'s).
    """
    kwargs = kwargs or {}
    names = list(arg_names) if arg_names is not None else _arg_names(fun, len(args))
    paths_leaves, in_tree = tree.flatten_with_path((tuple(args), kwargs))
    avals = []
    for path, leaf in paths_leaves:
        group, top = path[0].entry, path[1].entry  # (args, kwargs), then position or name
        label = (names[top] if group == 0 else top) + tree.keystr(path[2:])
        avals.append((_leaf_aval(leaf, label), label))
    with new_trace(JaxprTrace, dynamic=True) as trace:
        in_tracers = [trace.new_arg(aval, label) for aval, label in avals]
        args_t, kwargs_t = tree.unflatten(in_tree, in_tracers)
        out = fun(*args_t, **kwargs_t)
        out_leaves, out_tree = tree.flatten(out)
        for leaf in out_leaves:
            if not isinstance(leaf, (Array, np.ndarray, np.generic, bool, int, float, complex)):
                raise TypeError(
                    f"{getattr(fun, '__name__', 'function')} returned a {type(leaf).__name__} "
                    "leaf; traced functions must return arrays, numbers or pytrees of them"
                )
        closed = trace.to_closed_jaxpr(in_tracers, out_leaves)
    return closed, in_tree, out_tree


def trace_callable(fun: Callable, args: tuple) -> tuple[ClosedJaxpr, list, Any]:
    """Stage ``fun(*args)`` (``args``: pytrees of avals or arrays) to a closed jaxpr for use as
    a sub-jaxpr of another equation (a loop body, a branch, a custom rule's function).

    Returns ``(jaxpr, lifted, out_tree)``: closed-over tracers of enclosing transformations are
    removed from the consts and become leading input variables; ``lifted`` are their values, to
    be passed as operands, so that grad, vmap and jit see them like any other input. Concrete
    closed-over arrays stay in the jaxpr's consts.
    """
    closed, _, out_tree = trace_to_jaxpr(fun, args)
    closed, lifted = lift_tracer_consts(closed)
    return closed, lifted, out_tree


def lift_tracer_consts(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list]:
    """``closed`` with its tracer consts (values of enclosing transformations) turned into
    leading input variables, and those values, to be passed as operands (see
    ``trace_callable``)."""
    jaxpr = closed.jaxpr
    kept: list[tuple[Var, Any]] = []
    lifted: list[tuple[Var, Any]] = []
    for var, value in zip(jaxpr.constvars, closed.consts, strict=True):
        (lifted if isinstance(value, Tracer) else kept).append((var, value))
    if not lifted:
        return closed, []
    new = Jaxpr(
        [v for v, _ in kept], [v for v, _ in lifted] + list(jaxpr.invars), jaxpr.outvars,
        jaxpr.eqns,
    )  # fmt: skip
    return ClosedJaxpr(new, [c for _, c in kept]), [c for _, c in lifted]


def trace_flat(fun: Callable[..., Sequence[Any]], avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """Stage ``fun`` of flat arguments of ``avals``, returning a flat sequence, to a closed
    jaxpr: how rules build the sub-jaxprs of the equations they emit. ``fun`` must read only
    its arguments (and concrete values); a closed-over tracer is a bug in the rule."""
    sds = tuple(ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in avals)
    closed, lifted, _ = trace_callable(lambda *a: list(fun(*a)), sds)
    if lifted:  # pragma: no cover - rules only evaluate jaxprs on their own arguments
        raise AssertionError("a rule's staged function closed over a tracer; this is a vfunc bug")
    return closed


def make_jaxpr(
    fun: Callable, static_argnums: int | Sequence[int] = (), return_shape: bool = False
) -> Callable[..., Any]:
    """Return a function that stages ``fun`` and returns its jaxpr (as ``jax.make_jaxpr``).

    Args:
        fun: a function of arrays and pytrees of arrays.
        static_argnums: positions of arguments passed as Python values, not traced.
        return_shape: also return the outputs as a pytree of ``ShapeDtypeStruct``.

    Returns:
        A function taking ``fun``'s arguments and returning a ``ClosedJaxpr`` (printable), or
        ``(ClosedJaxpr, shapes)`` with ``return_shape=True``.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> print(vfunc.make_jaxpr(vnp.sin)(vnp.ones(3)))
        { lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def staged(*args: Any, **kwargs: Any) -> Any:
        fixed = {i % len(args): args[i] for i in static} if static else {}
        dynamic_args = [a for i, a in enumerate(args) if i not in fixed]

        def inner(*dyn: Any, **kw: Any) -> Any:
            it = iter(dyn)
            return fun(*[fixed[i] if i in fixed else next(it) for i in range(len(args))], **kw)

        target = inner if fixed else fun
        closed, _, out_tree = trace_to_jaxpr(target, dynamic_args, kwargs)
        if not return_shape:
            return closed
        shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
        return closed, tree.unflatten(out_tree, shapes)

    return staged


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """Output shapes and dtypes of ``fun(*args, **kwargs)`` without computing anything.

    Arguments may be arrays or ``ShapeDtypeStruct``s (pytrees of them). Returns a pytree of
    ``ShapeDtypeStruct`` with the structure of ``fun``'s output.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.eval_shape(lambda x: x.sum(0), vfunc.ShapeDtypeStruct((3, 4), "float32"))
        ShapeDtypeStruct(shape=(4,), dtype=float32)
    """
    closed, _, out_tree = trace_to_jaxpr(fun, args, kwargs)
    shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
    return tree.unflatten(out_tree, shapes)
