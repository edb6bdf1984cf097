"""``while_loop`` and ``fori_loop``: one primitive,
``while[cond_jaxpr body_jaxpr cond_nconsts body_nconsts] *cond_consts *body_consts *init``.

The impl calls the compiled condition and body until the condition fails. Forward mode runs
a while loop over the body's JVP; reverse mode raises, since the trip count is only known at
run time (``fori_loop`` with static bounds lowers to ``scan`` instead). Under vmap with a
per-member condition the loop runs until every member is done, holding finished members'
carries with a select.
"""

from __future__ import annotations

from typing import Any

from vfunc import dtypes, tree
from vfunc.control_flow.common import (
    describe,
    flat_arrays,
    insert_invars,
    is_float,
    leaf_types,
    permuted,
    stage,
    types_match,
)
from vfunc.control_flow.scan import scan
from vfunc.core import Primitive, ShapedArray, Tracer
from vfunc.devices import as_buffer
from vfunc.errors import DtypeError
from vfunc.jaxpr import check_avals, eval_jaxpr, types_str
from vfunc.primitives import builders as lax
from vfunc.primitives._batching import batch_size, to_front
from vfunc.primitives.builders import ArrayLike, as_array
from vfunc.transforms.ad import jvp_jaxpr, zeros_like_aval
from vfunc.transforms.batching import batch_jaxpr
from vfunc.transforms.compiler.cache import compiled
from vfunc.transforms.staging import trace_flat

# ----------------------------------------------------------------------------------------------
# The primitive


def _split_while(args, cond_nconsts, body_nconsts):
    return (
        args[:cond_nconsts],
        args[cond_nconsts : cond_nconsts + body_nconsts],
        args[cond_nconsts + body_nconsts :],
    )


