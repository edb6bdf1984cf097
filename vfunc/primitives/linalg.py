"""dot_general: the one contraction primitive behind dot, matmul, einsum and tensordot."""

from __future__ import annotations

import numpy as np

from vfunc.core import Primitive, ShapedArray
from vfunc.errors import ShapeError
from vfunc.primitives._checks import check_dtype_kind, check_same_dtypes

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
            raise ShapeError(
                f"dot_general: {kind} dimensions disagree: lhs {lhs.shape} axes {ldims} have "
                f"sizes {lsizes}, rhs {rhs.shape} axes {rdims} have sizes {rsizes}"
            )
    lfree = [d for i, d in enumerate(lhs.shape) if i not in lc + lb]
    rfree = [d for i, d in enumerate(rhs.shape) if i not in rc + rb]
    batch = [lhs.shape[d] for d in lb]
    return ShapedArray(tuple(batch + lfree + rfree), lhs.dtype)


def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if not lb and len(lc) == 1 and lc[0] == lhs.ndim - 1 and rc[0] == 0 and rhs.ndim <= 2:
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
    out = np.matmul(lm, rm)
    return out.reshape(nb + nlf + nrf)


dot_general_p = Primitive("dot_general", _dot_general_impl, _dot_general_shape)
