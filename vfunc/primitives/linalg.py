"""dot_general: the one contraction primitive behind dot, matmul, einsum and tensordot."""

from __future__ import annotations

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc.core import Identities, Primitive, ShapedArray
from vfunc.errors import ShapeError, ShapeTypeError
from vfunc.primitives._batching import move_axis, shift_axes
from vfunc.primitives._bilinear import bilinear_jvp
from vfunc.primitives._checks import check_dtype_kind, check_same_dtypes
from vfunc.primitives.linalg_kernels import PARALLEL_OUTER_MIN_SIZE, batched_outer
from vfunc.primitives.shape import transpose_p

DimensionNumbers = tuple[tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], ...]]


def _dot_general_shape(
    lhs: ShapedArray, rhs: ShapedArray, *, dimension_numbers: DimensionNumbers
) -> ShapedArray:
    (lc, rc), (lb, rb) = dimension_numbers
    check_same_dtypes("dot_general", lhs, rhs)
    check_dtype_kind("dot_general", lhs.dtype, "biufc")
    for name, dims, x in (("lhs", lc + lb, lhs), ("rhs", rc + rb, rhs)):
        if len(set(dims)) != len(dims) or any(not 0 <= d < x.ndim for d in dims):
            raise ShapeError(
                f"dot_general: {name} contracting and batch dimensions {dims} must be distinct "
                f"axes of the {name} (shape {x.shape})"
            )
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ShapeError(
            f"dot_general: lhs and rhs need as many contracting ({lc} vs {rc}) and batch "
            f"({lb} vs {rb}) dimensions as each other"
        )
    for kind, ldims, rdims in (("contracting", lc, rc), ("batch", lb, rb)):
        lsizes = tuple(lhs.shape[d] for d in ldims)
        rsizes = tuple(rhs.shape[d] for d in rdims)
        if lsizes != rsizes:
            raise ShapeTypeError(  # a TypeError, as JAX's
                f"dot_general: {kind} dimensions disagree: lhs {lhs.shape} axes {ldims} have "
                f"sizes {lsizes}, rhs {rhs.shape} axes {rdims} have sizes {rsizes}"
            )
    lfree = [d for i, d in enumerate(lhs.shape) if i not in lc + lb]
    rfree = [d for i, d in enumerate(rhs.shape) if i not in rc + rb]
    batch = [lhs.shape[d] for d in lb]
    return ShapedArray(tuple(batch + lfree + rfree), lhs.dtype)


def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if not lb and len(lc) == 1 and lc[0] == lhs.ndim - 1 == 1 and rc[0] == 0 and rhs.ndim <= 2:
        return np.dot(lhs, rhs)  # the plain matrix product: straight to BLAS
    lfree = [i for i in range(lhs.ndim) if i not in lc + lb]
    rfree = [i for i in range(rhs.ndim) if i not in rc + rb]
    # batch, free, contracting on the left; batch, contracting, free on the right: one matmul.
    lt = lhs.transpose(list(lb) + lfree + list(lc))
    rt = rhs.transpose(list(rb) + list(rc) + rfree)
    nb = [lhs.shape[d] for d in lb]
    nlf = [lhs.shape[d] for d in lfree]
    nrf = [rhs.shape[d] for d in rfree]
    k = int(np.prod([lhs.shape[d] for d in lc], dtype=np.int64))
    lm = lt.reshape(nb + [int(np.prod(nlf, dtype=np.int64)), k])
    rm = rt.reshape(nb + [k, int(np.prod(nrf, dtype=np.int64))])
    if k == 1:
        # Nothing to contract (outer products, as in per-example weight gradients): numpy's
        # matmul would run one tiny GEMM per batch member; a broadcast multiply streams, and
        # a parallel kernel streams on every core.
        m, n = lm.shape[-2], rm.shape[-1]
        size = m * n * int(np.prod(nb, dtype=np.int64))
        if size >= PARALLEL_OUTER_MIN_SIZE and lm.dtype.kind == "f":
            flat_l, flat_r = lm.reshape(-1, m), rm.reshape(-1, n)
            out = batched_outer(flat_l, flat_r)
        else:
            out = np.multiply(lm, rm)
    else:
        out = np.matmul(lm, rm)
    return out.reshape(nb + nlf + nrf)


def _consecutive(*lengths: int) -> list[list[int]]:
    out, start = [], 0
    for n in lengths:
        out.append(list(range(start, start + n)))
        start += n
    return out


def _cotangent_of(g, other, *, mine: int, dims, mine_is_lhs: bool):
    """The cotangent of one operand of dot_general: g contracted with the other operand.

    ``dims`` is ``((my_contract, other_contract), (my_batch, other_batch))``; g's axes are
    batch, lhs-free, rhs-free.
    """
    (my_contract, other_contract), (my_batch, other_batch) = dims
    my_free = [i for i in range(mine) if i not in my_contract + my_batch]
    other_free = [i for i in range(other.ndim) if i not in other_contract + other_batch]
    batch, lhs_free, rhs_free = _consecutive(
        len(my_batch), *((len(my_free), len(other_free)) if mine_is_lhs else
                         (len(other_free), len(my_free))),
    )  # fmt: skip
    g_other_free = rhs_free if mine_is_lhs else lhs_free
    # Contract g's "other-free" axes with the other operand's free axes; the result's axes are
    # batch, my free axes, then my contracting axes ordered as the other's contracting axes.
    result = dot_general_p.bind(
        g, other,
        dimension_numbers=((tuple(g_other_free), tuple(other_free)),
                           (tuple(batch), tuple(other_batch))),
    )  # fmt: skip
    contract_in_other_order = [my_contract[i] for i in np.argsort(other_contract)]
    layout = list(my_batch) + my_free + contract_in_other_order
    permutation = tuple(int(i) for i in np.argsort(layout))
    if permutation == tuple(range(len(permutation))):
        return result
    return transpose_p.bind(result, permutation=permutation)


