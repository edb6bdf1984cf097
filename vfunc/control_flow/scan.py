"""``scan`` and ``map``: one primitive,
``scan[jaxpr num_consts num_carry length reverse unroll] *consts *init *xs``, whose body maps
(consts, carry, x) to (carry, y); the ys are stacked along a new leading axis.

The impl first runs the body's step-independent work once over all steps (the compiler's
``hoist_loop_invariants``), then one generated function holding the whole loop with the rest
of the body inlined. Reverse mode runs the primal scan stacking residuals (``partial_eval`` of
the body's VJP; those a few elementwise equations rebuild from other residuals are not stacked
but rebuilt in the backward step), then a reverse scan over the rest of the VJP; weight
cotangents that end in a contraction are summed after the loop (``lift_step_sums``), from
per-step values stacked once even where an x's cotangent is the same value. Forward mode is a scan over the
body's JVP; a batched scan is a scan over the batched body.
"""

from __future__ import annotations

import builtins  # this module shadows map
from collections.abc import Sequence
from typing import Any

from vfunc import tree
from vfunc.control_flow.common import (
    describe,
    flat_arrays,
    is_float,
    leaf_types,
    permuted,
    stage,
    types_match,
)
from vfunc.core import Array, Primitive, ShapedArray
from vfunc.errors import ShapeError
from vfunc.jaxpr import (
    ClosedJaxpr,
    Jaxpr,
    JaxprEqn,
    Var,
    check_avals,
    eval_jaxpr,
    types_str,
)
from vfunc.primitives import builders as lax
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives.builders import as_array
from vfunc.transforms.ad import jvp_jaxpr, partial_eval, vjp_jaxpr, zeros_like_aval
from vfunc.transforms.batching import batch_jaxpr, vmap
from vfunc.transforms.compiler import passes
from vfunc.transforms.compiler.cache import JaxprCache, compiled, compiled_loop
from vfunc.transforms.compiler.loop_passes import hoist_loop_invariants, lift_step_sums
from vfunc.transforms.jit import join_known
from vfunc.transforms.staging import trace_flat

# ----------------------------------------------------------------------------------------------
# The primitive


def _split_scan(args, num_consts, num_carry):
    return (
        args[:num_consts],
        args[num_consts : num_consts + num_carry],
        args[num_consts + num_carry :],
    )


