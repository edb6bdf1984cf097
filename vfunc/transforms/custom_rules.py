"""User-defined derivatives and rematerialization as primitives that carry their function.

``custom_jvp_call``, ``custom_vjp_call`` and ``checkpoint`` hold the function they apply as a
closed jaxpr in their params (as JAX's ``custom_jvp_call``, ``custom_vjp_call`` and
``checkpoint``/``remat``), so staging (``make_jaxpr``, ``jit``, the bodies of ``scan``,
``cond`` and ``while_loop``), ``vmap`` and the compiler see one equation whose rules are the
user's, however late the function is differentiated: a rule is never lost because the
function was traced inside a loop body first.

Operands are ``(*consts, *args)``: ``consts`` are the values of enclosing transformations the
function closes over (lifted by staging, as for control flow), ``args`` its explicit
arguments. The user's rules speak about ``args`` only. A closed-over value that is being
differentiated gets its derivative by ordinary differentiation of the function (what a
checkpointed closure needs); a rule whose primal results depend on such a value raises
TypeError (``_check_no_escape``), as JAX does for every differentiated closure.

The rules are Python callables over flat lists (``JVPRule``, ``VJPFwd``, ``VJPBwd``, built by
``vfunc.transforms.custom``), called when a transformation needs them, never at staging time:
a rule that calls its own function (``fwd`` returning ``f(x)``) then stages a nested call
instead of recursing forever.

These primitives live with the transforms, not in the primitive registry's family modules:
their rules are built from the transforms themselves (``vjp``, ``jvp``, ``vmap`` and the
jaxpr-level ``vjp_jaxpr``/``jvp_jaxpr``/``batch_jaxpr``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc.core import ArrayImpl, Primitive, ShapedArray, Tracer, _state, wrap_numpy
from vfunc.devices import as_buffer
from vfunc.errors import UnexpectedTracerError
from vfunc.jaxpr import ClosedJaxpr, check_avals, eval_jaxpr
from vfunc.primitives import builders as lax
from vfunc.primitives._batching import batch_size, to_front
from vfunc.primitives.builders import as_array
from vfunc.transforms import ad
from vfunc.transforms.ad import (
    _match_dtype,
    add_any,
    jvp_jaxpr,
    vjp_jaxpr,
    zeros_like_aval,
)
from vfunc.transforms.batching import batch_jaxpr, vmap

# ----------------------------------------------------------------------------------------------
# Shared by the three: shape, weak types, impl and batching of "apply this jaxpr"


def _call_primitive(
    name: str,
    param: str,
    *,
    vjp: Callable,
    jvp: Callable,
    batch: Callable,
    inline: Callable[[dict], bool],
    vjp_forward: Callable | None = None,
    jvp_full: Callable | None = None,
) -> Primitive:
    """Declare primitive ``name`` applying the jaxpr in its param ``param`` to its operands:
    the impl, shape and weak-type rules are those of the jaxpr, the others given."""

    def impl(*args: np.ndarray, **params: Any) -> list[np.ndarray]:
        return _eval(params[param], args)

    def shape(*avals: ShapedArray, **params: Any) -> list[ShapedArray]:
        jaxpr = params[param]
        check_avals(name, "operands", avals, jaxpr.in_avals)
        return [ShapedArray(a.shape, a.dtype) for a in jaxpr.out_avals]

    def weak(weak: Sequence[bool], **params: Any) -> list[bool]:
        return [a.weak_type for a in params[param].out_avals]

    return Primitive(
        name, impl, shape, weak_type=weak, vjp=vjp, jvp=jvp, batch=batch, multiple_results=True,
        vjp_wants=True, vjp_forward=vjp_forward, jvp_full=jvp_full, call_jaxpr_param=param,
        compiler_inline=inline,
    )  # fmt: skip


def _eval(closed: ClosedJaxpr, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run ``closed`` on numpy arrays, dropping each value after its last use.

    Interpreted, not compiled: eager calls stage a fresh jaxpr every time, and compiling it
    would cost more than running it (jit compiles these equations itself, see codegen).
    Freeing dead values is what keeps a checkpoint's backward pass, which recomputes the
    forward intermediates, within the memory rematerialization promises.
    """
    ins = [a if isinstance(a, ArrayImpl) else wrap_numpy(as_buffer(a)) for a in args]
    outs = eval_jaxpr(closed.jaxpr, closed.consts, *ins, release=True)
    # the buffers themselves: device buffers stay on their device (np.asarray copies them)
    return [o._value if isinstance(o, ArrayImpl) else np.asarray(o) for o in outs]


