"""Structured control flow: ``cond`` (also ``switch``), ``while`` and ``scan``, primitives that
carry their branches and bodies as closed jaxprs in their params.

Operands are flat: a sub-jaxpr's closed-over *tracers* (values of an enclosing transformation)
are passed as explicit leading operands, so grad, vmap and jit see them like any other input;
concrete closed-over arrays stay in the sub-jaxpr's consts.

The impls run *compiled* code (``compiler.codegen``, cached per jaxpr object), eagerly and
under ``jit`` alike; no iteration re-enters the tracer. cond and while call compiled branches
and bodies; a scan first runs the body's step-independent work once over all steps, then one
generated function holding the whole loop with the rest of the body inlined.

The rules of this family are themselves programs: the VJP of a scan is a reverse scan over the
VJP of its body, reading residuals the primal scan stacked (partial evaluation) and summing
weight cotangents after the loop; a batched while loop is a while loop over a masked batched
body. They build
those sub-jaxprs with staging, AD and batching, imported at call time. This is the one family
that reaches up into the transforms; it does so only inside rules, never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import vfunc.primitives.builders as lax  # rules use builders at call time; the import cycle resolves by then
from vfunc import dtypes
from vfunc.core import (
    ClosedJaxpr,
    Jaxpr,
    JaxprEqn,
    Literal,
    Primitive,
    ShapedArray,
    ShapeDtypeStruct,
    Tracer,
    Var,
    eval_jaxpr,
    new_trace,
)
from vfunc.errors import DtypeError, ShapeError

# ----------------------------------------------------------------------------------------------
# Compiled bodies

# id(jaxpr) -> (jaxpr, compiled function). The jaxpr is kept alive by the entry so its id cannot
# be reused while the entry exists; the identity check guards the rare clear-and-reuse.
_COMPILED: dict[int, tuple[ClosedJaxpr, Callable]] = {}
_COMPILED_MAX = 4096


def compiled(closed: ClosedJaxpr) -> Callable:
    """``closed`` optimised and compiled to ``fn(*numpy_inputs) -> tuple of numpy outputs``."""
    entry = _COMPILED.get(id(closed))
    if entry is None or entry[0] is not closed:
        from vfunc.transforms.compiler import codegen, passes

        fn = codegen.compile_jaxpr(passes.optimize(closed), "body").fn
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[id(closed)] = entry = (closed, fn)
    return entry[1]


# ----------------------------------------------------------------------------------------------
# Tracing functions to sub-jaxprs


def _sds(aval: ShapedArray) -> ShapeDtypeStruct:
    return ShapeDtypeStruct(aval.shape, aval.dtype, aval.weak_type)


def trace_callable(fun: Callable, args: tuple) -> tuple[ClosedJaxpr, list, Any]:
    """Stage ``fun(*args)`` (``args``: pytrees of avals or arrays) to a closed jaxpr.

    Returns ``(jaxpr, lifted, out_tree)``: closed-over tracers of enclosing transformations are
    removed from the consts and become leading input variables; ``lifted`` are their values, to
    be passed as operands. Concrete closed-over arrays stay in the jaxpr's consts.
    """
    from vfunc.transforms.staging import trace_to_jaxpr

    closed, _, out_tree = trace_to_jaxpr(fun, args)
    jaxpr = closed.jaxpr
    kept, lifted = [], []
    for var, value in zip(jaxpr.constvars, closed.consts, strict=True):
        (lifted if isinstance(value, Tracer) else kept).append((var, value))
    if not lifted:
        return closed, [], out_tree
    new = Jaxpr(
        [v for v, _ in kept], [v for v, _ in lifted] + list(jaxpr.invars), jaxpr.outvars,
        jaxpr.eqns,
    )  # fmt: skip
    return ClosedJaxpr(new, [c for _, c in kept]), [c for _, c in lifted], out_tree


def _trace_flat(fun: Callable, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """Stage a rule's helper function of flat arguments returning a flat list."""
    closed, lifted, _ = trace_callable(lambda *a: list(fun(*a)), tuple(_sds(a) for a in avals))
    if lifted:  # pragma: no cover - rules only evaluate jaxprs on their own arguments
        raise AssertionError("control flow rule closed over a tracer; this is a vfunc bug")
    return closed


def insert_invars(closed: ClosedJaxpr, at: int, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """``closed`` taking extra unused inputs of ``avals``, inserted before input ``at``."""
    jaxpr = closed.jaxpr
    invars = list(jaxpr.invars)
    invars[at:at] = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.outvars, jaxpr.eqns), closed.consts)


def _permuted(
    closed: ClosedJaxpr, in_order: Sequence[int], out_order: Sequence[int]
) -> ClosedJaxpr:
    """``closed`` with its inputs and outputs reordered (new position k holds old ``order[k]``)."""
    jaxpr = closed.jaxpr
    new = Jaxpr(
        jaxpr.constvars, [jaxpr.invars[i] for i in in_order],
        [jaxpr.outvars[i] for i in out_order], jaxpr.eqns,
    )  # fmt: skip
    return ClosedJaxpr(new, closed.consts)


