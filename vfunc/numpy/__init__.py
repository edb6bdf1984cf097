"""``vfunc.numpy`` (import as ``vnp``): the NumPy API on vfunc primitives.

Results are immutable ``vfunc.Array``s; dtypes follow JAX's promotion rules (float32 by default,
Python scalars weakly typed). In-place assignment becomes ``x.at[...]``.
"""

import numpy as _np

from vfunc import dtypes as _dtypes
from vfunc.core import Array as ndarray
from vfunc.numpy import _methods, fft, linalg
from vfunc.numpy.arrayfuncs import (
    apply_along_axis,
    apply_over_axes,
    array_equal,
    array_equiv,
    block,
    can_cast,
    choose,
    compress,
    copy,
    cumulative_prod,
    cumulative_sum,
    delete,
    diagflat,
    extract,
    geomspace,
    identity,
    insert,
    isdtype,
    isscalar,
    iterable,
    lexsort,
    logspace,
    matrix_transpose,
    matvec,
    piecewise,
    place,
    promote_types,
    put,
    put_along_axis,
    resize,
    result_type,
    tri,
    trim_zeros,
    unstack,
    vecdot,
    vecmat,
)
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
from vfunc.numpy.index_helpers import (
    argwhere,
    diag_indices,
    diag_indices_from,
    flatnonzero,
    fromfunction,
    index_exp,
    indices,
    ix_,
    mask_indices,
    mgrid,
    ogrid,
    ravel_multi_index,
    s_,
    tril_indices,
    tril_indices_from,
    triu_indices,
    triu_indices_from,
    unravel_index,
)
from vfunc.numpy.index_tricks import c_, r_
from vfunc.numpy.indexing import take, take_along_axis
from vfunc.numpy.mathematical import (
    bartlett,
    bitwise_count,
    blackman,
    cbrt,
    copysign,
    divmod,
    float_power,
    fmod,
    frexp,
    gcd,
    hamming,
    hanning,
    heaviside,
    i0,
    kaiser,
    lcm,
    ldexp,
    modf,
    nextafter,
    rint,
    signbit,
    sort_complex,
    spacing,
    trunc,
    unwrap,
)
from vfunc.numpy.matrices import diag, diagonal, meshgrid, trace, tril, triu
from vfunc.numpy.movement import (
    append,
    argpartition,
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
    dsplit,
    dstack,
    flip,
    fliplr,
    flipud,
    gradient,
    hsplit,
    hstack,
    moveaxis,
    pad,
    partition,
    repeat,
    roll,
    rollaxis,
    rot90,
    sort,
    split,
    stack,
    swapaxes,
    tile,
    vsplit,
    vstack,
)
from vfunc.numpy.numerical import (
    bincount,
    digitize,
    ediff1d,
    histogram,
    histogram_bin_edges,
    interp,
    searchsorted,
    trapezoid,
)
from vfunc.numpy.polynomial import (
    poly,
    polyadd,
    polyder,
    polydiv,
    polyfit,
    polyint,
    polymul,
    polysub,
    polyval,
    roots,
    vander,
)
from vfunc.numpy.products import convolve, correlate, cross, dot, matmul
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
from vfunc.numpy.searching import nonzero
from vfunc.numpy.setops import (
    intersect1d,
    isin,
    setdiff1d,
    setxor1d,
    union1d,
    unique,
    unique_all,
    unique_counts,
    unique_inverse,
    unique_values,
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
from vfunc.numpy.statistics import (
    average,
    corrcoef,
    cov,
    median,
    nanargmax,
    nanargmin,
    nancumprod,
    nancumsum,
    nanmax,
    nanmean,
    nanmedian,
    nanmin,
    nanpercentile,
    nanprod,
    nanquantile,
    nanstd,
    nansum,
    nanvar,
    percentile,
    ptp,
    quantile,
)
from vfunc.numpy.ufuncs import (
    abs,
    absolute,
    add,
    angle,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    around,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    broadcast_arrays,
    broadcast_to,
    ceil,
    clip,
    conj,
    conjugate,
    cos,
    cosh,
    deg2rad,
    degrees,
    divide,
    equal,
    exp,
    exp2,
    expm1,
    fabs,
    floor,
    floor_divide,
    fmax,
    fmin,
    greater,
    greater_equal,
    hypot,
    imag,
    invert,
    isclose,
    iscomplex,
    iscomplexobj,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    isreal,
    isrealobj,
    left_shift,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
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
    real,
    reciprocal,
    remainder,
    right_shift,
    round,
    select,
    sign,
    sin,
    sinc,
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
# Calling one casts, as jnp.float32(x) does: `vnp.float32(x)` is `vnp.asarray(x, vnp.float32)`.
_st = _dtypes.scalar_type
bool_ = _st("bool_", _np.bool_)
int8, int16, int32, int64 = (_st(f"int{b}", _np.dtype(f"int{b}")) for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (_st(f"uint{b}", _np.dtype(f"uint{b}")) for b in (8, 16, 32, 64))
float16, float32, float64 = (_st(f"float{b}", _np.dtype(f"float{b}")) for b in (16, 32, 64))
complex64, complex128 = _st("complex64", _np.complex64), _st("complex128", _np.complex128)
int_, uint, float_, complex_ = int64, uint64, float64, complex128  # JAX's default-width names
pi, e, inf, nan = _np.pi, _np.e, _np.inf, _np.nan
newaxis = None

# NumPy's dtype machinery and the NumPy 2 (array API) spellings of existing functions, under
# the names jax.numpy exports; each is NumPy's object or an alias, nothing new.
dtype, finfo, iinfo, issubdtype = _np.dtype, _np.finfo, _np.iinfo, _np.issubdtype
generic, number, integer, inexact = _np.generic, _np.number, _np.integer, _np.inexact
signedinteger, unsignedinteger = _np.signedinteger, _np.unsignedinteger
floating, complexfloating = _np.floating, _np.complexfloating
bool = bool_  # noqa: A001  (jax.numpy.bool; NumPy 2's numpy.bool)
single, double, csingle, cdouble = float32, float64, complex64, complex128
euler_gamma = _np.euler_gamma
object_, character, flexible = _np.object_, _np.character, _np.flexible
ComplexWarning = _np.exceptions.ComplexWarning
printoptions, get_printoptions, set_printoptions = (
    _np.printoptions, _np.get_printoptions, _np.set_printoptions
)
acos, asin, atan, atan2 = arccos, arcsin, arctan, arctan2
acosh, asinh, atanh = arccosh, arcsinh, arctanh
pow, concat, permute_dims = power, concatenate, transpose  # noqa: A001
bitwise_invert, bitwise_left_shift, bitwise_right_shift = invert, left_shift, right_shift

_methods.install()