def _batch_operands(args: Sequence[Any], dims: Sequence[int | None]) -> tuple[int, list, list]:
    size = batch_size(args, dims)
    moved = [x if d is None else to_front(x, d, size) for x, d in zip(args, dims, strict=True)]
    return size, moved, [d is not None for d in dims]


def _is_float(aval: Any) -> bool:
    return aval.dtype.kind in "fc"


def _split(operands: Sequence[Any], num_consts: int) -> tuple[list, list]:
    return list(operands[:num_consts]), list(operands[num_consts:])


def _closure_vjp(jaxpr: ClosedJaxpr, consts: list, args: list, g: list, wanted: list) -> list:
    """Cotangents of the closed-over ``consts`` marked ``wanted``, by differentiating the
    function itself (the user's rule says nothing about them)."""
    picked = [i for i, w in enumerate(wanted) if w]

    def partial(*chosen: Any) -> list:
        full = list(consts)
        for i, v in zip(picked, chosen, strict=True):
            full[i] = v
        outs = eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *full, *args)
        return [o for o, a in zip(outs, jaxpr.out_avals, strict=True) if _is_float(a)]

    _, pullback = ad.vjp(partial, *[consts[i] for i in picked])
    float_g = [gi for gi, a in zip(g, jaxpr.out_avals, strict=True) if _is_float(a)]
    cts = iter(pullback(float_g))
    return [next(cts) if w else None for w in wanted]


def _closure_jvp(jaxpr: ClosedJaxpr, consts: list, args: list, tangents: list) -> list:
    """Output tangents from the tangents of closed-over ``consts`` (None: zero), by
    differentiating the function itself."""
    seeds = [
        zeros_like_aval(c.aval.update(weak_type=False)) if t is None else t
        for c, t in zip(consts, tangents, strict=True)
    ]
    _, out_t = ad.jvp(lambda *c: eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *c, *args), consts, seeds)
    return list(out_t)


def _add_tangents(a: list, b: list) -> list:
    return [add_any(x, y) for x, y in zip(a, b, strict=True)]


# ----------------------------------------------------------------------------------------------
# The rules: Python callables over flat lists


def _run_rule(rule: Any, what: str, *args: Any) -> Any:
    """``rule.fn(*args)``, explaining the one way a rule fails only here: it reads a traced value
    of a transformation that finished before the rule ran."""
    try:
        return rule.fn(*args)
    except UnexpectedTracerError as err:
        raise UnexpectedTracerError(
            f"{rule.name}: its {what} uses a traced value it closes over, from a transformation "
            "that has finished: the function was staged (in a loop or cond body, or jit) and its "
            "rule runs later, when that is differentiated or batched. Pass the value to the "
            f"custom function as an argument instead of closing over it. ({err})"
        ) from err


# ----------------------------------------------------------------------------------------------
# custom_jvp_call[call_jaxpr jvp num_consts] *consts *args


class JVPRule:
    """A custom JVP rule over flat lists: ``rule(args, tangents) -> (outs, tangents_out)``.

    ``tangents`` has one entry per argument (zeros, never None); the results are checked
    against the function's output types by ``custom_jvp_call``. ``batched`` makes the rule of
    the vmapped function.
    """

    def __init__(self, fn: Callable[[list, list], tuple[list, list]], name: str,
                 origin: Any = None):  # fmt: skip
        self.fn = fn
        self.name = name
        self.origin = fn if origin is None else origin  # the user's rule: one per custom_jvp

    def __call__(self, args: list, tangents: list) -> tuple[list, list]:
        return _run_rule(self, "jvp rule", args, tangents)

    def batched(self, size: int, dims: Sequence[int | None]) -> JVPRule:
        """The rule applied to every member of a batch (arguments batched along ``dims``)."""
        axes = tuple(dims)

        def member(a: tuple, t: tuple) -> tuple:
            return self.fn(list(a), list(t))

        def fn(args: list, tangents: list) -> tuple[list, list]:
            outs, touts = vmap(member, (axes, axes), 0, size)(tuple(args), tuple(tangents))
            return list(outs), list(touts)

        return JVPRule(fn, self.name, self.origin)

    def __repr__(self) -> str:
        return f"<jvp rule of {self.name}>"