def _is_float(aval: Any) -> bool:
    return aval.dtype.kind in "fc"


def _same_type(a: ShapedArray, b: ShapedArray) -> bool:
    # Weak types may differ: a weakly typed 0.0 carry and a float32 update are one type.
    return a.shape == b.shape and a.dtype == b.dtype


def _types(avals: Sequence[Any]) -> str:
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def _check_avals(op: str, what: str, got: Sequence[Any], want: Sequence[Any]) -> None:
    if len(got) != len(want) or not all(map(_same_type, got, want)):
        raise ShapeError(f"{op}: {what}: got {_types(got)}, expected {_types(want)}")


# ----------------------------------------------------------------------------------------------
# Derived jaxprs: VJP, JVP and batched versions of a sub-jaxpr


def vjp_jaxpr(closed: ClosedJaxpr, diff: Sequence[bool]) -> ClosedJaxpr:
    """``(*primals, *cotangents of float outputs) -> cotangents of the inputs marked diff``."""
    from vfunc.transforms import ad

    in_avals, out_avals = closed.in_avals, closed.out_avals
    n = len(in_avals)
    float_outs = [k for k, a in enumerate(out_avals) if _is_float(a)]
    wanted = [i for i, d in enumerate(diff) if d]

    def fun(*args: Any) -> list:
        primals, cts = list(args[:n]), list(args[n:])

        def partial(*d: Any) -> list:
            full = list(primals)
            for i, v in zip(wanted, d, strict=True):
                full[i] = v
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *full)
            return [outs[k] for k in float_outs]

        _, pullback = ad.vjp(partial, *[primals[i] for i in wanted])
        return list(pullback(cts))

    return _trace_flat(fun, list(in_avals) + [out_avals[k] for k in float_outs])


def jvp_jaxpr(closed: ClosedJaxpr, nonzero: Sequence[bool], primals_out: bool) -> ClosedJaxpr:
    """``(*primals, *tangents of nonzero inputs) -> ([*outputs], *tangents of float outputs)``.

    Tangents of float outputs that do not depend on a nonzero tangent are explicit zeros, so
    every branch or iteration yields the same types.
    """
    from vfunc.transforms import ad

    in_avals, out_avals = closed.in_avals, closed.out_avals
    n = len(in_avals)

    def fun(*args: Any) -> list:
        primals, tangents = args[:n], iter(args[n:])
        with new_trace(ad.JVPTrace) as trace:
            ins = [
                ad.JVPTracer(trace, p, next(tangents)) if nz else p
                for p, nz in zip(primals, nonzero, strict=True)
            ]
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *ins)
            values, tans = [], []
            for o in outs:
                if isinstance(o, ad.JVPTracer) and o._trace is trace:
                    values.append(o.primal)
                    tans.append(o.tangent)
                else:
                    values.append(o)
                    tans.append(None)
        out_tans = [
            ad.zeros_like_aval(a.update(weak_type=False)) if t is None else t
            for t, a in zip(tans, out_avals, strict=True)
            if _is_float(a)
        ]
        return (values if primals_out else []) + out_tans

    tangent_avals = [a for a, nz in zip(in_avals, nonzero, strict=True) if nz]
    return _trace_flat(fun, list(in_avals) + tangent_avals)


def batch_jaxpr(
    closed: ClosedJaxpr, size: int, batched: Sequence[bool], force: Sequence[bool] | None = None
) -> tuple[ClosedJaxpr, list[bool]]:
    """``closed`` over a batch of ``size``: inputs marked ``batched`` (and the outputs it
    reports batched, plus those marked ``force``) carry the batch on axis 0."""
    from vfunc.primitives._batching import move_axis, to_front
    from vfunc.transforms.batching import BatchTrace, BatchTracer

    out_batched: list[bool] = []
    avals = [
        a.update(shape=(size, *a.shape)) if b else a
        for a, b in zip(closed.in_avals, batched, strict=True)
    ]

    def fun(*args: Any) -> list:
        out_batched.clear()
        with new_trace(lambda level: BatchTrace(level, size)) as trace:
            ins = [BatchTracer(trace, a, 0) if b else a for a, b in zip(args, batched, strict=True)]
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *ins)
            results = []
            for k, o in enumerate(outs):
                if isinstance(o, BatchTracer) and o._trace is trace:
                    o, dim = o.val, o.bdim
                else:
                    dim = None
                if dim is not None:
                    o = move_axis(o, dim, 0)
                elif force is not None and force[k]:
                    o = to_front(lax.as_array(o), None, size)
                    dim = 0
                results.append(o)
                out_batched.append(dim is not None)
        return results

    return _trace_flat(fun, avals), list(out_batched)


# ----------------------------------------------------------------------------------------------
# cond: ``cond[branches=(b0, b1, ...)] index *operands`` runs branch ``index`` (clamped)


