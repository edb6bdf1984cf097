"""``vfunc.numpy`` (import as ``vnp``): the NumPy API on vfunc primitives.

Results are immutable ``vfunc.Array``s; dtypes follow JAX's promotion rules (float32 by default,
Python scalars weakly typed). In-place assignment becomes ``x.at[...]``.
"""

import numpy as _np

from vfunc.core import Array as ndarray
from vfunc.numpy import _methods, linalg
from vfunc.numpy.contractions import einsum, inner, kron, outer, tensordot, vdot
from vfunc.numpy.creation import (
    arange,
    array,
    asarray,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from vfunc.numpy.indexing import nonzero, take, take_along_axis
from vfunc.numpy.matrices import diag, diagonal, meshgrid, trace, tril, triu
from vfunc.numpy.movement import (
    argsort,
    array_split,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    column_stack,
    concatenate,
    cumprod,
    cumsum,
    diff,
    dstack,
    flip,
    fliplr,
    flipud,
    hstack,
    moveaxis,
    pad,
    repeat,
    roll,
    sort,
    split,
    stack,
    swapaxes,
    tile,
    vstack,
)
from vfunc.numpy.products import dot, matmul
from vfunc.numpy.reductions import (
    all,
    allclose,
    amax,
    amin,
    any,
    argmax,
    argmin,
    count_nonzero,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from vfunc.numpy.shapes import (
    astype,
    expand_dims,
    ndim,
    ravel,
    reshape,
    shape,
    size,
    squeeze,
    transpose,
)
from vfunc.numpy.ufuncs import (
    abs,
    absolute,
    add,
    arccos,
    arcsin,
    arctan,
    arctan2,
    around,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    broadcast_arrays,
    broadcast_to,
    ceil,
    clip,
    cos,
    cosh,
    deg2rad,
    degrees,
    divide,
    equal,
    exp,
    expm1,
    floor,
    floor_divide,
    greater,
    greater_equal,
    hypot,
    invert,
    isclose,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    left_shift,
    less,
    less_equal,
    log,
    log1p,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    nan_to_num,
    negative,
    not_equal,
    positive,
    power,
    rad2deg,
    radians,
    reciprocal,
    remainder,
    right_shift,
    round,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    where,
)
from vfunc.numpy.vectorize import vectorize

# dtype names, usable as `dtype=vnp.float32` and as scalar constructors, as in jax.numpy.
bool_, int8, int16, int32, int64 = _np.bool_, _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64
float16, float32, float64 = _np.float16, _np.float32, _np.float64
complex64, complex128 = _np.complex64, _np.complex128
pi, e, inf, nan = _np.pi, _np.e, _np.inf, _np.nan
newaxis = None

_methods.install()
