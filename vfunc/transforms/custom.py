"""User-defined derivative rules (custom_vjp, custom_jvp) and rematerialization (checkpoint).

Each works by recognizing the innermost differentiation trace among the arguments and recording
one node whose backward rule is the user's (or a re-run of the function). Under vmap the
function, its rules and its checkpoint are vmapped themselves and applied one level down, so a
differentiation trace below still sees the user's rule. Under any other trace, or none, the
plain function runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from vfunc import tree
from vfunc.core import Tracer, find_top_trace
from vfunc.primitives._batching import to_front
from vfunc.transforms.ad import (
    JVPTrace,
    JVPTracer,
    VJPTrace,
    _as_value,
    _match_dtype,
    is_differentiable_dtype,
    vjp,
    zeros_like_aval,
)
from vfunc.transforms.batching import BatchTrace, BatchTracer, vmap


def _lower(leaf: Any, trace: Any) -> Any:
    """The value of ``leaf`` one level below ``trace`` (its primal if it is ``trace``'s)."""
    if isinstance(leaf, Tracer) and leaf._trace is trace:
        return leaf.primal
    return leaf


class _RecordedRule:
    """Looks like a multiple-results primitive to the backward pass."""

    multiple_results = True
    vjp_wants = False

    def __init__(self, name: str, backward: Callable[[list], list]):
        self.name = name
        self._backward = backward

    def vjp(self, g: list, *primals: Any, out: list) -> list:
        del primals, out
        return self._backward(g)


def _split_nondiff(args: tuple, nondiff_argnums: tuple[int, ...]) -> tuple[tuple, list]:
    diff = tuple(a for i, a in enumerate(args) if i not in nondiff_argnums)
    fixed = [a for i, a in enumerate(args) if i in nondiff_argnums]
    return diff, fixed


def _merge(diff: Sequence[Any], fixed: Sequence[Any], nondiff_argnums: tuple[int, ...]) -> list:
    diff_it, fixed_it = iter(diff), iter(fixed)
    total = len(diff) + len(fixed)
    return [next(fixed_it) if i in nondiff_argnums else next(diff_it) for i in range(total)]


def _check_nondiff(name: str, fixed: list, trace: Any) -> None:
    for leaf in tree.leaves(fixed):
        if isinstance(leaf, Tracer) and leaf._trace is trace:
            raise TypeError(
                f"{name}: an argument listed in nondiff_argnums is being differentiated; move it "
                "out of nondiff_argnums or stop its gradient with lax.stop_gradient"
            )


class custom_vjp:  # noqa: N801 - named as in JAX
    """A function with a user-defined reverse-mode rule, as ``jax.custom_vjp``.

    Define ``fwd(*args) -> (out, residuals)`` and ``bwd(*nondiff_args, residuals, g) ->
    tuple`` (one cotangent per differentiable argument, each shaped like it) and attach them with
    ``f.defvjp(fwd, bwd)``. Forward mode (``jvp``) of a custom_vjp function raises TypeError, as
    in JAX.

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
        name = getattr(self.fun, "__name__", "custom_vjp function")
        if self.fwd is None or self.bwd is None:
            raise AttributeError(f"{name}: call defvjp(fwd, bwd) before using the function")
        diff, fixed = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree.flatten(diff)
        top = find_top_trace(leaves)
        if isinstance(top, JVPTrace):
            raise TypeError(
                f"can't apply forward-mode autodiff (jvp) to the custom_vjp function {name}; "
                "use custom_jvp for rules that must work in forward mode"
            )
        if isinstance(top, BatchTrace):
            return self._batched(top, leaves, in_tree, fixed, name)
        if not isinstance(top, VJPTrace):
            return self.fun(*args)
        _check_nondiff(name, fixed, top)
        primal_diff = tree.unflatten(in_tree, [_lower(x, top) for x in leaves])
        result = self.fwd(*_merge(primal_diff, fixed, self.nondiff_argnums))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise TypeError(f"{name}: fwd must return a pair (output, residuals)")
        out, residuals = result
        out_leaves, out_tree = tree.flatten(out)
        primal_leaves = [_as_value(x) for x in tree.leaves(primal_diff)]
        bwd = self.bwd

        def backward(g: list) -> list:
            cts = bwd(*fixed, residuals, tree.unflatten(out_tree, g))
            if not isinstance(cts, (tuple, list)) or len(cts) != len(diff):
                raise ValueError(
                    f"{name}: bwd must return a tuple with one cotangent per differentiable "
                    f"argument ({len(diff)}, structured as {in_tree}), got {_describe(cts)}"
                )
            ct_leaves, ct_tree = tree.flatten(tuple(cts))
            if ct_tree != in_tree:
                raise ValueError(
                    f"{name}: bwd returned cotangents structured as {ct_tree}, but the "
                    f"differentiable arguments are structured as {in_tree}"
                )
            out_cts = []
            for ct, primal in zip(ct_leaves, primal_leaves, strict=True):
                ct = _as_value(ct)
                if ct.shape != primal.shape:
                    raise ValueError(
                        f"{name}: bwd returned a cotangent of shape {ct.shape} for an argument "
                        f"of shape {primal.shape}"
                    )
                out_cts.append(_match_dtype(ct, primal.aval))
            return out_cts

        tracers = [top.full_raise(x) for x in leaves]
        outs = top.record(_RecordedRule(f"custom_vjp[{name}]", backward), tracers, out_leaves)
        return tree.unflatten(out_tree, outs)

    def _batched(self, top: BatchTrace, leaves: list, in_tree: Any, fixed: list, name: str):
        vals, dims = _unbatch(top, leaves, fixed, name)
        size, nondiff = top.axis_size, self.nondiff_argnums
        batched = custom_vjp(vmap(_flat(self.fun, in_tree, fixed, nondiff), dims, 0, size))
        bwd = self.bwd

        def batched_bwd(residuals: Any, g: Any) -> tuple:
            cts = vmap(lambda r, c: bwd(*fixed, r, c), (0, 0), 0, size)(residuals, g)
            ct_leaves = tree.leaves(tuple(cts))
            # An argument shared by every member gets the sum of their cotangents.
            return tuple(c if d == 0 else c.sum(0) for c, d in zip(ct_leaves, dims, strict=True))

        batched.defvjp(vmap(_flat(self.fwd, in_tree, fixed, nondiff), dims, 0, size), batched_bwd)
        return _rebatch(top, batched(*vals))


def _unbatch(top: BatchTrace, leaves: list, fixed: list, name: str) -> tuple[list, tuple]:
    """The lowered values of ``leaves`` with their batch axis first, and their in_axes."""
    if any(isinstance(x, Tracer) and x._trace is top for x in tree.leaves(fixed)):
        raise NotImplementedError(
            f"{name}: a non-differentiable argument varies along the vmapped axis; pass it as "
            "a regular argument instead"
        )
    vals, dims = [], []
    for leaf in leaves:
        t = top.full_raise(leaf)
        vals.append(t.val if t.bdim is None else to_front(t.val, t.bdim, top.axis_size))
        dims.append(None if t.bdim is None else 0)
    return vals, tuple(dims)


def _rebatch(top: BatchTrace, out: Any) -> Any:
    return tree.map(lambda o: BatchTracer(top, _as_value(o), 0), out)


def _flat(fun: Callable, in_tree: Any, fixed: list, nondiff_argnums: tuple[int, ...]):
    def flat_fun(*leaves: Any) -> Any:
        return fun(*_merge(tree.unflatten(in_tree, list(leaves)), fixed, nondiff_argnums))

    return flat_fun


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


class custom_jvp:  # noqa: N801 - named as in JAX
    """A function with a user-defined forward-mode rule, as ``jax.custom_jvp``.

    ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)`` (nondiff arguments
    come first, as in JAX), or ``f.defjvps(*per_argument)`` with ``d(tangent, out, *primals)``.
    Reverse mode transposes the rule's (linear) tangent map, so ``grad`` works too.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> @vfunc.custom_jvp
        ... def safe_log1pexp(x):
        ...     return vnp.logaddexp(x, 0.0)
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

        def rule(primals: tuple, tangents: tuple) -> tuple:
            out = self.fun(*primals)
            total = None
            for d, t in zip(per_argument, tangents, strict=True):
                if d is not None:
                    term = d(t, out, *primals)
                    total = term if total is None else total + term
            return out, total if total is not None else tree.map(
                lambda o: zeros_like_aval(_as_value(o).aval), out
            )

        self.jvp_rule = rule

    def __call__(self, *args: Any) -> Any:
        name = getattr(self.fun, "__name__", "custom_jvp function")
        if self.jvp_rule is None:
            raise AttributeError(f"{name}: call defjvp(rule) before using the function")
        diff, fixed = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree.flatten(diff)
        top = find_top_trace(leaves)
        if isinstance(top, JVPTrace):
            _check_nondiff(name, fixed, top)
            return self._forward(top, leaves, in_tree, fixed)
        if isinstance(top, VJPTrace):
            _check_nondiff(name, fixed, top)
            return self._reverse(top, leaves, in_tree, fixed, name)
        if isinstance(top, BatchTrace):
            return self._batched(top, leaves, in_tree, fixed, name)
        return self.fun(*args)

    def _batched(self, top: BatchTrace, leaves: list, in_tree: Any, fixed: list, name: str):
        vals, dims = _unbatch(top, leaves, fixed, name)
        size = top.axis_size
        batched = custom_jvp(
            vmap(_flat(self.fun, in_tree, fixed, self.nondiff_argnums), dims, 0, size)
        )

        def member_rule(primals: tuple, tangents: tuple) -> tuple:
            return self._call_rule(
                fixed,
                tree.unflatten(in_tree, list(primals)),
                tree.unflatten(in_tree, list(tangents)),
            )

        batched.defjvp(lambda p, t: vmap(member_rule, (dims, dims), 0, size)(p, t))
        return _rebatch(top, batched(*vals))

    def _call_rule(self, fixed: list, primals: Any, tangents: Any) -> tuple:
        result = self.jvp_rule(*fixed, tuple(primals), tuple(tangents))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise TypeError("custom_jvp: the rule must return a pair (out, tangent_out)")
        return result

    def _forward(self, trace: JVPTrace, leaves: list, in_tree: Any, fixed: list) -> Any:
        primals = [_as_value(_lower(x, trace)) for x in leaves]
        tangents = []
        for x, p in zip(leaves, primals, strict=True):
            t = x.tangent if isinstance(x, JVPTracer) and x._trace is trace else None
            tangents.append(zeros_like_aval(p.aval) if t is None else t)
        out, t_out = self._call_rule(
            fixed, tree.unflatten(in_tree, primals), tree.unflatten(in_tree, tangents)
        )
        out_leaves, out_tree = tree.flatten(out)
        t_leaves = tree.leaves(t_out)
        if len(t_leaves) != len(out_leaves):
            raise ValueError(
                f"custom_jvp: the tangent output ({len(t_leaves)} leaves) must match the "
                f"primal output structure {out_tree}"
            )
        results = []
        for o, t in zip(out_leaves, t_leaves, strict=True):
            o = _as_value(o)
            ok = is_differentiable_dtype(o.dtype)
            results.append(JVPTracer(trace, o, _match_dtype(_as_value(t), o.aval)) if ok else o)
        return tree.unflatten(out_tree, results)

    def _reverse(self, trace: VJPTrace, leaves: list, in_tree: Any, fixed: list, name: str):
        primals = [_as_value(_lower(x, trace)) for x in leaves]
        primal_args = tree.unflatten(in_tree, primals)
        out = self.fun(*_merge(primal_args, fixed, self.nondiff_argnums))
        out_leaves, out_tree = tree.flatten(out)

        def tangent_map(*tangent_leaves: Any) -> list:
            tangents = tree.unflatten(in_tree, list(tangent_leaves))
            return tree.leaves(self._call_rule(fixed, primal_args, tangents)[1])

        def backward(g: list) -> list:
            # The tangent map is linear, so its VJP is the transpose we need.
            zeros = [zeros_like_aval(p.aval) for p in primals]
            _, pullback = vjp(tangent_map, *zeros)
            return list(pullback(list(g)))

        tracers = [trace.full_raise(x) for x in leaves]
        outs = trace.record(_RecordedRule(f"custom_jvp[{name}]", backward), tracers, out_leaves)
        return tree.unflatten(out_tree, outs)