def _cond_shape(index: ShapedArray, *ops: ShapedArray, branches: tuple) -> list[ShapedArray]:
    if index.shape != () or index.dtype.kind not in "iu":
        raise DtypeError(
            f"cond: the branch index must be an integer scalar, got {index.str_short()}"
        )
    for k, branch in enumerate(branches):
        _check_avals("cond", f"operands of branch {k}", ops, branch.in_avals)
        _check_avals("cond", f"outputs of branch {k} against branch 0", branch.out_avals,
                     branches[0].out_avals)  # fmt: skip
    return [ShapedArray(a.shape, a.dtype) for a in branches[0].out_avals]


def _cond_weak(weak: Sequence[bool], *, branches: tuple) -> list[bool]:
    outs = [b.out_avals for b in branches]
    return [all(o[k].weak_type for o in outs) for k in range(len(outs[0]))]


def _cond_impl(index, *ops, branches):
    i = min(max(int(index), 0), len(branches) - 1)
    return [np.asarray(o) for o in compiled(branches[i])(*ops)]


def _cond_vjp(g, index, *ops, out, wants, branches):
    del out
    diff = [w and _is_float(op) for w, op in zip(wants[1:], ops, strict=True)]
    if not any(diff):
        return (None,) * (1 + len(ops))
    float_g = [gi for gi, a in zip(g, branches[0].out_avals, strict=True) if _is_float(a)]
    vjp_branches = tuple(vjp_jaxpr(b, diff) for b in branches)
    cts = iter(cond_p.bind(index, *ops, *float_g, branches=vjp_branches))
    return (None, *[next(cts) if d else None for d in diff])


def _cond_jvp(primals, tangents, *, out, branches):
    del out
    index, ops = primals[0], primals[1:]
    nonzero = [t is not None for t in tangents[1:]]
    jvp_branches = tuple(jvp_jaxpr(b, nonzero, primals_out=False) for b in branches)
    nz_tangents = [t for t in tangents[1:] if t is not None]
    out_tans = iter(cond_p.bind(index, *ops, *nz_tangents, branches=jvp_branches))
    return [next(out_tans) if _is_float(a) else None for a in branches[0].out_avals]


def _cond_batch(args, dims, *, branches):
    from vfunc.primitives._batching import batch_size, to_front

    size = batch_size(args, dims)
    (index, *ops), (index_dim, *op_dims) = args, dims
    batched = [d is not None for d in op_dims]
    ops = [to_front(x, d, size) if d is not None else x for x, d in zip(ops, op_dims, strict=True)]
    n_out = len(branches[0].out_avals)
    if index_dim is None:
        new = tuple(batch_jaxpr(b, size, batched, [True] * n_out)[0] for b in branches)
        return cond_p.bind(index, *ops, branches=new), [0] * n_out
    # A per-member index: every branch runs on the whole batch, then each member picks its own.
    index = to_front(index, index_dim, size)
    results = []
    for k, branch in enumerate(branches):
        batched_branch = batch_jaxpr(branch, size, batched, [True] * n_out)[0]
        outs = eval_jaxpr(batched_branch.jaxpr, batched_branch.consts, *ops)
        if k == 0:
            results = outs
            continue
        pick = lax.eq(index, k) if k < len(branches) - 1 else lax.ge(index, k)
        results = [
            lax.select(lax.broadcast_in_dim(pick, o.shape, (0,)), o, r)
            for o, r in zip(outs, results, strict=True)
        ]
    return results, [0] * n_out


cond_p = Primitive(
    "cond",
    _cond_impl,
    _cond_shape,
    weak_type=_cond_weak,
    vjp=_cond_vjp,
    jvp=_cond_jvp,
    batch=_cond_batch,
    multiple_results=True,
)
cond_p.vjp_wants = True


# ----------------------------------------------------------------------------------------------
# while: ``while[cond_jaxpr body_jaxpr cond_nconsts body_nconsts] *cond_consts *body_consts *init``


def _split_while(args, cond_nconsts, body_nconsts):
    return (
        args[:cond_nconsts],
        args[cond_nconsts : cond_nconsts + body_nconsts],
        args[cond_nconsts + body_nconsts :],
    )