def _scan_shape(*args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    del reverse
    if not isinstance(length, int) or length < 0:
        raise ShapeError(f"scan: length must be a non-negative int, got {length!r}")
    if not isinstance(unroll, int) or unroll < 1:
        raise ShapeError(f"scan: unroll must be a positive int, got {unroll!r}")
    consts, init, xs = _split_scan(args, num_consts, num_carry)
    body_in = jaxpr.in_avals
    x_avals = [a.update(shape=a.shape[1:]) for a in xs]
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise ShapeError(
                f"scan: every scanned-over operand needs leading axis {length}, got {types_str(xs)}"
            )
    check_avals("scan", "body operands", [*consts, *init, *x_avals], body_in)
    carry_out, ys = jaxpr.out_avals[:num_carry], jaxpr.out_avals[num_carry:]
    check_avals("scan", "the body's carry output against its carry input", carry_out, init)
    return [ShapedArray(a.shape, a.dtype) for a in init] + [
        ShapedArray((length, *a.shape), a.dtype) for a in ys
    ]


def _scan_weak(weak, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    outs = jaxpr.out_avals
    init_weak = weak[num_consts : num_consts + num_carry]
    return [w and a.weak_type for w, a in zip(init_weak, outs[:num_carry], strict=True)] + [
        a.weak_type for a in outs[num_carry:]
    ]


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    del unroll
    consts, carry, xs = _split_scan(args, num_consts, num_carry)
    plan = hoist_loop_invariants(jaxpr, num_consts, num_carry, length)
    body = jaxpr
    if plan is not None:
        pre, batched, body = plan
        values = compiled(pre)(*consts, *xs)
        consts = (*consts, *[v for v, b in zip(values, batched, strict=True) if not b])
        xs = (*xs, *[v for v, b in zip(values, batched, strict=True) if b])
    loop = compiled_loop(body, len(consts), num_carry, length, reverse)
    return list(loop(*consts, *carry, *xs))


def _scan_jvp(primals, tangents, *, out, jaxpr, num_consts, num_carry, length, reverse, unroll):
    del out
    consts, init, xs = _split_scan(primals, num_consts, num_carry)
    consts_t, init_t, xs_t = _split_scan(tangents, num_consts, num_carry)
    carry_avals, y_avals = jaxpr.out_avals[:num_carry], jaxpr.out_avals[num_carry:]
    carry_nz = [is_float(a) for a in carry_avals]
    consts_nz = [t is not None for t in consts_t]
    xs_nz = [t is not None for t in xs_t]
    body = jvp_jaxpr(jaxpr, consts_nz + carry_nz + xs_nz, primals_out=True)
    c, m, x = num_consts, num_carry, len(xs)
    ct, mt, xt = sum(consts_nz), sum(carry_nz), sum(xs_nz)
    y_float = [is_float(a) for a in y_avals]
    ny, nyt = len(y_avals), sum(y_float)
    # jvp inputs: consts, carry, xs, consts_t, carry_t, xs_t -> consts, consts_t | carry, carry_t
    # | xs, xs_t; outputs: carry, ys, carry_t, ys_t -> carry, carry_t | ys, ys_t
    base = c + m + x
    in_order = [
        *range(c), *range(base, base + ct),
        *range(c, c + m), *range(base + ct, base + ct + mt),
        *range(c + m, base), *range(base + ct + mt, base + ct + mt + xt),
    ]  # fmt: skip
    out_order = [*range(m), *range(m + ny, m + ny + mt), *range(m, m + ny),
                 *range(m + ny + mt, m + ny + mt + nyt)]  # fmt: skip
    body = permuted(body, in_order, out_order)
    init_tangents = [
        zeros_like_aval(v.aval.update(weak_type=False)) if t is None else t
        for v, t, nz in zip(init, init_t, carry_nz, strict=True)
        if nz
    ]
    outs = scan_p.bind(
        *consts, *[t for t in consts_t if t is not None], *init, *init_tangents,
        *xs, *[t for t in xs_t if t is not None],
        jaxpr=body, num_consts=c + ct, num_carry=m + mt, length=length, reverse=reverse,
        unroll=unroll,
    )  # fmt: skip
    carry_tans = iter(outs[m : m + mt])
    ys_tans = iter(outs[m + mt + ny :])
    return [next(carry_tans) if nz else None for nz in carry_nz] + [
        next(ys_tans) if f else None for f in y_float
    ]


# At most this many elementwise equations are moved to rebuild one residual in the backward step.
_REMAT_MAX_EQNS = 4


def _rematerialize(fwd: ClosedJaxpr, rest: ClosedJaxpr, n_out: int,
                   n_rest_in: int) -> tuple[ClosedJaxpr, ClosedJaxpr]:  # fmt: skip
    """Residuals the backward step can rebuild from other residuals by a few elementwise
    equations that the forward step computes for nothing else (``1 - sigmoid(f)``,
    ``1 - tanh(c)**2`` for an LSTM): those equations move into the backward step and the
    residual is no longer stacked. The work is the same, done in the other loop, and every
    step stores one array fewer (a copy per step, and the length of the scan times its memory).

    ``fwd`` outputs the primal outputs (``n_out``) then the residuals; ``rest`` reads the
    residuals after its first ``n_rest_in`` inputs, in the same order.
    """
    fj, rj = fwd.jaxpr, rest.jaxpr
    res_f = list(fj.outvars[n_out:])
    res_r = list(rj.invars[n_rest_in:])
    producer = {v: e for e in fj.eqns for v in e.outvars}
    uses: dict[Any, int] = {}
    for v in [*(u for e in fj.eqns for u in e.invars), *fj.outvars]:
        if isinstance(v, Var):
            uses[v] = uses.get(v, 0) + 1
    position: dict[Any, int] = {}
    for k, v in enumerate(res_f):
        if isinstance(v, Var):
            position.setdefault(v, k)
    pinned: set = set()  # residuals some rebuilt residual reads: they stay stacked
    dropped: dict[int, list] = {}

    def rebuild(v: Var, eqns: list, reads: set) -> bool:
        # The equations computing ``v`` from kept residuals and literals, each read only once.
        eqn = producer.get(v)
        if (eqn is None or not eqn.primitive.elementwise or eqn.primitive.effectful
                or len(eqn.outvars) != 1 or uses.get(v) != 1):  # fmt: skip
            return False
        if len(eqns) >= _REMAT_MAX_EQNS:
            return False
        for u in eqn.invars:
            if not isinstance(u, Var):
                continue
            k = position.get(u)
            if k is not None and k not in dropped and u is not v:
                reads.add(u)
            elif not rebuild(u, eqns, reads):
                return False
        eqns.append(eqn)
        return True

    for k, r in enumerate(res_f):
        if not isinstance(r, Var) or r in pinned or position.get(r) != k:
            continue
        eqns: list = []
        reads: set = set()
        if rebuild(r, eqns, reads) and not any(position[u] in dropped for u in reads):
            dropped[k] = eqns
            pinned |= reads
    if not dropped:
        return fwd, rest
    kept = [k for k in range(len(res_f)) if k not in dropped]
    new_fwd = passes.dead_code_elimination(ClosedJaxpr(
        Jaxpr(fj.constvars, fj.invars, fj.outvars[:n_out] + [res_f[k] for k in kept], fj.eqns),
        fwd.consts))  # fmt: skip
    rename = {res_f[k]: res_r[k] for k in kept}
    moved = []
    for k, eqns in dropped.items():
        local = dict(rename)
        for e in eqns:
            outs = [res_r[k] if o is res_f[k] else Var(o.aval) for o in e.outvars]
            local.update(zip(e.outvars, outs, strict=True))
            ins = [local[u] if isinstance(u, Var) else u for u in e.invars]
            moved.append(JaxprEqn(e.primitive, ins, outs, e.params))
    new_rest = ClosedJaxpr(
        Jaxpr(rj.constvars, rj.invars[:n_rest_in] + [res_r[k] for k in kept], rj.outvars,
              moved + list(rj.eqns)), rest.consts)  # fmt: skip
    return new_fwd, new_rest


class _VJPSplit:
    """A scan body's VJP split by what each equation depends on (``partial_eval``).

    The VJP maps (consts, carry, x, cotangents of the float outputs) to the cotangents of
    every float input. Its equations that read the carry but no cotangent run in the primal
    scan, whose body ``fwd`` also outputs, stacked, the residuals the rest reads; the
    backward scan (``backward``) then skips them instead of recomputing the cell every step.
    Equations of consts and xs alone stay in the backward body, where the scan hoists them out
    of the loop.
    """

    def __init__(self, jaxpr: ClosedJaxpr, num_consts: int, num_carry: int):
        c, m = num_consts, num_carry
        vjp = passes.dead_code_elimination(vjp_jaxpr(jaxpr, [is_float(a) for a in jaxpr.in_avals]))
        n_in, n_ct = len(jaxpr.in_avals), len(vjp.in_avals) - len(jaxpr.in_avals)
        unknown = [False] * n_in + [True] * n_ct
        recompute = [True] * c + [False] * m + [True] * (n_in - c - m) + [False] * n_ct
        known, rest = partial_eval(vjp, unknown, recompute)
        # The primal body plus the known equations over the same inputs; CSE merges the primal
        # computation the VJP repeats.
        fwd = join_known(jaxpr, known)
        n_res = len(known.out_avals)
        self.fwd, self.rest = _rematerialize(fwd, rest, len(jaxpr.out_avals),
                                             len(rest.jaxpr.invars) - n_res)  # fmt: skip
        self.residual_avals = self.rest.in_avals[len(rest.jaxpr.invars) - n_res :]

    def backward(self, consts: Sequence, x: Sequence, cts: Sequence, res: Sequence) -> list:
        """The input cotangents of one step, from the residuals instead of the carry."""
        return eval_jaxpr(self.rest.jaxpr, self.rest.consts, *consts, *x, *cts, *res)


_SPLITS = JaxprCache()


def _vjp_split(jaxpr: ClosedJaxpr, num_consts: int, num_carry: int) -> _VJPSplit:
    return _SPLITS.get(jaxpr, num_consts, num_carry,
                       make=lambda: _VJPSplit(jaxpr, num_consts, num_carry))  # fmt: skip


def _scan_vjp_forward(*args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    """The primal scan under reverse mode: it also stacks the residuals of every step."""
    split = _vjp_split(jaxpr, num_consts, num_carry)
    outs = scan_p.bind(*args, jaxpr=split.fwd, num_consts=num_consts, num_carry=num_carry,
                       length=length, reverse=reverse, unroll=unroll)  # fmt: skip
    n = len(jaxpr.out_avals)
    return outs[:n], tuple(outs[n:])


def _positions(wanted: Sequence[bool], present: Sequence[bool]) -> list[int]:
    """Indices, among the ``present`` entries, of those also ``wanted``."""
    kept = [w for w, p in zip(wanted, present, strict=True) if p]
    return [k for k, w in enumerate(kept) if w]


def _scan_vjp(g, *args, out, wants, jaxpr, num_consts, num_carry, length, reverse, unroll,
              residuals=None):  # fmt: skip
    """A reverse scan over the body's VJP, reading what each step needs from ``residuals``
    (stacked by ``_scan_vjp_forward``; recomputed by a forward scan when absent). Cotangents of
    consts that end in a contraction or reduction are summed after the loop."""
    del out
    c, m = num_consts, num_carry
    consts, init, xs = _split_scan(args, c, m)
    w_consts, w_init, w_xs = _split_scan(wants, c, m)
    consts_d = [w and is_float(v) for w, v in zip(w_consts, consts, strict=True)]
    xs_d = [w and is_float(v) for w, v in zip(w_xs, xs, strict=True)]
    carry_avals, y_avals = jaxpr.out_avals[:m], jaxpr.out_avals[m:]
    carry_f = [is_float(a) for a in carry_avals]
    init_d = [w and f for w, f in zip(w_init, carry_f, strict=True)]
    if not any(consts_d) and not any(xs_d) and not any(init_d):
        return (None,) * len(args)
    if residuals is None:  # forward mode derived from this rule, or a direct call
        residuals = _scan_vjp_forward(*args, jaxpr=jaxpr, num_consts=c, num_carry=m,
                                      length=length, reverse=reverse, unroll=unroll)[1]  # fmt: skip
    split = _vjp_split(jaxpr, c, m)
    y_f = [is_float(a) for a in y_avals]
    nf, nx, nr = sum(carry_f), len(xs), len(split.residual_avals)
    const_avals = [v.aval for v, d in zip(consts, consts_d, strict=True) if d]
    f_carry_avals = [a for a, f in zip(jaxpr.in_avals[c : c + m], carry_f, strict=True) if f]
    gy_avals = [a for a, f in zip(y_avals, y_f, strict=True) if f]
    g_carry = [gi for gi, f in zip(g[:m], carry_f, strict=True) if f]
    g_ys = [gi for gi, f in zip(g[m:], y_f, strict=True) if f]
    # The VJP's outputs are the cotangents of all float inputs: pick the wanted ones.
    consts_f = [is_float(a) for a in jaxpr.in_avals[:c]]
    xs_f = [is_float(a) for a in jaxpr.in_avals[c + m :]]
    pick_consts = _positions(consts_d, consts_f)
    pick_xs = _positions(xs_d, xs_f)
    n_cf = sum(consts_f)

    # One step's cotangents, without accumulation: (consts, ct_carry, residuals, x, g_y) ->
    # (ct of the previous carry, ct of x, this step's ct of the consts).
    def step(*a: Any) -> list:
        cs, ct_carry = a[:c], a[c : c + nf]
        res, x, gy = (
            a[c + nf : c + nf + nr],
            a[c + nf + nr : c + nf + nr + nx],
            a[c + nf + nr + nx :],
        )
        cts = split.backward(cs, x, [*ct_carry, *gy], res)
        ct_c, ct_prev, ct_x = cts[:n_cf], cts[n_cf : n_cf + nf], cts[n_cf + nf :]
        return ct_prev + [ct_x[k] for k in pick_xs] + [ct_c[k] for k in pick_consts]

    res_avals = split.residual_avals
    step_avals = [*jaxpr.in_avals[:c], *f_carry_avals, *res_avals, *jaxpr.in_avals[c + m :],
                  *gy_avals]  # fmt: skip
    step_jaxpr = trace_flat(step, step_avals)
    # Cotangents of consts that end in a contraction or reduction are summed after the loop
    # from stacked per-step operands (``lift_step_sums``); the others are accumulated.
    sj = step_jaxpr.jaxpr
    n_keep = nf + sum(xs_d)
    eligible = [
        isinstance(v, Var) and v.aval.shape == a.shape and v.aval.dtype == a.dtype
        for v, a in zip(sj.outvars[n_keep:], const_avals, strict=True)
    ]
    available = [False] * (c + nf) + [True] * (len(step_avals) - c - nf)
    candidates = [n_keep + k for k, e in enumerate(eligible) if e]
    lifting = lift_step_sums(step_jaxpr, c, available, candidates, length)
    verdicts = iter(lifting.lifted)
    lifted = [next(verdicts) if e else False for e in eligible]
    kept = [k for k, done in enumerate(lifted) if not done]
    kept_avals = [const_avals[k] for k in kept]
    # The step also returns the per-step values the sums after the loop read, except those it
    # already stacks as an x's cotangent (an LSTM's gate cotangents feed both the input's
    # cotangent and the recurrent weight's sum: stored once, not twice a step).
    stacked_ct = {v: p for p, v in enumerate(sj.outvars[nf:n_keep], nf) if isinstance(v, Var)}
    leaves = [v for v in lifting.leaves if v not in stacked_ct]
    capture = Jaxpr(sj.constvars, sj.invars, list(sj.outvars) + leaves, sj.eqns)
    n_outs = len(sj.outvars)

    def backward_step(*a: Any) -> list:
        cs, acc, rest = a[:c], a[c : c + len(kept)], a[c + len(kept) :]
        env = eval_jaxpr(capture, step_jaxpr.consts, *cs, *rest)
        outs, captured = env[:n_outs], env[n_outs:]
        ct_consts = outs[n_keep:]
        sums = [lax.add(acc_k, ct_consts[k]) for acc_k, k in zip(acc, kept, strict=True)]
        return sums + outs[:n_keep] + captured

    backward = trace_flat(backward_step, [*jaxpr.in_avals[:c], *kept_avals, *step_avals[c:]])
    zeros = [zeros_like_aval(a.update(weak_type=False)) for a in kept_avals]
    res = scan_p.bind(
        *consts, *zeros, *g_carry, *residuals, *xs, *g_ys,
        jaxpr=backward, num_consts=c, num_carry=len(kept) + nf, length=length,
        reverse=not reverse, unroll=unroll,
    )  # fmt: skip
    nk = len(kept)
    ct_kept = iter(res[:nk])
    ct_init = iter(res[nk : nk + nf])
    ct_xs = iter(res[nk + nf : nk + n_keep])
    after = lifting.after
    captured = iter(res[nk + n_keep :])
    stacked_leaves = [res[nk + stacked_ct[v]] if v in stacked_ct else next(captured)
                      for v in lifting.leaves]  # fmt: skip
    summed = iter(
        eval_jaxpr(after.jaxpr, after.consts, *residuals, *xs, *g_ys, *stacked_leaves)
        if after is not None
        else []
    )
    ct_const_vals = iter([next(summed) if done else next(ct_kept) for done in lifted])
    out_consts = [next(ct_const_vals) if d else None for d in consts_d]
    out_init = [next(ct_init) if f else None for f in carry_f]
    out_init = [ct if d else None for ct, d in zip(out_init, init_d, strict=True)]
    out_xs = [next(ct_xs) if d else None for d in xs_d]
    return (*out_consts, *out_init, *out_xs)


def _scan_batch(args, dims, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    size = batch_size(args, dims)
    c, m = num_consts, num_carry
    consts, init, xs = _split_scan(args, c, m)
    consts_b, carry_b, xs_b = ([d is not None for d in part] for part in _split_scan(dims, c, m))
    while True:  # the carries that end up batched: a fixpoint over the body
        _, out_b = batch_jaxpr(jaxpr, size, consts_b + carry_b + xs_b)
        grown = [a or b for a, b in zip(carry_b, out_b[:m], strict=True)]
        if grown == carry_b:
            break
        carry_b = grown
    body, out_b = batch_jaxpr(jaxpr, size, consts_b + carry_b + xs_b, carry_b + [False] * (
        len(jaxpr.out_avals) - m))  # fmt: skip
    _, init_dims, xs_dims = _split_scan(dims, c, m)
    consts = [to_front(x, d, size) if d is not None else x
              for x, d in zip(consts, dims[:c], strict=True)]  # fmt: skip
    init = [to_front(x, d, size) if b else x
            for x, d, b in zip(init, init_dims, carry_b, strict=True)]  # fmt: skip
    # Scanned operands keep the scan axis first; their batch axis goes second.
    xs = [move_axis(x, d, 1) if d is not None else x for x, d in zip(xs, xs_dims, strict=True)]
    outs = scan_p.bind(*consts, *init, *xs, jaxpr=body, num_consts=c, num_carry=m,
                       length=length, reverse=reverse, unroll=unroll)  # fmt: skip
    out_dims = [0 if b else None for b in carry_b] + [1 if b else None for b in out_b[m:]]
    return outs, out_dims


scan_p = Primitive(
    "scan",
    _scan_impl,
    _scan_shape,
    weak_type=_scan_weak,
    vjp=_scan_vjp,
    jvp=_scan_jvp,
    batch=_scan_batch,
    multiple_results=True,
    vjp_wants=True,
    vjp_forward=_scan_vjp_forward,
)


# ----------------------------------------------------------------------------------------------
# The front end


def _scan_body(f: Any, c: Any, x: Any) -> tuple:
    out = f(c, x)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"scan: f must return a pair (carry, y), got a {type(out).__name__}")
    return tuple(out)


def scan(f: Any, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1) -> tuple[Any, Any]:  # fmt: skip
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the ``y``s stacked, as ``jax.lax.scan``.

    Args:
        f: ``(carry, x) -> (carry, y)``; the carry keeps its structure, shapes and dtypes.
        init: the initial carry (a pytree).
        xs: a pytree of arrays sharing a leading axis (or None, with ``length``).
        length: the number of steps (required when ``xs`` is None).
        reverse: run from the last element to the first (``ys`` stay in ``xs``'s order).
        unroll: accepted for JAX compatibility; vfunc runs a compiled body per step either way.

    Reverse mode runs a reverse scan over the body's VJP, storing one carry per step.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.scan(lambda c, x: (c + x, c * x), 0.0, vnp.arange(1.0, 4.0))
        (Array(6., dtype=float32), Array([0., 2., 9.], dtype=float32))
    """
    carry, carry_tree = flat_arrays(init)
    x_leaves, x_tree = flat_arrays(xs)
    lengths = set()
    for x in x_leaves:
        if not x.shape:
            shown = describe(x_tree, [a.aval for a in x_leaves])
            raise ValueError(f"scan: xs leaves need a leading axis to scan over, got {shown}")
        lengths.add(x.shape[0])
    if length is not None:
        length = int(length)
        lengths.add(length)
    if len(lengths) != 1:
        if not lengths:
            raise ValueError("scan: pass length when xs is None (or has no arrays)")
        raise ValueError(
            f"scan: xs leaves must share one leading axis length (and match length="
            f"{length}), got {describe(x_tree, [a.aval for a in x_leaves])}"
        )
    n = lengths.pop()
    if isinstance(unroll, bool):
        unroll = builtins.max(n, 1) if unroll else 1
    m = len(carry)
    types = leaf_types(carry) + [(x.shape[1:], x.dtype, x.weak_type) for x in x_leaves]

    def build(sds: list) -> tuple:
        return tree.unflatten(carry_tree, sds[:m]), tree.unflatten(x_tree, sds[m:])

    jaxpr, consts, out_tree = stage(f, (carry_tree, x_tree), types, build, _scan_body)
    carry_out_tree, y_tree = out_tree.children()
    carry_out = jaxpr.out_avals[: carry_out_tree.num_leaves]
    if carry_out_tree != carry_tree or not types_match(carry_out, [c.aval for c in carry]):
        raise TypeError(
            "scan: f must return a carry with the structure and types of its carry input, but "
            f"the input carry is {describe(carry_tree, [c.aval for c in carry])} and f "
            f"returned {describe(carry_out_tree, carry_out)}"
        )
    outs = scan_p.bind(
        *consts, *carry, *x_leaves, jaxpr=jaxpr, num_consts=len(consts), num_carry=m,
        length=n, reverse=bool(reverse), unroll=int(unroll),
    )  # fmt: skip
    return tree.unflatten(carry_tree, outs[:m]), tree.unflatten(y_tree, outs[m:])


def map(f: Any, xs: Any, *, batch_size: int | None = None) -> Any:  # noqa: A001
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked: a
    ``scan`` without a carry (one compiled body call per slice, unlike ``vmap``).

    With ``batch_size``, each step applies ``vmap(f)`` to that many slices at once (a trade
    between vmap's speed and scan's memory, as in JAX); a remainder that does not fill a batch
    is mapped in one more vmapped call.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.map(lambda row: row.sum(), vnp.ones((3, 2)))
        Array([2., 2., 2.], dtype=float32)
        >>> lax.map(lambda row: row.sum(), vnp.ones((5, 2)), batch_size=2)
        Array([2., 2., 2., 2., 2.], dtype=float32)
    """
    if batch_size is None:
        _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
        return ys
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"map: batch_size must be a positive int, got {batch_size!r}")
    xs = tree.map(as_array, xs)
    lengths = [x.shape[0] if x.ndim else None for x in tree.leaves(xs)]
    n = lengths[0] if lengths else None
    if n is None or len(set(lengths)) != 1:
        raise ValueError(
            f"map: every leaf of xs needs one common leading axis, got lengths {set(lengths)}"
        )
    steps, full = n // batch_size, n // batch_size * batch_size
    mapped = vmap(f)

    def rows(x: Array, lo: int, hi: int) -> Array:
        return lax.slice(x, (lo,) + (0,) * (x.ndim - 1), (hi, *x.shape[1:]))

    parts = []
    if steps:
        head = tree.map(
            lambda x: lax.reshape(rows(x, 0, full), (steps, batch_size, *x.shape[1:])), xs
        )
        _, ys = scan(lambda carry, x: (carry, mapped(x)), (), head)
        parts.append(tree.map(lambda y: lax.reshape(y, (full, *y.shape[2:])), ys))
    if full < n:
        parts.append(mapped(tree.map(lambda x: rows(x, full, n), xs)))
    if len(parts) == 1:
        return parts[0]
    return tree.map(lambda a, b: lax.concatenate([a, b], 0), *parts)