class StagedOnDemand:
    """A custom function's ``call_jaxpr`` that is staged only if something reads it.

    Used when the function is called under differentiation alone (no ``jit``, ``vmap`` or loop
    body around it) and the innermost differentiation sees its arguments: the rule then runs at
    once on the primal values, as in JAX, and the function itself is never traced. Its Python
    side effects happen as often as in JAX, and Python control flow on argument values
    (``if x > 0:`` in the function or its rule) works, as under ``grad`` anywhere else.
    ``stage()`` returns the closed jaxpr (closed-over tracers left in its consts).
    """

    def __init__(self, stage: Callable[[], ClosedJaxpr]):
        self._stage = stage
        self._closed: ClosedJaxpr | None = None

    @property
    def staged(self) -> bool:
        """Whether the function has been traced."""
        return self._closed is not None

    def closed(self) -> ClosedJaxpr:
        """The closed jaxpr, traced now if it was not yet."""
        if self._closed is None:
            self._closed = self._stage()
        return self._closed

    @property
    def jaxpr(self) -> Any:
        return self.closed().jaxpr

    @property
    def consts(self) -> list:
        return self.closed().consts

    @property
    def in_avals(self) -> list:
        return self.closed().in_avals

    @property
    def out_avals(self) -> list:
        return self.closed().out_avals

    def __repr__(self) -> str:
        return f"StagedOnDemand({self._closed!r})"


def _out_avals(call_jaxpr: Any, outs: Sequence[Any]) -> list:
    """The function's output types, or (its jaxpr never staged) those of the rule's ``outs``."""
    if isinstance(call_jaxpr, StagedOnDemand) and not call_jaxpr.staged:
        return [as_array(o).aval.update(weak_type=False) for o in outs]
    return call_jaxpr.out_avals


def _check_outs(name: str, what: str, outs: Sequence[Any], avals: Sequence[ShapedArray]) -> list:
    """``outs`` as arrays of the function's output types (dtype converted, shapes checked)."""
    if len(outs) != len(avals):
        raise ValueError(
            f"{name}: {what} has {len(outs)} leaves, but the function returns {len(avals)}"
        )
    checked = []
    for o, a in zip(outs, avals, strict=True):
        o = as_array(o)
        if o.shape != a.shape:
            raise ValueError(
                f"{name}: {what} has a leaf of shape {o.shape} where the function returns "
                f"{a.str_short()}; the rule must match the function's output shapes"
            )
        checked.append(_match_dtype(o, a))
    return checked


_CLOSURE_ERROR = (
    "{name}: a custom rule closes over a value that is being differentiated. The rule only says "
    "how to differentiate the function with respect to its arguments: pass that value as an "
    "argument (and give its derivative in the rule)."
)

# (rule, level of its operands) pairs whose rule is running now. When a rule calls its own
# function (the usual `return f(x), ...`) and that function closes over a value being
# differentiated, the inner call binds at that differentiation level again, with operands of
# the same level, and would run the same rule forever; such a re-entry is the closure error,
# raised at once. Legitimate nesting (grad of grad) runs the rule on operands of another level.
_RUNNING: set[tuple[int, int]] = set()


def _run_once(name: str, jvp: Any, operands: Sequence[Any], run: Any) -> Any:
    levels = (x._trace.level for x in operands if isinstance(x, Tracer))
    key = (id(jvp.origin), max(levels, default=-1))
    if key in _RUNNING:
        raise TypeError(_CLOSURE_ERROR.format(name=name))
    _RUNNING.add(key)
    try:
        return run()
    finally:
        _RUNNING.discard(key)