def _while_shape(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, init = _split_while(args, cond_nconsts, body_nconsts)
    _check_avals("while", "cond_fun's operands", [*cc, *init], cond_jaxpr.in_avals)
    _check_avals("while", "body_fun's operands", [*bc, *init], body_jaxpr.in_avals)
    _check_avals("while", "body_fun's outputs against its carry", body_jaxpr.out_avals, init)
    pred = cond_jaxpr.out_avals
    if len(pred) != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise DtypeError(f"while: cond_fun must return a boolean scalar, got {_types(pred)}")
    return [ShapedArray(a.shape, a.dtype) for a in init]


def _while_weak(weak, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    init_weak = weak[cond_nconsts + body_nconsts :]
    return [w and a.weak_type for w, a in zip(init_weak, body_jaxpr.out_avals, strict=True)]


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _split_while(args, cond_nconsts, body_nconsts)
    cond_fn, body_fn = compiled(cond_jaxpr), compiled(body_jaxpr)
    while cond_fn(*cc, *carry)[0]:
        carry = body_fn(*bc, *carry)
    return [np.asarray(c) for c in carry]


def _while_vjp(g, *args, out, **params):
    raise TypeError(
        "Reverse-mode differentiation does not work for lax.while_loop, whose trip count is only "
        "known at run time. Use lax.fori_loop with Python-int (static) bounds, which lowers to "
        "lax.scan, or lax.scan itself; forward mode (vfunc.jvp) works with while_loop."
    )


def _while_jvp(primals, tangents, *, out, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    del out
    from vfunc.transforms import ad

    nc, nb = cond_nconsts, body_nconsts
    cc, bc, init = _split_while(primals, nc, nb)
    _, bc_t, init_t = _split_while(tangents, nc, nb)
    carry_avals = body_jaxpr.out_avals
    if all(t is None for t in (*bc_t, *init_t)):
        return [None] * len(init)
    # Every float carry gets a tangent (zeros where none was given): the body may feed one into
    # another, and the loop's carry types must not change between iterations.
    carry_nz = [_is_float(a) for a in carry_avals]
    bc_nz = [t is not None for t in bc_t]
    body = jvp_jaxpr(body_jaxpr, bc_nz + carry_nz, primals_out=True)
    k, m, j = nb, len(init), sum(bc_nz)
    nf = sum(carry_nz)
    # jvp inputs: bc, carry, bc_t, carry_t -> loop order: bc, bc_t | carry, carry_t
    order = [
        *range(k),
        *range(k + m, k + m + j),
        *range(k, k + m),
        *range(k + m + j, k + m + j + nf),
    ]
    body = _permuted(body, order, range(m + nf))
    tangent_avals = [a for a, nz in zip(carry_avals, carry_nz, strict=True) if nz]
    cond = insert_invars(cond_jaxpr, len(cond_jaxpr.in_avals), tangent_avals)
    init_tangents = [
        ad.zeros_like_aval(x.aval.update(weak_type=False)) if t is None else t
        for x, t, nz in zip(init, init_t, carry_nz, strict=True)
        if nz
    ]
    outs = while_p.bind(
        *cc, *bc, *[t for t in bc_t if t is not None], *init, *init_tangents,
        cond_jaxpr=cond, body_jaxpr=body, cond_nconsts=nc, body_nconsts=nb + j,
    )  # fmt: skip
    out_tans = iter(outs[m:])
    return [next(out_tans) if nz else None for nz in carry_nz]


def _while_batch(args, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    from vfunc.primitives._batching import batch_size, to_front

    size = batch_size(args, dims)
    nc, nb = cond_nconsts, body_nconsts
    cc, bc, init = _split_while(args, nc, nb)
    cc_b, bc_b, carry_b = ([d is not None for d in part] for part in _split_while(dims, nc, nb))
    while True:  # which carries end up batched: a fixpoint over the body
        _, body_out = batch_jaxpr(body_jaxpr, size, bc_b + carry_b)
        grown = [a or b for a, b in zip(carry_b, body_out, strict=True)]
        if grown == carry_b:
            break
        carry_b = grown
    pred_batched = batch_jaxpr(cond_jaxpr, size, cc_b + carry_b)[1][0]
    if pred_batched:  # members finish at different iterations: each carry differs by member
        carry_b = [True] * len(init)
    cc_d, bc_d, _ = _split_while(dims, nc, nb)
    cc = [to_front(x, d, size) if d is not None else x for x, d in zip(cc, cc_d, strict=True)]
    bc = [to_front(x, d, size) if d is not None else x for x, d in zip(bc, bc_d, strict=True)]
    init = [
        to_front(x, d, size) if b else x
        for x, d, b in zip(init, dims[nc + nb :], carry_b, strict=True)
    ]
    cond_b, _ = batch_jaxpr(cond_jaxpr, size, cc_b + carry_b)
    body_b, _ = batch_jaxpr(body_jaxpr, size, bc_b + carry_b, carry_b)
    out_dims = [0 if b else None for b in carry_b]
    if not pred_batched:
        outs = while_p.bind(*cc, *bc, *init, cond_jaxpr=cond_b, body_jaxpr=body_b,
                            cond_nconsts=nc, body_nconsts=nb)  # fmt: skip
        return outs, out_dims

    # Run until every member is done; a finished member's carry is held by a select.
    cc_avals, carry_avals = cond_b.in_avals[:nc], cond_b.in_avals[nc:]
    bc_avals = body_b.in_avals[:nb]

    def any_running(*a: Any) -> list:
        (pred,) = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *a)
        return [lax.reduce_max(pred, (0,))]

    def masked_body(*a: Any) -> list:
        cc_, bc_, carry = a[:nc], a[nc : nc + nb], a[nc + nb :]
        (pred,) = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *cc_, *carry)
        new = eval_jaxpr(body_b.jaxpr, body_b.consts, *bc_, *carry)
        return [
            lax.select(lax.broadcast_in_dim(pred, n.shape, (0,)), n, c)
            for n, c in zip(new, carry, strict=True)
        ]

    cond = _trace_flat(any_running, [*cc_avals, *carry_avals])
    body = _trace_flat(masked_body, [*cc_avals, *bc_avals, *carry_avals])
    outs = while_p.bind(*cc, *cc, *bc, *init, cond_jaxpr=cond, body_jaxpr=body,
                        cond_nconsts=nc, body_nconsts=nc + nb)  # fmt: skip
    return outs, out_dims


while_p = Primitive(
    "while",
    _while_impl,
    _while_shape,
    weak_type=_while_weak,
    vjp=_while_vjp,
    jvp=_while_jvp,
    batch=_while_batch,
    multiple_results=True,
)


# ----------------------------------------------------------------------------------------------
# scan: ``scan[jaxpr num_consts num_carry length reverse unroll] *consts *init *xs``
# The body maps (consts, carry, x) to (carry, y); ys are stacked along a new leading axis.


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
                f"scan: every scanned-over operand needs leading axis {length}, got {_types(xs)}"
            )
    _check_avals("scan", "body operands", [*consts, *init, *x_avals], body_in)
    carry_out, ys = jaxpr.out_avals[:num_carry], jaxpr.out_avals[num_carry:]
    _check_avals("scan", "the body's carry output against its carry input", carry_out, init)
    return [ShapedArray(a.shape, a.dtype) for a in init] + [
        ShapedArray((length, *a.shape), a.dtype) for a in ys
    ]


def _scan_weak(weak, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    outs = jaxpr.out_avals
    init_weak = weak[num_consts : num_consts + num_carry]
    return [w and a.weak_type for w, a in zip(init_weak, outs[:num_carry], strict=True)] + [
        a.weak_type for a in outs[num_carry:]
    ]


# (id(jaxpr), length) -> (jaxpr, plan): how the scan's step-independent work is hoisted.
_PLANS: dict[tuple, tuple[ClosedJaxpr, Any]] = {}


def _hoisting_plan(jaxpr: ClosedJaxpr, num_consts: int, num_carry: int, length: int) -> Any:
    """Split off the body's equations that read no carry (only consts and xs).

    They do not depend on the loop, so they run once, batched over all steps (``x_t @ W`` for
    every t is one large matrix product instead of ``length`` small ones). Returns
    ``(pre, batched, body)``: ``pre`` maps (consts, xs) to the hoisted values, stacked along
    the scan axis where ``batched`` (else loop-invariant); ``body`` reads those as extra
    consts and xs. None when nothing can be hoisted.
    """
    key = (id(jaxpr), length)
    entry = _PLANS.get(key)
    if entry is not None and entry[0] is jaxpr:
        return entry[1]
    plan = None
    jx = jaxpr.jaxpr
    consts_v = jx.invars[:num_consts]
    carry_v = jx.invars[num_consts : num_consts + num_carry]
    xs_v = jx.invars[num_consts + num_carry :]
    known = set(consts_v) | set(xs_v) | set(jx.constvars)
    hoisted, rest = [], []
    for eqn in jx.eqns:
        if all(isinstance(v, Literal) or v in known for v in eqn.invars):
            hoisted.append(eqn)
            known.update(eqn.outvars)
        else:
            rest.append(eqn)
    if hoisted and length > 0:
        produced = {v for e in hoisted for v in e.outvars}
        reads = [v for e in rest for v in e.invars] + list(jx.outvars)
        boundary = list(dict.fromkeys(v for v in reads if isinstance(v, Var) and v in produced))
        pre = ClosedJaxpr(Jaxpr(jx.constvars, consts_v + xs_v, boundary, hoisted), jaxpr.consts)
        pre, batched = batch_jaxpr(pre, length, [False] * len(consts_v) + [True] * len(xs_v))
        invariant = [v for v, b in zip(boundary, batched, strict=True) if not b]
        stacked = [v for v, b in zip(boundary, batched, strict=True) if b]
        body = Jaxpr(jx.constvars, consts_v + invariant + carry_v + xs_v + stacked, jx.outvars,
                     rest)  # fmt: skip
        plan = (pre, batched, ClosedJaxpr(body, jaxpr.consts))
    if len(_PLANS) >= _COMPILED_MAX:
        _PLANS.clear()
    _PLANS[key] = (jaxpr, plan)
    return plan


# (id(jaxpr), num_consts, num_carry, length, reverse) -> (jaxpr, compiled whole-loop function)
_LOOPS: dict[tuple, tuple[ClosedJaxpr, Callable]] = {}


def compiled_loop(
    closed: ClosedJaxpr, num_consts: int, num_carry: int, length: int, reverse: bool
) -> Callable:
    """The scan over body ``closed`` as one compiled function ``(*consts, *init, *xs)``."""
    key = (id(closed), num_consts, num_carry, length, reverse)
    entry = _LOOPS.get(key)
    if entry is None or entry[0] is not closed:
        from vfunc.transforms.compiler import codegen, passes

        fn = codegen.compile_scan_loop(
            passes.optimize(closed), num_consts, num_carry, length, reverse
        ).fn
        if len(_LOOPS) >= _COMPILED_MAX:
            _LOOPS.clear()
        _LOOPS[key] = entry = (closed, fn)
    return entry[1]


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    del unroll
    consts, carry, xs = _split_scan(args, num_consts, num_carry)
    plan = _hoisting_plan(jaxpr, num_consts, num_carry, length)
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
    from vfunc.transforms import ad

    consts, init, xs = _split_scan(primals, num_consts, num_carry)
    consts_t, init_t, xs_t = _split_scan(tangents, num_consts, num_carry)
    carry_avals, y_avals = jaxpr.out_avals[:num_carry], jaxpr.out_avals[num_carry:]
    carry_nz = [_is_float(a) for a in carry_avals]
    consts_nz = [t is not None for t in consts_t]
    xs_nz = [t is not None for t in xs_t]
    body = jvp_jaxpr(jaxpr, consts_nz + carry_nz + xs_nz, primals_out=True)
    c, m, x = num_consts, num_carry, len(xs)
    ct, mt, xt = sum(consts_nz), sum(carry_nz), sum(xs_nz)
    y_float = [_is_float(a) for a in y_avals]
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
    body = _permuted(body, in_order, out_order)
    init_tangents = [
        ad.zeros_like_aval(v.aval.update(weak_type=False)) if t is None else t
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


class _VJPSplit:
    """A scan body's VJP split by what each equation depends on (partial evaluation).

    ``vjp`` maps (consts, carry, x, cotangents of the float outputs) to the cotangents of every
    float input. Its equations that read the carry but no cotangent (``forward``) run in the
    primal scan, whose body ``fwd`` also outputs, stacked, the ``residuals`` the rest reads;
    the backward scan then skips them instead of recomputing the cell every step. Equations
    of consts and xs alone stay in the backward body, where the scan hoists them out of the
    loop.
    """

    def __init__(self, jaxpr: ClosedJaxpr, num_consts: int, num_carry: int):
        from vfunc.transforms.compiler import passes

        c, m = num_consts, num_carry
        self.vjp = vjp = passes.dead_code_elimination(
            vjp_jaxpr(jaxpr, [_is_float(a) for a in jaxpr.in_avals])
        )
        jx = vjp.jaxpr
        n_in = len(jaxpr.in_avals)
        carry_dep = set(jx.invars[c : c + m])
        ct_dep = set(jx.invars[n_in:])
        self.forward: set[int] = set()
        for k, eqn in enumerate(jx.eqns):
            ins = [v for v in eqn.invars if isinstance(v, Var)]
            if any(v in ct_dep for v in ins):
                ct_dep.update(eqn.outvars)
            elif any(v in carry_dep for v in ins):
                carry_dep.update(eqn.outvars)
                self.forward.add(k)
        reads = [
            v for k, e in enumerate(jx.eqns) if k not in self.forward for v in e.invars
        ] + list(jx.outvars)
        self.residuals = list(
            dict.fromkeys(v for v in reads if isinstance(v, Var) and v in carry_dep)
        )
        # The primal body plus the VJP's cotangent-free equations over the same inputs; CSE
        # merges the primal computation the VJP repeats.
        body = jaxpr.jaxpr
        rename = dict(zip(jx.invars[:n_in], body.invars, strict=True))

        def r(v: Any) -> Any:
            return rename.get(v, v) if isinstance(v, Var) else v

        extra = [
            JaxprEqn(e.primitive, [r(v) for v in e.invars], e.outvars, e.params)
            for e in jx.eqns
            if not any(isinstance(v, Var) and v in ct_dep for v in e.outvars)
        ]
        fwd = ClosedJaxpr(
            Jaxpr(
                list(body.constvars) + list(jx.constvars), list(body.invars),
                list(body.outvars) + [r(v) for v in self.residuals], list(body.eqns) + extra,
            ),
            list(jaxpr.consts) + list(vjp.consts),
        )  # fmt: skip
        self.fwd = passes.dead_code_elimination(passes.common_subexpression_elimination(fwd))

    def backward(self, consts: Sequence, x: Sequence, cts: Sequence, res: Sequence) -> list:
        """The input cotangents of one step, from the residuals instead of the carry."""
        jx = self.vjp.jaxpr
        c, n_in = len(consts), len(jx.invars) - len(cts)
        env: dict[Var, Any] = dict(zip(jx.constvars, self.vjp.consts, strict=True))
        env.update(zip(jx.invars[:c], consts, strict=True))
        env.update(zip(jx.invars[n_in - len(x) : n_in], x, strict=True))
        env.update(zip(jx.invars[n_in:], cts, strict=True))
        env.update(zip(self.residuals, res, strict=True))

        def read(v: Any) -> Any:
            return v.value if isinstance(v, Literal) else env[v]

        for k, eqn in enumerate(jx.eqns):
            if k in self.forward:
                continue
            outs = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
            env.update(zip(eqn.outvars, outs if eqn.primitive.multiple_results else [outs],
                           strict=True))  # fmt: skip
        return [read(v) for v in jx.outvars]


_SPLITS: dict[tuple, tuple[ClosedJaxpr, _VJPSplit]] = {}


def _vjp_split(jaxpr: ClosedJaxpr, num_consts: int, num_carry: int) -> _VJPSplit:
    key = (id(jaxpr), num_consts, num_carry)
    entry = _SPLITS.get(key)
    if entry is None or entry[0] is not jaxpr:
        if len(_SPLITS) >= _COMPILED_MAX:
            _SPLITS.clear()
        _SPLITS[key] = entry = (jaxpr, _VJPSplit(jaxpr, num_consts, num_carry))
    return entry[1]


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
    from vfunc.transforms import ad

    c, m = num_consts, num_carry
    consts, init, xs = _split_scan(args, c, m)
    w_consts, w_init, w_xs = _split_scan(wants, c, m)
    consts_d = [w and _is_float(v) for w, v in zip(w_consts, consts, strict=True)]
    xs_d = [w and _is_float(v) for w, v in zip(w_xs, xs, strict=True)]
    carry_avals, y_avals = jaxpr.out_avals[:m], jaxpr.out_avals[m:]
    carry_f = [_is_float(a) for a in carry_avals]
    init_d = [w and f for w, f in zip(w_init, carry_f, strict=True)]
    if not any(consts_d) and not any(xs_d) and not any(init_d):
        return (None,) * len(args)
    if residuals is None:  # forward mode derived from this rule, or a direct call
        residuals = _scan_vjp_forward(*args, jaxpr=jaxpr, num_consts=c, num_carry=m,
                                      length=length, reverse=reverse, unroll=unroll)[1]  # fmt: skip
    split = _vjp_split(jaxpr, c, m)
    y_f = [_is_float(a) for a in y_avals]
    nf, nx, nr = sum(carry_f), len(xs), len(split.residuals)
    const_avals = [v.aval for v, d in zip(consts, consts_d, strict=True) if d]
    f_carry_avals = [a for a, f in zip(jaxpr.in_avals[c : c + m], carry_f, strict=True) if f]
    gy_avals = [a for a, f in zip(y_avals, y_f, strict=True) if f]
    g_carry = [gi for gi, f in zip(g[:m], carry_f, strict=True) if f]
    g_ys = [gi for gi, f in zip(g[m:], y_f, strict=True) if f]
    # The VJP's outputs are the cotangents of all float inputs: pick the wanted ones.
    consts_f = [_is_float(a) for a in jaxpr.in_avals[:c]]
    xs_f = [_is_float(a) for a in jaxpr.in_avals[c + m :]]
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

    res_avals = [v.aval for v in split.residuals]
    step_avals = [*jaxpr.in_avals[:c], *f_carry_avals, *res_avals, *jaxpr.in_avals[c + m :],
                  *gy_avals]  # fmt: skip
    step_jaxpr = _trace_flat(step, step_avals)
    # Stacked operands of the backward scan, by the step jaxpr's input they feed a row of.
    stacked_inputs = dict(zip(step_jaxpr.jaxpr.invars[c + nf :], [*residuals, *xs, *g_ys],
                              strict=True))  # fmt: skip
    ct_outs = step_jaxpr.jaxpr.outvars[nf + sum(xs_d) :]
    recipes = [
        _sum_recipe(step_jaxpr.jaxpr, v, a, c) for v, a in zip(ct_outs, const_avals, strict=True)
    ]
    leaves = list(dict.fromkeys(
        leaf for r in recipes if r is not None for leaf in _recipe_leaves(r)
        if leaf not in stacked_inputs
    ))  # fmt: skip
    kept = [k for k, r in enumerate(recipes) if r is None]
    kept_avals = [const_avals[k] for k in kept]

    def backward_step(*a: Any) -> list:
        cs, acc, rest = a[:c], a[c : c + len(kept)], a[c + len(kept) :]
        env = _eval_capturing(step_jaxpr, [*cs, *rest], leaves)
        outs, captured = env[: len(step_jaxpr.jaxpr.outvars)], env[len(step_jaxpr.jaxpr.outvars) :]
        ct_consts = outs[nf + sum(xs_d) :]
        sums = [lax.add(acc_k, ct_consts[k]) for acc_k, k in zip(acc, kept, strict=True)]
        return sums + outs[: nf + sum(xs_d)] + captured

    backward = _trace_flat(backward_step, [*jaxpr.in_avals[:c], *kept_avals, *step_avals[c:]])
    zeros = [ad.zeros_like_aval(a.update(weak_type=False)) for a in kept_avals]
    res = scan_p.bind(
        *consts, *zeros, *g_carry, *residuals, *xs, *g_ys,
        jaxpr=backward, num_consts=c, num_carry=len(kept) + nf, length=length,
        reverse=not reverse, unroll=unroll,
    )  # fmt: skip
    nk = len(kept)
    ct_kept = iter(res[:nk])
    ct_init = iter(res[nk : nk + nf])
    ct_xs = iter(res[nk + nf : nk + nf + sum(xs_d)])
    stacks = {**stacked_inputs, **dict(zip(leaves, res[nk + nf + sum(xs_d) :], strict=True))}
    ct_const_vals = iter(
        next(ct_kept) if r is None else _sum_from_recipe(r, stacks, a)
        for r, a in zip(recipes, const_avals, strict=True)
    )
    out_consts = [next(ct_const_vals) if d else None for d in consts_d]
    out_init = [next(ct_init) if f else None for f in carry_f]
    out_init = [ct if d else None for ct, d in zip(out_init, init_d, strict=True)]
    out_xs = [next(ct_xs) if d else None for d in xs_d]
    return (*out_consts, *out_init, *out_xs)


# A recipe for the sum over all steps of a per-step value, computed after the loop from stacked
# per-step operands: ("leaf", var) | ("transpose", perm, recipe) | ("reduce_sum", axes, var)
# | ("dot", dimension_numbers, lhs_var, rhs_var).


def _sum_recipe(jaxpr: Jaxpr, var: Any, aval: ShapedArray, num_consts: int) -> Any:
    """How to sum ``var`` over the steps after the loop, or None to accumulate it in a carry.

    A weight gradient accumulated as ``acc += h_t^T @ g_t`` costs one small matrix product per
    step; summed after the loop it is one large contraction over (steps, batch) of the stacked
    ``h`` and ``g``, which BLAS runs several times faster. Only sums whose last operation is a
    contraction or a reduction are lifted: for anything else stacking costs more than adding.
    """
    if not isinstance(var, Var) or var.aval.dtype != aval.dtype or var.aval.shape != aval.shape:
        return None
    producer = {v: e for e in jaxpr.eqns for v in e.outvars}
    # Values that change from step to step; a loop-invariant operand stacked once per step
    # would cost a copy per step and ``length`` times its memory, so those sums stay carried.
    varying = set(jaxpr.invars[num_consts:])
    for e in jaxpr.eqns:
        if any(isinstance(v, Var) and v in varying for v in e.invars):
            varying.update(e.outvars)

    def per_step(v: Any) -> bool:
        return isinstance(v, Var) and v in varying

    def walk(v: Any) -> Any:
        eqn = producer.get(v)
        if eqn is None:
            return None
        name = eqn.primitive.name
        if name == "transpose":
            inner = walk(eqn.invars[0])
            return None if inner is None else ("transpose", eqn.params["permutation"], inner)
        if name == "reduce_sum" and per_step(eqn.invars[0]):
            return ("reduce_sum", tuple(eqn.params["axes"]), eqn.invars[0])
        if name == "dot_general" and all(per_step(x) for x in eqn.invars):
            (_, _), (lb, rb) = eqn.params["dimension_numbers"]
            if not lb and not rb:
                return ("dot", eqn.params["dimension_numbers"], *eqn.invars)
        return None

    return walk(var)


def _recipe_leaves(recipe: Any) -> list:
    if recipe[0] == "transpose":
        return _recipe_leaves(recipe[2])
    return list(recipe[2:])


def _sum_from_recipe(recipe: Any, stacks: dict, aval: ShapedArray) -> Any:
    kind = recipe[0]
    if kind == "transpose":
        return lax.transpose(_sum_from_recipe(recipe[2], stacks, aval), recipe[1])
    if kind == "reduce_sum":
        return lax.reduce_sum(stacks[recipe[2]], (0, *[a + 1 for a in recipe[1]]))
    (lc, rc), _ = recipe[1]
    lhs, rhs = stacks[recipe[2]], stacks[recipe[3]]
    dims = (((0, *[d + 1 for d in lc]), (0, *[d + 1 for d in rc])), ((), ()))
    return lax.dot_general(lhs, rhs, dims)


def _eval_capturing(closed: ClosedJaxpr, args: Sequence[Any], capture: Sequence[Var]) -> list:
    """``closed``'s outputs on ``args``, followed by the values of the variables ``capture``."""
    jaxpr = closed.jaxpr
    env: dict[Var, Any] = dict(zip(jaxpr.constvars, closed.consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))

    def read(v: Any) -> Any:
        return v.value if isinstance(v, Literal) else env[v]

    for eqn in jaxpr.eqns:
        outs = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
        env.update(zip(eqn.outvars, outs if eqn.primitive.multiple_results else [outs],
                       strict=True))  # fmt: skip
    return [read(v) for v in jaxpr.outvars] + [env[v] for v in capture]


def _scan_batch(args, dims, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    from vfunc.primitives._batching import batch_size, move_axis, to_front

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
)
scan_p.vjp_wants = True
scan_p.vjp_forward = _scan_vjp_forward