def checkpoint(
    fun: Callable,
    prevent_cse: bool = True,
    policy: Callable | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Callable:
    """Rematerialize ``fun`` in the backward pass instead of storing its intermediates.

    Under ``grad``, only the inputs and outputs of ``fun`` are kept on the tape; the backward
    pass runs ``fun`` again to differentiate it. This trades compute for memory (as
    ``jax.checkpoint``/``jax.remat``). ``prevent_cse`` and ``policy`` are accepted for JAX
    compatibility: everything inside is recomputed.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> layer = vfunc.checkpoint(lambda x: vnp.tanh(vnp.tanh(x)))
        >>> float(vfunc.grad(lambda x: layer(x).sum())(vnp.zeros(3))[0])
        1.0
    """
    del prevent_cse, policy
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def remat_fun(*args: Any) -> Any:
        diff, fixed = _split_nondiff(args, static)
        leaves, in_tree = tree.flatten(diff)
        top = find_top_trace(leaves)
        if isinstance(top, BatchTrace):
            vals, dims = _unbatch(top, leaves, fixed, "checkpoint")
            batched = vmap(_flat(fun, in_tree, fixed, static), dims, 0, top.axis_size)
            return _rebatch(top, checkpoint(batched)(*vals))
        if not isinstance(top, VJPTrace):
            return fun(*args)
        primals = [_lower(x, top) for x in leaves]

        def flat_fun(*flat: Any) -> list:
            return tree.leaves(fun(*_merge(tree.unflatten(in_tree, list(flat)), fixed, static)))

        out = fun(*_merge(tree.unflatten(in_tree, primals), fixed, static))
        out_leaves, out_tree = tree.flatten(out)

        def backward(g: list) -> list:
            _, pullback = vjp(flat_fun, *primals)
            return list(pullback(list(g)))

        name = getattr(fun, "__name__", "function")
        tracers = [top.full_raise(x) for x in leaves]
        outs = top.record(_RecordedRule(f"checkpoint[{name}]", backward), tracers, out_leaves)
        return tree.unflatten(out_tree, outs)

    return remat_fun


remat = checkpoint