def _check_no_escape(name: str, operands: Sequence[Any], results: Sequence[Any]) -> None:
    """Raise if a rule's primal results belong to a transformation above its operands: the rule
    closes over a value being differentiated, which only the function's arguments may be."""
    levels = [x._trace.level for x in operands if isinstance(x, Tracer)]
    if _state.dynamic is not None:
        levels.append(_state.dynamic.level)
    ceiling = max(levels, default=-1)
    for r in results:
        if isinstance(r, Tracer) and r._trace.level > ceiling:
            raise TypeError(_CLOSURE_ERROR.format(name=name))


def _cjvp_jvp_full(primals, tangents, *, call_jaxpr, jvp, num_consts):
    consts, args = _split(primals, num_consts)
    consts_t, args_t = _split(tangents, num_consts)
    seeds = [
        zeros_like_aval(a.aval.update(weak_type=False)) if t is None else t
        for a, t in zip(args, args_t, strict=True)
    ]
    outs, touts = _run_once(jvp.name, jvp, primals, lambda: jvp(args, seeds))
    out_avals = _out_avals(call_jaxpr, outs)
    outs = _check_outs(jvp.name, "the rule's primal output", outs, out_avals)
    _check_no_escape(jvp.name, primals, outs)
    touts = _check_outs(jvp.name, "the rule's tangent output", touts, out_avals)
    if any(t is not None for t in consts_t):
        touts = _add_tangents(touts, _closure_jvp(call_jaxpr, consts, args, consts_t))
    return outs, touts


def _cjvp_jvp(primals, tangents, *, out, call_jaxpr, jvp, num_consts):
    del out  # only reached through jvp_of directly; JVPTrace uses jvp_full
    return _cjvp_jvp_full(primals, tangents, call_jaxpr=call_jaxpr, jvp=jvp,
                          num_consts=num_consts)[1]  # fmt: skip


def _cjvp_vjp_forward(*operands, call_jaxpr, jvp, num_consts):
    """Reverse mode: run the rule once, linearizing it in the tangents. The primal outputs come
    from that same run (the function is not evaluated again), and the residual is the
    transpose of the rule's tangent map."""
    consts, args = _split(operands, num_consts)
    seeds = [zeros_like_aval(a.aval.update(weak_type=False)) for a in args]
    def tangent_map(*ts: Any) -> tuple:
        outs, touts = jvp(args, list(ts))
        out_avals = _out_avals(call_jaxpr, outs)
        outs = _check_outs(jvp.name, "the rule's primal output", outs, out_avals)
        touts = _check_outs(jvp.name, "the rule's tangent output", touts, out_avals)
        return touts, outs

    _, pullback, outs = _run_once(jvp.name, jvp, operands,
                                  lambda: ad.vjp(tangent_map, *seeds, has_aux=True))
    _check_no_escape(jvp.name, operands, outs)
    return outs, pullback


def _cjvp_vjp(g, *operands, out, wants, call_jaxpr, jvp, num_consts, residuals=None):
    del out
    consts, args = _split(operands, num_consts)
    if residuals is None:  # called directly rather than after vjp_forward
        residuals = _cjvp_vjp_forward(*operands, call_jaxpr=call_jaxpr, jvp=jvp,
                                      num_consts=num_consts)[1]  # fmt: skip
    # The tangent map's pullback takes a cotangent for every output (zeros for integer ones).
    arg_cts = list(residuals(list(g)))
    arg_cts = [
        ct if w and _is_float(a.aval) else None
        for ct, w, a in zip(arg_cts, wants[num_consts:], args, strict=True)
    ]
    wanted = [w and _is_float(c.aval) for w, c in zip(wants[:num_consts], consts, strict=True)]
    const_cts = (
        _closure_vjp(call_jaxpr, consts, args, g, wanted) if any(wanted) else [None] * len(consts)
    )
    return (*const_cts, *arg_cts)