def _dot_general_vjp(g, lhs, rhs, *, out, dimension_numbers, wants=(True, True)):
    del out
    (lc, rc), (lb, rb) = dimension_numbers
    ct_lhs = ct_rhs = None
    if wants[0]:
        ct_lhs = _cotangent_of(g, rhs, mine=lhs.ndim, dims=((lc, rc), (lb, rb)), mine_is_lhs=True)
    if wants[1]:
        ct_rhs = _cotangent_of(g, lhs, mine=rhs.ndim, dims=((rc, lc), (rb, lb)), mine_is_lhs=False)
    return ct_lhs, ct_rhs


def _free_axes(ndim: int, used: tuple[int, ...]) -> list[int]:
    return [i for i in range(ndim) if i not in used]


def _dot_general_batch(args, dims, *, dimension_numbers):
    (lhs, rhs), (ld, rd) = args, dims
    (lc, rc), (lb, rb) = dimension_numbers
    if ld is not None and rd is not None:
        # Both batched: the mapped axis becomes one more dot_general batch axis, which the
        # output puts first.
        lhs, rhs = move_axis(lhs, ld, 0), move_axis(rhs, rd, 0)
        numbers = (
            (shift_axes(lc, 0), shift_axes(rc, 0)),
            ((0, *shift_axes(lb, 0)), (0, *shift_axes(rb, 0))),
        )
        return dot_general_p.bind(lhs, rhs, dimension_numbers=numbers), 0
    # One side batched: its mapped axis is simply one more free axis of that side.
    if ld is not None:
        lc, lb = shift_axes(lc, ld), shift_axes(lb, ld)
        out_dim = len(lb) + _free_axes(lhs.ndim, lc + lb).index(ld)
    else:
        rc, rb = shift_axes(rc, rd), shift_axes(rb, rd)
        lhs_free = lhs.ndim - len(lc) - len(lb)
        out_dim = len(lb) + lhs_free + _free_axes(rhs.ndim, rc + rb).index(rd)
    numbers = ((lc, rc), (lb, rb))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=numbers), out_dim


def _absorb_permutation(params, avals, permutation):
    # The product with its free axes swapped (rhs's first) is the product of the swapped
    # operands: the compiler folds such a transpose into the product.
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    if lb or rb:
        return None
    lhs, rhs = avals
    n_left, n_right = lhs.ndim - len(lc), rhs.ndim - len(rc)
    if permutation != tuple(range(n_left, n_left + n_right)) + tuple(range(n_left)):
        return None
    return (1, 0), {"dimension_numbers": ((tuple(rc), tuple(lc)), ((), ()))}


# dot_general dimension numbers of a 2-D by 2-D product -> (transpose lhs, transpose rhs): the
# product is then one ``np.dot`` (BLAS reads transposed operands in place), without the impl's
# generic reshaping.
_MATMUL_2D = {
    (((1,), (0,)), ((), ())): (False, False),
    (((0,), (0,)), ((), ())): (True, False),
    (((1,), (1,)), ((), ())): (False, True),
    (((0,), (1,)), ((), ())): (True, True),
}


def _as_matmul(params, lhs: ShapedArray, rhs: ShapedArray) -> tuple[bool, bool] | None:
    if lhs.ndim != 2 or rhs.ndim != 2:
        return None
    return _MATMUL_2D.get(params["dimension_numbers"])


def _sum_over_steps(steps, lhs, rhs, *, dimension_numbers):
    # The sum over steps of products without batch axes is one product that also contracts
    # the stacked steps' axis of both operands.
    (lc, rc), (lb, rb) = dimension_numbers
    if lb or rb:
        return None
    stacked_lhs, stacked_rhs = steps.stacked(lhs), steps.stacked(rhs)
    if stacked_lhs is None or stacked_rhs is None:
        return None
    dims = (((0, *[d + 1 for d in lc]), (0, *[d + 1 for d in rc])), ((), ()))
    return lambda stacks: lax.dot_general(stacked_lhs(stacks), stacked_rhs(stacks), dims)


dot_general_p = Primitive(
    "dot_general",
    _dot_general_impl,
    _dot_general_shape,
    vjp=_dot_general_vjp,
    jvp=bilinear_jvp(lambda lhs, rhs, **p: dot_general_p.bind(lhs, rhs, **p)),
    batch=_dot_general_batch,
    # Computing a cotangent nobody needs (e.g. for the data input of a layer) would cost a
    # whole matrix product, so the backward pass tells the rule which operands it must
    # differentiate.
    vjp_wants=True,
    identities=Identities(absorb_permutation=_absorb_permutation),
    as_matmul=_as_matmul,
    sum_over_steps=_sum_over_steps,
)
