"""User-defined derivative rules (custom_vjp, custom_jvp) and rematerialization (checkpoint).

Under any transformation each stages its function to a jaxpr and binds one primitive
(``custom_jvp_call``, ``custom_vjp_call``, ``checkpoint``; see ``transforms.custom_rules``)
that carries the function and the user's rules. Every interpreter then sees the rule, however
the call is nested: inside ``lax.scan``/``cond``/``while_loop`` bodies, under ``vmap``, ``jit``
and ``make_jaxpr``, and to any order of differentiation. With no transformation active the
function simply runs; under differentiation alone (``grad``, ``jvp``, ``vjp`` with nothing
staging around them) the rule runs at once on the primal values and the function is staged only
if something later asks for its jaxpr (``StagedOnDemand``), so it runs as often as in JAX and
may branch in Python on its arguments' values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import optree

from vfunc import tree
from vfunc.core import ShapeDtypeStruct, Tracer, _state, find_top_trace
from vfunc.primitives.builders import as_array
from vfunc.transforms.ad import JVPTrace, JVPTracer, VJPTrace, VJPTracer
from vfunc.transforms.custom_rules import (
    JVPRule,
    StagedOnDemand,
    VJPBwd,
    VJPFwd,
    checkpoint_p,
    custom_jvp_call_p,
    custom_vjp_call_p,
)
from vfunc.transforms.staging import trace_callable, trace_to_jaxpr


def _split_nondiff(args: tuple, nondiff_argnums: tuple[int, ...]) -> tuple[tuple, list]:
    diff = tuple(a for i, a in enumerate(args) if i not in nondiff_argnums)
    fixed = [a for i, a in enumerate(args) if i in nondiff_argnums]
    return diff, fixed


def _merge(diff: Sequence[Any], fixed: Sequence[Any], nondiff_argnums: tuple[int, ...]) -> list:
    diff_it, fixed_it = iter(diff), iter(fixed)
    total = len(diff) + len(fixed)
    return [next(fixed_it) if i in nondiff_argnums else next(diff_it) for i in range(total)]


def _stage(fun: Callable, values: Sequence[Any]) -> tuple[Any, list, Any]:
    """``fun`` of flat arguments staged on their abstract values: (jaxpr, consts, out_tree),
    the closed-over values of enclosing transformations lifted into ``consts``."""
    avals = tuple(ShapeDtypeStruct(v.shape, v.dtype, v.weak_type) for v in values)
    return trace_callable(fun, avals)


def _rule_runs_now(values: Sequence[Any]) -> bool:
    """Whether only differentiation is active and its innermost level differentiates one of
    ``values``: the rule then runs at once on primal values (see ``StagedOnDemand``) and the
    function need not be traced, as in JAX. Under jit, vmap or a loop body it is staged."""
    stack = _state.stack
    if _state.dynamic is not None or not all(isinstance(t, (VJPTrace, JVPTrace)) for t in stack):
        return False
    top = find_top_trace(values)
    for v in values:
        if isinstance(v, Tracer) and v._trace is top:
            if isinstance(v, VJPTracer) and v.slot is not None:
                return True
            if isinstance(v, JVPTracer) and v.tangent is not None:
                return True
    return False


def _stage_later(fun: Callable, values: Sequence[Any], out_tree: list) -> StagedOnDemand:
    """``fun``'s jaxpr staged on demand; ``out_tree`` (a one-slot list) receives its output
    structure if that happens first."""
    avals = tuple(ShapeDtypeStruct(v.shape, v.dtype, v.weak_type) for v in values)

    def stage() -> Any:
        closed, _, tree_out = trace_to_jaxpr(fun, avals)
        out_tree[:] = [tree_out]
        return closed

    return StagedOnDemand(stage)


def _stage_now_or_later(fun: Callable, values: Sequence[Any], out_tree: list) -> tuple[Any, list]:
    """``(call_jaxpr, consts)`` of ``fun`` on ``values``: staged now, or on demand where only
    differentiation is active (``_rule_runs_now``). ``out_tree`` (an empty one-slot list)
    receives the output structure once known: at once when staged now, else from the rule's
    first result or the later staging."""
    if _rule_runs_now(values):
        return _stage_later(fun, values, out_tree), []
    call_jaxpr, consts, tree_out = _stage(fun, values)
    out_tree.append(tree_out)
    return call_jaxpr, consts


def _name(fun: Callable, default: str) -> str:
    return getattr(fun, "__name__", default)


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def _output_and(result: Any, out_tree: list, name: str, rule: str, second: str) -> tuple:
    """A rule's ``(output, second)`` pair as (output leaves, second), checked against the
    function's output structure ``out_tree[0]`` (set from the rule when still empty)."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(
            f"{name}: {rule} must return a pair (output, {second}), got {_describe(result)}"
        )
    out, other = result
    out_leaves, rule_tree = tree.flatten(out)
    if not out_tree:  # the function was not staged: the rule's first result defines it
        out_tree.append(rule_tree)
    if rule_tree != out_tree[0]:
        raise ValueError(
            f"{name}: {rule} returned an output structured as {rule_tree}, but the function's "
            f"output is {out_tree[0]}; the rule's output comes first and must match it"
        )
    return out_leaves, other