def _cjvp_batch(args, dims, *, call_jaxpr, jvp, num_consts):
    size, moved, batched = _batch_operands(args, dims)
    n_out = len(call_jaxpr.out_avals)
    body, _ = batch_jaxpr(call_jaxpr, size, batched, [True] * n_out)
    rule = jvp.batched(size, [0 if b else None for b in batched[num_consts:]])
    outs = custom_jvp_call_p.bind(*moved, call_jaxpr=body, jvp=rule, num_consts=num_consts)
    return outs, [0] * n_out


custom_jvp_call_p = _call_primitive(
    "custom_jvp_call", "call_jaxpr", vjp=_cjvp_vjp, jvp=_cjvp_jvp, batch=_cjvp_batch,
    inline=lambda params: True, vjp_forward=_cjvp_vjp_forward, jvp_full=_cjvp_jvp_full,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# custom_vjp_call[call_jaxpr fwd bwd num_consts] *consts *args


class VJPFwd:
    """A custom VJP's forward rule over flat lists: ``fwd(args) -> (outs, residuals)``, with
    ``residuals`` any pytree; ``batched`` makes the rule of the vmapped function."""

    def __init__(self, fn: Callable[[list], tuple[list, Any]], name: str):
        self.fn = fn
        self.name = name

    def __call__(self, args: list) -> tuple[list, Any]:
        return _run_rule(self, "fwd", args)

    def batched(self, size: int, dims: Sequence[int | None]) -> VJPFwd:
        def fn(args: list) -> tuple[list, Any]:
            outs, res = vmap(lambda *a: self.fn(list(a)), tuple(dims), 0, size)(*args)
            return list(outs), res

        return VJPFwd(fn, self.name)

    def __repr__(self) -> str:
        return f"<fwd of {self.name}>"


class VJPBwd:
    """A custom VJP's backward rule over flat lists: ``bwd(residuals, cts) -> arg cotangents``
    (None for a zero cotangent); ``batched`` makes the rule of the vmapped function, summing
    the members' cotangents of an argument they share."""

    def __init__(self, fn: Callable[[Any, list], list], name: str):
        self.fn = fn
        self.name = name

    def __call__(self, residuals: Any, cts: list) -> list:
        return _run_rule(self, "bwd", residuals, cts)

    def batched(self, size: int, dims: Sequence[int | None]) -> VJPBwd:
        def fn(residuals: Any, cts: list) -> list:
            per_member = vmap(lambda r, c: self.fn(r, list(c)), (0, 0), 0, size)(
                residuals, tuple(cts)
            )
            return [
                None if ct is None else ct if d is not None else lax.reduce_sum(ct, (0,))
                for ct, d in zip(per_member, dims, strict=True)
            ]

        return VJPBwd(fn, self.name)

    def __repr__(self) -> str:
        return f"<bwd of {self.name}>"


def _cvjp_vjp_forward(*operands, call_jaxpr, fwd, bwd, num_consts):
    del bwd
    _, args = _split(operands, num_consts)
    outs, residuals = fwd(args)
    outs = _check_outs(fwd.name, "fwd's output", outs, _out_avals(call_jaxpr, outs))
    _check_no_escape(fwd.name, operands, outs)
    return outs, residuals


def _cvjp_vjp(g, *operands, out, wants, call_jaxpr, fwd, bwd, num_consts, residuals=None):
    del out
    consts, args = _split(operands, num_consts)
    if residuals is None:  # called directly rather than after vjp_forward
        residuals = fwd(args)[1]
    cts = bwd(residuals, list(g))
    arg_cts = []
    for ct, w, a in zip(cts, wants[num_consts:], args, strict=True):
        keep = ct is not None and w and _is_float(a.aval)
        arg_cts.append(_match_dtype(ct, a.aval) if keep else None)
    wanted = [w and _is_float(c.aval) for w, c in zip(wants[:num_consts], consts, strict=True)]
    const_cts = (
        _closure_vjp(call_jaxpr, consts, args, g, wanted) if any(wanted) else [None] * len(consts)
    )
    return (*const_cts, *arg_cts)


def _cvjp_jvp(primals, tangents, *, out, call_jaxpr, fwd, bwd, num_consts):
    raise TypeError(
        f"can't apply forward-mode autodiff (jvp) to the custom_vjp function {fwd.name}; use "
        "custom_jvp for rules that must work in forward mode (or reverse mode: grad, vjp)"
    )


def _cvjp_batch(args, dims, *, call_jaxpr, fwd, bwd, num_consts):
    size, moved, batched = _batch_operands(args, dims)
    n_out = len(call_jaxpr.out_avals)
    body, _ = batch_jaxpr(call_jaxpr, size, batched, [True] * n_out)
    arg_dims = [0 if b else None for b in batched[num_consts:]]
    outs = custom_vjp_call_p.bind(
        *moved, call_jaxpr=body, fwd=fwd.batched(size, arg_dims),
        bwd=bwd.batched(size, arg_dims), num_consts=num_consts,
    )  # fmt: skip
    return outs, [0] * n_out


custom_vjp_call_p = _call_primitive(
    "custom_vjp_call", "call_jaxpr", vjp=_cvjp_vjp, jvp=_cvjp_jvp, batch=_cvjp_batch,
    inline=lambda params: True, vjp_forward=_cvjp_vjp_forward,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# checkpoint[jaxpr prevent_cse differentiated] *operands
#
# Reverse mode keeps only the operands; the VJP is one more checkpoint equation whose jaxpr
# recomputes the function and differentiates it (``differentiated=True``). With prevent_cse
# the compiler never inlines that equation, so no pass can merge its recomputation with the
# forward computation (which would keep every intermediate alive until the backward pass).


def _remat_vjp(g, *primals, out, wants, jaxpr, prevent_cse, differentiated):
    del out, differentiated
    diff = [w and _is_float(p.aval) for w, p in zip(wants, primals, strict=True)]
    if not any(diff):
        return (None,) * len(primals)
    float_g = [gi for gi, a in zip(g, jaxpr.out_avals, strict=True) if _is_float(a)]
    backward = vjp_jaxpr(jaxpr, diff)
    cts = iter(checkpoint_p.bind(*primals, *float_g, jaxpr=backward, prevent_cse=prevent_cse,
                                 differentiated=True))  # fmt: skip
    return tuple(next(cts) if d else None for d in diff)


def _remat_jvp_full(primals, tangents, *, jaxpr, prevent_cse, differentiated):
    nonzero = [t is not None for t in tangents]
    forward = jvp_jaxpr(jaxpr, nonzero, primals_out=True)
    outs = checkpoint_p.bind(*primals, *[t for t in tangents if t is not None], jaxpr=forward,
                             prevent_cse=prevent_cse, differentiated=differentiated)  # fmt: skip
    n = len(jaxpr.out_avals)
    tans = iter(outs[n:])
    return outs[:n], [next(tans) if _is_float(a) else None for a in jaxpr.out_avals]


def _remat_jvp(primals, tangents, *, out, jaxpr, prevent_cse, differentiated):
    del out
    return _remat_jvp_full(primals, tangents, jaxpr=jaxpr, prevent_cse=prevent_cse,
                           differentiated=differentiated)[1]  # fmt: skip


def _remat_batch(args, dims, *, jaxpr, prevent_cse, differentiated):
    size, moved, batched = _batch_operands(args, dims)
    # Outputs that do not depend on a batched operand stay unbatched (no user rule constrains
    # them here, unlike the custom calls): jacfwd maps tangents only, and the primal output
    # of a checkpoint must come back unmapped for vmap(out_axes=None).
    body, out_batched = batch_jaxpr(jaxpr, size, batched)
    outs = checkpoint_p.bind(*moved, jaxpr=body, prevent_cse=prevent_cse,
                             differentiated=differentiated)  # fmt: skip
    return outs, [0 if b else None for b in out_batched]


checkpoint_p = _call_primitive(
    "checkpoint", "jaxpr", vjp=_remat_vjp, jvp=_remat_jvp, batch=_remat_batch,
    # The forward application may be inlined (its values are needed anyway); a recomputation
    # in a backward pass may not, unless the user allowed CSE to merge it (prevent_cse=False).
    inline=lambda params: not (params["prevent_cse"] and params["differentiated"]),
    jvp_full=_remat_jvp_full,
)  # fmt: skip
