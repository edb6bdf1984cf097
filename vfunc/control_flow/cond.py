"""``cond`` and ``switch``: one primitive, ``cond[branches=(b0, b1, ...)] index *operands``,
which runs branch ``index`` (clamped) on the operands.

Every branch is staged on the operands' types and takes every branch's closed-over tracers
as leading operands, so all branches share one signature. The VJP and JVP are conds over the
branches' VJP and JVP jaxprs; under vmap with a per-member index every branch runs on the
whole batch and each member selects its own result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, tree
from vfunc.control_flow.common import (
    describe,
    flat_arrays,
    insert_invars,
    is_float,
    leaf_types,
    stage,
    types_match,
)
from vfunc.core import Array, Primitive, ShapedArray
from vfunc.devices import as_buffer
from vfunc.errors import DtypeError
from vfunc.jaxpr import check_avals, eval_jaxpr
from vfunc.primitives import builders as lax
from vfunc.primitives._batching import batch_size, to_front
from vfunc.primitives.builders import ArrayLike, as_array
from vfunc.transforms.ad import jvp_jaxpr, vjp_jaxpr
from vfunc.transforms.batching import batch_jaxpr
from vfunc.transforms.compiler.cache import compiled

# ----------------------------------------------------------------------------------------------
# The primitive


def _cond_shape(index: ShapedArray, *ops: ShapedArray, branches: tuple) -> list[ShapedArray]:
    if index.shape != () or index.dtype.kind not in "iu":
        raise DtypeError(
            f"cond: the branch index must be an integer scalar, got {index.str_short()}"
        )
    for k, branch in enumerate(branches):
        check_avals("cond", f"operands of branch {k}", ops, branch.in_avals)
        check_avals("cond", f"outputs of branch {k} against branch 0", branch.out_avals,
                    branches[0].out_avals)  # fmt: skip
    return [ShapedArray(a.shape, a.dtype) for a in branches[0].out_avals]


def _cond_weak(weak: Sequence[bool], *, branches: tuple) -> Any:  # one per output
    outs = [b.out_avals for b in branches]
    return [all(o[k].weak_type for o in outs) for k in range(len(outs[0]))]


def _cond_impl(index, *ops, branches):
    i = min(max(int(index), 0), len(branches) - 1)
    return [as_buffer(o) for o in compiled(branches[i])(*ops)]  # device buffers stay


def _cond_vjp(g, index, *ops, out, wants, branches):
    del out
    diff = [w and is_float(op) for w, op in zip(wants[1:], ops, strict=True)]
    if not any(diff):
        return (None,) * (1 + len(ops))
    float_g = [gi for gi, a in zip(g, branches[0].out_avals, strict=True) if is_float(a)]
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
    return [next(out_tans) if is_float(a) else None for a in branches[0].out_avals]


def _cond_batch(args, dims, *, branches):
    size = batch_size(args, dims)
    (index, *ops), (index_dim, *op_dims) = args, dims
    batched = [d is not None for d in op_dims]
    ops = [to_front(x, d, size) if d is not None else x for x, d in zip(ops, op_dims, strict=True)]
    n_out = len(branches[0].out_avals)
    if index_dim is None:
        new = tuple(batch_jaxpr(b, size, batched, [True] * n_out)[0] for b in branches)
        return cond_p.bind(index, *ops, branches=new), [0] * n_out
    # A per-member index: every branch runs on the whole batch, then each member picks its own.
    # Each branch sees its float operands through select(chosen, x, stop_gradient(x)): the
    # values are the same, but members that did not choose the branch get no derivative
    # from it, so a branch whose derivative is NaN or inf where it was not chosen (arctan2
    # at the origin, log at 0) cannot turn the 0 cotangent of those members into NaN.
    # Unbatched float operands are broadcast first, so the mask is per member (JAX does both).
    index = lax.max(lax.min(to_front(index, index_dim, size), len(branches) - 1), 0)
    ops = [lax.broadcast_in_dim(x, (size, *x.shape), tuple(range(1, x.ndim + 1)))
           if not b and is_float(x) else x for x, b in zip(ops, batched, strict=True)]
    batched = [b or is_float(x) for x, b in zip(ops, batched, strict=True)]
    results: list = []
    for k, branch in enumerate(branches):
        chosen = lax.eq(index, k)
        masked = [_select_members(chosen, x, lax.stop_gradient(x)) if is_float(x) else x
                  for x in ops]
        batched_branch = batch_jaxpr(branch, size, batched, [True] * n_out)[0]
        outs = eval_jaxpr(batched_branch.jaxpr, batched_branch.consts, *masked)
        results = outs if k == 0 else [
            _select_members(chosen, o, r) for o, r in zip(outs, results, strict=True)
        ]
    return results, [0] * n_out


def _select_members(chosen: Any, on_true: Any, on_false: Any) -> Any:
    """Per batch member (leading axis), ``on_true`` where ``chosen`` else ``on_false``."""
    return lax.select(lax.broadcast_in_dim(chosen, on_true.shape, (0,)), on_true, on_false)


cond_p = Primitive(
    "cond",
    _cond_impl,
    _cond_shape,
    weak_type=_cond_weak,
    vjp=_cond_vjp,
    jvp=_cond_jvp,
    batch=_cond_batch,
    multiple_results=True,
    vjp_wants=True,
)


# ----------------------------------------------------------------------------------------------
# The front end


def _index_operand(op: str, value: Any) -> Array:
    index = as_array(value)
    if index.shape != ():
        raise TypeError(f"{op}: the index must be a scalar, got {index.aval.str_short()}")
    return index


def _stage_branches(op: str, index: Array, funs: Sequence[Any], names: Sequence[str],
                    operands: tuple) -> Any:  # fmt: skip
    ops, in_tree = flat_arrays(operands)
    types = leaf_types(ops)

    def build(sds: list) -> tuple:
        return tree.unflatten(in_tree, sds)

    traced = [stage(fun, in_tree, types, build) for fun in funs]
    first_jaxpr, _, first_tree = traced[0]
    for name, (jaxpr, _, out_tree) in zip(names[1:], traced[1:], strict=True):
        if out_tree != first_tree or not types_match(jaxpr.out_avals, first_jaxpr.out_avals):
            raise TypeError(
                f"{op}: {names[0]} and {name} must return the same structure and types, but "
                f"{names[0]} returned {describe(first_tree, first_jaxpr.out_avals)} and {name} "
                f"returned {describe(out_tree, jaxpr.out_avals)}"
            )
    # Every branch takes every branch's closed-over tracers, then the operands.
    lifted = [consts for _, consts, _ in traced]
    lifted_avals = [[c.aval for c in consts] for consts in lifted]
    branches = []
    for k, (jaxpr, consts, _) in enumerate(traced):
        after = [a for avals in lifted_avals[k + 1 :] for a in avals]
        before = [a for avals in lifted_avals[:k] for a in avals]
        if after:
            jaxpr = insert_invars(jaxpr, len(consts), after)
        if before:
            jaxpr = insert_invars(jaxpr, 0, before)
        # (without lifted values, the staged jaxprs themselves: their compiled code is cached)
        branches.append(jaxpr)
    flat_consts = [c for consts in lifted for c in consts]
    outs = cond_p.bind(index, *flat_consts, *ops, branches=tuple(branches))
    return tree.unflatten(first_tree, outs)


def cond(pred: ArrayLike, true_fun: Any, false_fun: Any, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one primitive.

    Both branches are traced (they must return the same pytree structure, shapes and dtypes)
    and only the chosen one runs. ``pred`` is a boolean or integer scalar (nonzero is true).
    Under ``vmap`` with a per-member ``pred``, both branches run and a ``select`` picks each
    member's result, as in JAX. Differentiable in both modes, to any order.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.cond(vnp.array(3.0) > 0, lambda x: x * 2, lambda x: -x, vnp.array([1.0, 2.0]))
        Array([2., 4.], dtype=float32)
    """
    pred = as_array(pred)
    if pred.shape != ():
        raise TypeError(f"cond: pred must be a scalar, got {pred.aval.str_short()}")
    if pred.dtype != dtypes.bool_:
        if pred.dtype.kind not in "iu":
            raise TypeError(f"cond: pred must be a boolean or integer scalar, got {pred.dtype}")
        pred = lax.ne(pred, 0)
    index = lax.convert_element_type(pred, np.int32)
    return _stage_branches("cond", index, (false_fun, true_fun), ("false_fun", "true_fun"),
                           operands)  # fmt: skip


def switch(index: ArrayLike, branches: Sequence[Any], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to ``[0, len(branches) - 1]``.

    Every branch is traced and must return the same structure, shapes and dtypes; only the
    chosen one runs (under ``vmap`` with a per-member index, all run and each member selects).

    Example:
        >>> from vfunc import lax
        >>> lax.switch(5, [lambda x: x + 1, lambda x: x * 10], 2.0)
        Array(20., dtype=float32, weak_type=True)
    """
    funs = tuple(branches)
    if not funs:
        raise ValueError("switch: branches must be a non-empty sequence of functions")
    idx = _index_operand("switch", index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"switch: the index must be an integer scalar, got {idx.dtype}")
    idx = lax.convert_element_type(idx, np.int32)
    if len(funs) == 1:
        return funs[0](*operands)
    idx = lax.max(lax.min(idx, len(funs) - 1), 0)
    names = [f"branches[{k}]" for k in range(len(funs))]
    return _stage_branches("switch", idx, funs, names, operands)