def _cotangent_leaves(name: str, k: int, ct: Any, arg: Any) -> list:
    """bwd's cotangent for argument ``k`` as one entry per leaf of ``arg``; None (a zero, as
    JAX allows) may stand for the whole argument or any part of it."""
    arg_tree = tree.structure(arg)
    ct_leaves, ct_tree = tree.flatten(ct)
    if ct_tree == arg_tree:
        return ct_leaves
    try:  # None subtrees: each stands for every leaf below it
        leaves = optree.broadcast_prefix(ct, arg, none_is_leaf=True, namespace=tree.NAMESPACE)
    except ValueError:
        leaves = None
    arrays = [x for x in leaves or [] if x is not None]
    if leaves is None or len(leaves) != arg_tree.num_leaves or len(arrays) != len(ct_leaves):
        raise ValueError(
            f"{name}: bwd returned a cotangent structured as {ct_tree} for argument {k}, which "
            f"is structured as {arg_tree} (None may stand for a zero part)"
        )
    return leaves


class custom_vjp:  # noqa: N801 - named as in JAX
    """A function with a user-defined reverse-mode rule, as ``jax.custom_vjp``.

    Define ``fwd(*args) -> (out, residuals)`` and ``bwd(*nondiff_args, residuals, g) ->
    tuple`` (one cotangent per differentiable argument, shaped like it; ``None`` for a zero
    cotangent) and attach them with ``f.defvjp(fwd, bwd)``. The rule holds inside ``jit``,
    ``vmap`` and the bodies of ``lax.scan``/``cond``. Forward mode (``jvp``) of a custom_vjp
    function raises TypeError, as in JAX.

    ``nondiff_argnums`` are for non-array arguments (functions, ints, configuration): as in
    JAX, passing a traced array there raises TypeError. Differentiating with respect to a value
    that ``fwd`` closes over raises TypeError too (the rule only covers the arguments): pass
    such values as arguments.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> @vfunc.custom_vjp
        ... def clip_gradient(x):
        ...     return x
        >>> clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (vnp.clip(g, -1.0, 1.0),))
        >>> vfunc.grad(lambda x: 5.0 * clip_gradient(x))(2.0)
        Array(1., dtype=float32, weak_type=True)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the forward (``-> (out, residuals)``) and backward (``-> cotangents``) rules."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        name = _name(self.fun, "custom_vjp function")
        if self.fwd is None or self.bwd is None:
            raise AttributeError(f"{name}: call defvjp(fwd, bwd) before using the function")
        diff, fixed = _split_nondiff(args, self.nondiff_argnums)
        for leaf in tree.leaves(fixed):
            if isinstance(leaf, Tracer):
                raise TypeError(
                    f"{name}: a traced array ({leaf.aval.str_short()}) was passed in a position "
                    "listed in nondiff_argnums. As in JAX, nondiff_argnums are for values that "
                    "are not arrays (functions, ints, configuration); pass arrays as regular "
                    "arguments and return None as their cotangent from bwd."
                )
        leaves, in_tree = tree.flatten(diff)
        if find_top_trace(leaves) is None:
            return self.fun(*args)
        values = [as_array(x) for x in leaves]
        nondiff = self.nondiff_argnums

        def fun_flat(*xs: Any) -> Any:
            return self.fun(*_merge(tree.unflatten(in_tree, list(xs)), fixed, nondiff))

        box: list = []  # the output structure (see _stage_now_or_later)
        call_jaxpr, consts = _stage_now_or_later(fun_flat, values, box)
        fwd, bwd = self._rules(name, in_tree, box, fixed, values)
        outs = custom_vjp_call_p.bind(*consts, *values, call_jaxpr=call_jaxpr, fwd=fwd, bwd=bwd,
                                      num_consts=len(consts))  # fmt: skip
        return tree.unflatten(box[0], outs)

    def _rules(self, name: str, in_tree: Any, out_tree: list, fixed: list, values: list):
        user_fwd, user_bwd, nondiff = self.fwd, self.bwd, self.nondiff_argnums
        n_diff = in_tree.num_children
        args = tree.unflatten(in_tree, list(values))
        shapes = [v.shape for v in values]

        def fwd(arg_leaves: list) -> tuple[list, Any]:
            result = user_fwd(*_merge(tree.unflatten(in_tree, arg_leaves), fixed, nondiff))
            return _output_and(result, out_tree, name, "fwd", "residuals")

        def bwd(residuals: Any, g: list) -> list:
            cts = user_bwd(*fixed, residuals, tree.unflatten(out_tree[0], g))
            if not isinstance(cts, (tuple, list)) or len(cts) != n_diff:
                raise ValueError(
                    f"{name}: bwd must return a tuple with one cotangent per differentiable "
                    f"argument ({n_diff}, structured as {in_tree}), got {_describe(cts)}"
                )
            flat: list = []
            for k, (ct, arg) in enumerate(zip(cts, args, strict=True)):
                flat.extend(_cotangent_leaves(name, k, ct, arg))
            out = []
            for ct, shape in zip(flat, shapes, strict=True):
                if ct is not None:
                    ct = as_array(ct)
                    if ct.shape != shape:
                        raise ValueError(
                            f"{name}: bwd returned a cotangent of shape {ct.shape} for an "
                            f"argument of shape {shape}"
                        )
                out.append(ct)
            return out

        return VJPFwd(fwd, name), VJPBwd(bwd, name)


class custom_jvp:  # noqa: N801 - named as in JAX
    """A function with a user-defined forward-mode rule, as ``jax.custom_jvp``.

    ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)`` (nondiff arguments
    come first, as in JAX), or ``f.defjvps(*per_argument)`` with ``d(tangent, out, *primals)``.
    Reverse mode transposes the rule's (linear) tangent map, running the rule once: the
    function itself is not evaluated a second time. The rule holds inside ``jit``, ``vmap``
    and the bodies of ``lax.scan``/``cond``/``while_loop``.

    Arguments in ``nondiff_argnums`` get no derivative (traced arrays there are treated as
    ``stop_gradient``-ed, as in JAX). A rule that reads a value being differentiated which is
    not one of the arguments (a closure) raises TypeError: pass it as an argument.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> @vfunc.custom_jvp
        ... def safe_log1pexp(x):
        ...     return vnp.log1p(vnp.exp(x))
        >>> @safe_log1pexp.defjvp
        ... def _(primals, tangents):
        ...     (x,), (t,) = primals, tangents
        ...     return safe_log1pexp(x), t * vfunc.lax.logistic(x)
        >>> vfunc.grad(safe_log1pexp)(1000.0)
        Array(1., dtype=float32, weak_type=True)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp_rule: Callable | None = None

    def defjvp(self, jvp_rule: Callable) -> Callable:
        """Set ``jvp_rule(*nondiff, primals, tangents) -> (out, tangent_out)``; returns it."""
        self.jvp_rule = jvp_rule
        return jvp_rule

    def defjvps(self, *per_argument: Callable | None) -> None:
        """Set one ``d(tangent, out, *primals)`` per argument (None: no dependence)."""
        from vfunc.transforms.ad import zeros_like_aval

        def rule(primals: tuple, tangents: tuple) -> tuple:
            out = self.fun(*primals)
            total = None
            for d, t in zip(per_argument, tangents, strict=True):
                if d is not None:
                    term = d(t, out, *primals)
                    total = term if total is None else total + term
            return out, total if total is not None else tree.map(
                lambda o: zeros_like_aval(as_array(o).aval), out
            )

        self.jvp_rule = rule

    def __call__(self, *args: Any) -> Any:
        name = _name(self.fun, "custom_jvp function")
        if self.jvp_rule is None:
            raise AttributeError(f"{name}: call defjvp(rule) before using the function")
        diff, fixed = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree.flatten(diff)
        fixed_leaves, fixed_tree = tree.flatten(fixed)
        # Traced nondiff values travel as operands (a rule called later, e.g. when a scan body
        # is differentiated, must not read a tracer of a finished trace), with zero derivative.
        traced = [i for i, x in enumerate(fixed_leaves) if isinstance(x, Tracer)]
        if find_top_trace(leaves + [fixed_leaves[i] for i in traced]) is None:
            return self.fun(*args)
        values = [as_array(x) for x in [fixed_leaves[i] for i in traced] + leaves]
        n_fixed, nondiff = len(traced), self.nondiff_argnums

        def unpack(flat: Sequence[Any]) -> tuple[list, Any]:
            fixed_now = list(fixed_leaves)
            for i, v in zip(traced, flat[:n_fixed], strict=True):
                fixed_now[i] = v
            diff_now = tree.unflatten(in_tree, list(flat[n_fixed:]))
            return tree.unflatten(fixed_tree, fixed_now), diff_now

        def fun_flat(*xs: Any) -> Any:
            fixed_now, diff_now = unpack(xs)
            return self.fun(*_merge(diff_now, fixed_now, nondiff))

        box: list = []  # the output structure (see _stage_now_or_later)
        call_jaxpr, consts = _stage_now_or_later(fun_flat, values, box)
        user_rule = self.jvp_rule

        def rule(flat_args: list, flat_tangents: list) -> tuple[list, list]:
            fixed_now, primals = unpack(flat_args)
            _, tangents = unpack(flat_tangents)  # tangents of nondiff values are ignored
            result = user_rule(*fixed_now, tuple(primals), tuple(tangents))
            out_leaves, t_out = _output_and(result, box, name, "the jvp rule", "tangent_out")
            return out_leaves, tree.leaves(t_out)

        jvp = JVPRule(rule, name, user_rule)
        outs = custom_jvp_call_p.bind(*consts, *values, call_jaxpr=call_jaxpr, jvp=jvp,
                                      num_consts=len(consts))  # fmt: skip
        return tree.unflatten(box[0], outs)