def _while_shape(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, init = _split_while(args, cond_nconsts, body_nconsts)
    check_avals("while", "cond_fun's operands", [*cc, *init], cond_jaxpr.in_avals)
    check_avals("while", "body_fun's operands", [*bc, *init], body_jaxpr.in_avals)
    check_avals("while", "body_fun's outputs against its carry", body_jaxpr.out_avals, init)
    pred = cond_jaxpr.out_avals
    if len(pred) != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise DtypeError(f"while: cond_fun must return a boolean scalar, got {types_str(pred)}")
    return [ShapedArray(a.shape, a.dtype) for a in init]


def _while_weak(weak, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    init_weak = weak[cond_nconsts + body_nconsts :]
    return [w and a.weak_type for w, a in zip(init_weak, body_jaxpr.out_avals, strict=True)]


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _split_while(args, cond_nconsts, body_nconsts)
    cond_fn, body_fn = compiled(cond_jaxpr), compiled(body_jaxpr)
    while cond_fn(*cc, *carry)[0]:
        carry = body_fn(*bc, *carry)
    return [as_buffer(c) for c in carry]  # device buffers stay


def _while_vjp(g, *args, out, **params):
    raise TypeError(
        "Reverse-mode differentiation does not work for lax.while_loop, whose trip count is only "
        "known at run time. Use lax.fori_loop with Python-int (static) bounds, which lowers to "
        "lax.scan, or lax.scan itself; forward mode (vfunc.jvp) works with while_loop."
    )


def _while_jvp(primals, tangents, *, out, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    del out
    nc, nb = cond_nconsts, body_nconsts
    cc, bc, init = _split_while(primals, nc, nb)
    _, bc_t, init_t = _split_while(tangents, nc, nb)
    carry_avals = body_jaxpr.out_avals
    if all(t is None for t in (*bc_t, *init_t)):
        return [None] * len(init)
    # Every float carry gets a tangent (zeros where none was given): the body may feed one into
    # another, and the loop's carry types must not change between iterations.
    carry_nz = [is_float(a) for a in carry_avals]
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
    body = permuted(body, order, range(m + nf))
    tangent_avals = [a for a, nz in zip(carry_avals, carry_nz, strict=True) if nz]
    cond = insert_invars(cond_jaxpr, len(cond_jaxpr.in_avals), tangent_avals)
    init_tangents = [
        zeros_like_aval(x.aval.update(weak_type=False)) if t is None else t
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

    cond = trace_flat(any_running, [*cc_avals, *carry_avals])
    body = trace_flat(masked_body, [*cc_avals, *bc_avals, *carry_avals])
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
# The front end


def while_loop(cond_fun: Any, body_fun: Any, init_val: Any) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; return the final ``val``.

    ``body_fun`` must return the structure, shapes and dtypes of ``init_val``, and ``cond_fun``
    a boolean scalar. Forward-mode differentiable (``vfunc.jvp``); reverse mode raises (the
    trip count is only known at run time): use ``fori_loop`` with static bounds or ``scan``
    for gradients. Under
    ``vmap`` with a per-member condition the loop runs until every member is done, holding
    the carries of finished members.

    Example:
        >>> from vfunc import lax
        >>> lax.while_loop(lambda x: x < 100, lambda x: x * 3, 1)
        Array(243, dtype=int32, weak_type=True)
    """
    init, in_tree = flat_arrays(init_val)
    types = leaf_types(init)

    def build(sds: list) -> tuple:
        return (tree.unflatten(in_tree, sds),)

    cond_jaxpr, cond_consts, cond_tree = stage(cond_fun, in_tree, types, build)
    pred = cond_jaxpr.out_avals
    if cond_tree.num_leaves != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise TypeError(
            "while_loop: cond_fun must return a boolean scalar, but it returned "
            f"{describe(cond_tree, pred)}"
        )
    body_jaxpr, body_consts, body_tree = stage(body_fun, in_tree, types, build)
    if body_tree != in_tree or not types_match(body_jaxpr.out_avals, [a.aval for a in init]):
        raise TypeError(
            "while_loop: body_fun must return the structure and types of its carry, but "
            f"init_val is {describe(in_tree, [a.aval for a in init])} and body_fun returned "
            f"{describe(body_tree, body_jaxpr.out_avals)}"
        )
    outs = while_p.bind(
        *cond_consts, *body_consts, *init, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts),
    )  # fmt: skip
    return tree.unflatten(in_tree, outs)


def fori_loop(lower: ArrayLike, upper: ArrayLike, body_fun: Any, init_val: Any, *,
              unroll: int | bool | None = None) -> Any:  # fmt: skip
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``; return ``val``.

    With concrete bounds (Python ints or concrete arrays, even under ``jit``) this is a
    ``scan`` of ``upper - lower`` steps, differentiable in reverse mode; with traced bounds it
    is a ``while_loop`` (forward mode only). ``i`` has the bounds' integer dtype and, as in
    JAX, is weakly typed when the bounds are concrete or ``lower`` is a Python int, so an
    integer carry started from a Python int stays weakly typed.

    Example:
        >>> from vfunc import lax
        >>> lax.fori_loop(0, 5, lambda i, total: total + i, 0)
        Array(10, dtype=int32, weak_type=True)
    """
    lo, hi = as_array(lower), as_array(upper)
    for name, bound in (("lower", lo), ("upper", hi)):
        if bound.shape != () or bound.dtype.kind not in "iu":
            raise TypeError(
                f"fori_loop: {name} must be an integer scalar, got {bound.aval.str_short()}"
            )
    dtype, _ = dtypes.promote((lo.dtype, lo.weak_type), (hi.dtype, hi.weak_type))
    static = not isinstance(lower, Tracer) and not isinstance(upper, Tracer)
    if static:
        # As JAX does: with known bounds the counter starts from the Python int ``lower``, so
        # ``i`` is weakly typed and an int carry built from it stays weak (``Array(10,
        # dtype=int32, weak_type=True)`` below, whatever integer dtype the bounds had).
        start, length = int(lo), max(int(hi) - int(lo), 0)

        def step(carry: Any, _: Any) -> Any:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        steps = 1 if unroll is None else unroll
        (_, result), _ = scan(step, (start, init_val), None, length=length, unroll=steps)
        return result
    # A bound that already has the common dtype keeps its weak type (a Python-int ``lower``
    # stays weak, so ``i`` does too, as in JAX); only a bound that needs promotion converts.
    lo = lo if lo.dtype == dtype else lax.convert_element_type(lo, dtype)
    hi = hi if hi.dtype == dtype else lax.convert_element_type(hi, dtype)

    def keep_going(carry: Any) -> Any:
        return lax.lt(carry[0], carry[1])

    def body(carry: Any) -> Any:
        i, end, val = carry
        return i + 1, end, body_fun(i, val)

    return while_loop(keep_going, body, (lo, hi, init_val))[2]