def checkpoint(
    fun: Callable,
    prevent_cse: bool = True,
    policy: Callable | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Callable:
    """Rematerialize ``fun`` in the backward pass instead of storing its intermediates.

    Under ``grad``, only the inputs of ``fun`` are kept for the backward pass, which runs
    ``fun`` again to differentiate it: compute traded for memory (as ``jax.checkpoint`` /
    ``jax.remat``). The call is one ``checkpoint`` equation carrying ``fun``'s jaxpr, so this
    holds under ``jit`` and inside ``lax.scan`` too. With ``prevent_cse`` (the default) the
    compiler never merges the recomputation with the forward pass; ``policy`` is accepted for
    JAX compatibility: everything inside is recomputed.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> layer = vfunc.checkpoint(lambda x: vnp.tanh(vnp.tanh(x)))
        >>> float(vfunc.grad(lambda x: layer(x).sum())(vnp.zeros(3))[0])
        1.0
    """
    del policy
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def remat_fun(*args: Any) -> Any:
        diff, fixed = _split_nondiff(args, static)
        leaves, in_tree = tree.flatten(diff)
        # Any active transformation, not only the arguments': a layer applied to a constant
        # input may close over parameters being differentiated, and must still rematerialize.
        if find_top_trace(leaves) is None and not _state.stack:
            return fun(*args)
        values = [as_array(x) for x in leaves]

        def fun_flat(*xs: Any) -> Any:
            return fun(*_merge(tree.unflatten(in_tree, list(xs)), fixed, static))

        jaxpr, consts, out_tree = _stage(fun_flat, values)
        outs = checkpoint_p.bind(*consts, *values, jaxpr=jaxpr, prevent_cse=bool(prevent_cse),
                                 differentiated=False)  # fmt: skip
        return tree.unflatten(out_tree, outs)

    return remat_fun


remat = checkpoint
