"""Matrix decompositions and solves: cholesky, triangular_solve, solve, slogdet, det, eigh, svd,
qr, lu (and lu_pivots_to_permutation), eig and eigvals.

Every primitive acts on the last two axes and maps over any leading ones (NumPy's batched
``linalg``), so the vmap rule only moves the mapped axis to the front. The impls call
``numpy.linalg`` (LAPACK) except ``triangular_solve`` and ``lu``, which NumPy lacks, and
``cholesky`` of large matrices, where a blocked numba + BLAS version is faster (kernels in
``linalg_kernels``). The
VJP rules are written with primitives (``triangular_solve`` and ``solve`` included), so they
are traceable: grad of grad, vmap of grad and jit of grad need nothing more.

Conventions, as in JAX: ``cholesky`` and ``eigh`` read their input as ``(a + a.T) / 2`` (the
public functions symmetrise, so gradients are symmetric matrices); ``svd`` returns ``vh``; where
two eigenvalues (or singular values) are exactly equal the rotation within their eigenspace is
undefined, and what a derivative needs there depends on the function of the factors (0 for a
projector, ``f'(w)`` for a matrix function ``v f(w) v^H``): that term is NaN wherever the
eigenvector (singular vector) cotangent or tangent is non-zero inside the degenerate block, as
JAX's infinite gaps make it, and 0 where it is exactly zero, so functions of the eigenvalues
alone keep their exact gradient.
Failures (not positive definite, singular) give NaN/inf, as in JAX, not an exception.

Complex matrices (complex64/complex128) follow JAX: ``cholesky`` and ``eigh`` read the Hermitian
part ``(a + a^H) / 2``; eigenvalues, singular values and ``logabsdet`` are real. VJP rules give
JAX's cotangent, the transpose of the JVP under the real pairing ``Re(sum(u * v))``. For the
maps that are holomorphic (solve, triangular_solve, det, lu, eigvals) that is the real formula
with plain transposes; the others (cholesky, eigh, svd, qr, slogdet) are written as the adjoint
under ``Re(sum(conj(u) * v))`` (the real formula with conjugate transposes) and conjugated on
the way in and out: ``ct = conj(adjoint(conj(g)))``. For real dtypes every conj is a no-op.
"""

from __future__ import annotations

import functools

import numpy as np

import vfunc.primitives.builders as lax  # rules call it at run time, after the cycle resolves
from vfunc.core import Primitive, ShapedArray, wrap_numpy
from vfunc.errors import DtypeError, ShapeError
from vfunc.primitives._batching import batch_size, to_front
from vfunc.primitives.elementwise import conj_p, imag_p, real_p
from vfunc.primitives.linalg import dot_general_p
from vfunc.primitives.linalg_kernels import (
    BLOCKED_CHOLESKY_MIN,
    blocked_cholesky,
    lower_triangular_solve,
    lu_factor,
    run_lapack,
)

# ----------------------------------------------------------------------------------------------
# Shared checks and matrix builders (vfunc operations, so rules stay traceable)


def check_matrix(op: str, x: ShapedArray, what: str = "a", square: bool = True) -> None:
    """The user-facing errors of every decomposition: rank >= 2, square, and a LAPACK dtype
    (float32, float64, complex64, complex128)."""
    if x.ndim < 2:
        raise ShapeError(
            f"{op}: {what} must have at least 2 axes (a matrix or a stack of matrices), got "
            f"shape {x.shape}; reshape a vector to (n, 1) or (1, n)"
        )
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(
            f"{op}: {what} must be square in its last two axes, got shape {x.shape} "
            f"({x.shape[-2]} x {x.shape[-1]})"
        )
    if x.dtype not in LAPACK_DTYPES:
        raise DtypeError(
            f"{op}: {what} has dtype {x.dtype}; LAPACK routines take float32, float64, complex64 "
            "or complex128. Convert with .astype(float), or call vfunc.numpy.linalg, which "
            "promotes integers."
        )


LAPACK_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The real dtype of a complex one (float32 for complex64); a real dtype unchanged."""
    return np.finfo(dtype).dtype


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """The complex dtype with ``dtype``'s precision (complex64 for float32)."""
    return np.result_type(dtype, np.complex64)


def _eye(n: int, dtype: np.dtype) -> np.ndarray:
    return np.eye(n, dtype=dtype)


def _const(x: np.ndarray):
    return wrap_numpy(np.asarray(x))


def mT(x):  # noqa: N802 - the Array API's name
    """``x`` with its last two axes swapped."""
    perm = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
    return lax.transpose(x, perm)


def conj(x):
    """``conj(x)`` for complex ``x``; ``x`` itself for real (no operation traced)."""
    return conj_p.bind(x) if x.dtype.kind == "c" else x


def mH(x):  # noqa: N802
    """The conjugate transpose of the last two axes (the transpose for real ``x``)."""
    return conj(mT(x))


def cast(x, dtype: np.dtype):
    """``x`` converted to ``dtype`` (a real array to complex: imaginary part 0)."""
    return x if x.dtype == dtype else lax.convert_element_type(x, dtype)


def mm(a, b):
    """Batched matrix product over the leading axes (both operands have the same rank)."""
    batch = tuple(range(a.ndim - 2))
    return dot_general_p.bind(a, b, dimension_numbers=(((a.ndim - 1,), (b.ndim - 2,)),
                                                       (batch, batch)))  # fmt: skip


def _masked(x, mask: np.ndarray):
    return lax.mul(x, _const(mask.astype(x.dtype)))


def tril(x, k: int = 0):
    n, m = x.shape[-2:]
    return _masked(x, np.tri(n, m, k, dtype=bool))


def triu(x, k: int = 0):
    n, m = x.shape[-2:]
    return _masked(x, ~np.tri(n, m, k - 1, dtype=bool))


def sym(x):
    """The Hermitian (for real ``x``: symmetric) part ``(x + x^H) / 2``."""
    return lax.mul(lax.add(x, mH(x)), 0.5)


def diag_part(x):
    """The diagonal of each matrix of a square stack, ``[..., n]``."""
    return lax.reduce_sum(_masked(x, _eye(x.shape[-1], bool)), (x.ndim - 1,))


def diag_embed(v, n: int | None = None):
    """Square matrices with ``v [..., k]`` on the diagonal (``n x n`` with ``n >= k``)."""
    k = v.shape[-1]
    n = k if n is None else n
    eye = np.eye(k, n, dtype=v.dtype)
    full = lax.broadcast_in_dim(v, (*v.shape, n), tuple(range(v.ndim)))
    return lax.mul(full, _const(eye))


def _times_inverse_gaps(w, x, dtype, evidence=None):
    """``F * x`` with ``F[..., i, j] = 1 / (w_j - w_i)`` off the diagonal and 0 on it, NaN where
    two distinct indices have exactly equal ``w`` and ``evidence`` (default ``x``) is non-zero
    there (0 where it is zero).

    Inside a degenerate eigenspace (or singular subspace) the basis is arbitrary, and what the
    derivative needs there depends on the function of the factors (``f'(w)`` for a matrix
    function ``v f(w) v^H``, 0 for a projector): the cotangent or tangent alone cannot tell.
    Dropping the term gave a finite, silently wrong gradient for matrix functions, so the
    undefined term is NaN, as JAX's inf gaps make it. Where ``x`` is exactly 0 there (only the
    eigenvalues are used) the term is 0 and the gradient stays exact.
    """
    n = w.shape[-1]
    wi = lax.broadcast_in_dim(w, (*w.shape, n), (*range(w.ndim - 1), w.ndim - 1))
    wj = lax.broadcast_in_dim(w, (*w.shape, n), (*range(w.ndim - 1), w.ndim))
    gap = lax.sub(wj, wi)
    same = lax.eq(gap, 0.0)
    inverse = lax.select(same, lax.mul(gap, 0.0), lax.div(1.0, lax.select(same, lax.add(gap, 1.0),
                                                                             gap)))  # fmt: skip
    off_diagonal = lax.ne(lax.broadcasted_iota(np.int32, (n, n), 0),
                          lax.broadcasted_iota(np.int32, (n, n), 1))  # fmt: skip
    undefined = lax.bitwise_and(
        lax.bitwise_and(same, lax.broadcast_in_dim(off_diagonal, gap.shape,
                                                   (gap.ndim - 2, gap.ndim - 1))),
        lax.ne(x if evidence is None else evidence, 0.0),
    )  # fmt: skip
    term = lax.mul(cast(inverse, dtype), x)
    return lax.select(undefined, lax.add(term, np.nan), term)


def _decomposition(name: str, impl, shape, **rules) -> Primitive:
    """Declare a primitive on the last two axes that maps over any leading ones: its vmap rule
    moves the mapped axes to the front."""

    def batch(args, dims, **params):
        size = batch_size(args, dims)
        out = prim.bind(*[to_front(x, d, size) for x, d in zip(args, dims, strict=True)],
                        **params)  # fmt: skip
        return out, ([0] * len(out) if prim.multiple_results else 0)

    prim = Primitive(name, impl, shape, batch=batch, **rules)
    return prim


def _nan_on_failure(fn, *arrays: np.ndarray) -> np.ndarray:
    """``fn`` on a stack of matrices; a member LAPACK rejects (singular, not positive definite)
    becomes NaN, as in JAX, rather than failing the whole batch with an exception."""
    try:
        return fn(*arrays)
    except np.linalg.LinAlgError:
        pass
    batch = np.broadcast_shapes(*[a.shape[:-2] for a in arrays])
    flat = [np.broadcast_to(a, batch + a.shape[-2:]).reshape(-1, *a.shape[-2:]) for a in arrays]
    outs = []
    for members in zip(*flat, strict=True):
        try:
            outs.append(fn(*members))
        except np.linalg.LinAlgError:
            outs.append(None)
    like = next((o for o in outs if o is not None), None)
    if like is None:  # every member failed: the shape from a well-posed stand-in
        like = fn(*[np.eye(m.shape[-2], m.shape[-1], dtype=m.dtype) for m in flat])
    outs = [np.full_like(like, np.nan) if o is None else o for o in outs]
    return np.stack(outs).reshape(batch + like.shape) if outs else np.empty(
        batch + like.shape, like.dtype)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# cholesky: the lower factor L of (a + a.T) / 2 = L @ L.T


def _cholesky_shape(a: ShapedArray) -> ShapedArray:
    check_matrix("cholesky", a)
    return ShapedArray(a.shape, a.dtype)


def _hermitian_part(a: np.ndarray) -> np.ndarray:
    other = np.swapaxes(a, -1, -2)
    if a.dtype.kind == "c":
        other = other.conj()
    return (a + other) * a.dtype.type(0.5)


def _cholesky_impl(a):
    work = _hermitian_part(a)
    n = a.shape[-1]
    if n >= BLOCKED_CHOLESKY_MIN and work.size and a.dtype.kind == "f":
        return blocked_cholesky(work.reshape(-1, n, n)).reshape(a.shape)
    return _nan_on_failure(np.linalg.cholesky, work).astype(a.dtype, copy=False)


def _cholesky_vjp(g, a, *, out):
    # With dL = L phi(L^-1 dA L^-H) (phi: the lower triangle, half the diagonal), the adjoint
    # is L^-H phi(L^H g) L^-1, made Hermitian because the impl reads (a + a^H) / 2.
    del a
    low = out
    lt_g = mm(mH(low), conj(g))
    p = lax.sub(tril(lt_g), lax.mul(diag_embed(diag_part(lt_g)), 0.5))
    left = triangular_solve_p.bind(conj(low), p, left_side=True, lower=True, transpose_a=True,
                                   unit_diagonal=False)  # fmt: skip
    both = triangular_solve_p.bind(low, left, left_side=False, lower=True, transpose_a=False,
                                   unit_diagonal=False)  # fmt: skip
    return (conj(sym(both)),)


def _cholesky_jvp(primals, tangents, *, out):
    # dL = L phi(L^-1 sym(dA) L^-H): two triangular solves, where the transposed VJP needs more
    del primals
    low = out
    kw = dict(lower=True, unit_diagonal=False)
    left = triangular_solve_p.bind(low, sym(tangents[0]), left_side=True, transpose_a=False, **kw)
    inner = triangular_solve_p.bind(conj(low), left, left_side=False, transpose_a=True, **kw)
    phi = lax.sub(tril(inner), lax.mul(diag_embed(diag_part(inner)), 0.5))
    return mm(low, phi)


cholesky_p = _decomposition("cholesky", _cholesky_impl, _cholesky_shape, vjp=_cholesky_vjp,
                            jvp=_cholesky_jvp)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# triangular_solve: x with op(a) @ x == b (left_side) or x @ op(a) == b, op(a) = a or a.T,
# reading only the lower (or upper) triangle of a, as lax.linalg.triangular_solve.


def _triangular_solve_shape(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    del lower, transpose_a, unit_diagonal
    check_matrix("triangular_solve", a)
    check_matrix("triangular_solve", b, "b", square=False)
    if a.dtype != b.dtype:
        raise DtypeError(f"triangular_solve: a ({a.dtype}) and b ({b.dtype}) need one dtype")
    n = a.shape[-1]
    axis = -2 if left_side else -1
    if b.shape[axis] != n or a.shape[:-2] != b.shape[:-2]:
        side = "rows" if left_side else "columns"
        raise ShapeError(
            f"triangular_solve: a {a.shape} and b {b.shape} don't fit: with left_side="
            f"{left_side} b needs {n} {side} and the same leading (batch) axes as a"
        )
    return ShapedArray(b.shape, b.dtype)


def _triangular_solve_impl(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    # Reduce every variant to a lower-triangular solve from the left: a right-side solve is a
    # left-side one of the transposes, an upper solve is a lower one with axes reversed.
    if not left_side:
        b = np.swapaxes(b, -1, -2)
        transpose_a = not transpose_a
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
        lower = not lower
    if not lower:
        a, b = a[..., ::-1, ::-1], b[..., ::-1, :]
    batch = a.shape[:-2]
    n, k = b.shape[-2:]
    x = lower_triangular_solve(a.reshape(-1, n, n), b.reshape(-1, n, k), unit_diagonal)
    x = x.reshape(*batch, n, k)
    if not lower:
        x = x[..., ::-1, :]
    return np.swapaxes(x, -1, -2) if not left_side else x


def _triangular_solve_vjp(g, a, b, *, out, left_side, lower, transpose_a, unit_diagonal,
                          wants=(True, True)):  # fmt: skip
    x = out
    ct_b = triangular_solve_p.bind(a, g, left_side=left_side, lower=lower,
                                   transpose_a=not transpose_a, unit_diagonal=unit_diagonal)
    ct_a = None
    if wants[0]:
        # d op(a) enters as -op(a)^-1 d(op a) x (left) or -x d(op a) op(a)^-1 (right).
        if left_side:
            ct_a = mm(x, mT(ct_b)) if transpose_a else mm(ct_b, mT(x))
        else:
            ct_a = mm(mT(ct_b), x) if transpose_a else mm(mT(x), ct_b)
        keep = tril(ct_a, -int(unit_diagonal)) if lower else triu(ct_a, int(unit_diagonal))
        ct_a = lax.neg(keep)
    return ct_a, (ct_b if wants[1] else None)


triangular_solve_p = _decomposition(
    "triangular_solve", _triangular_solve_impl, _triangular_solve_shape,
    vjp=_triangular_solve_vjp, vjp_wants=True,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# solve: x with a @ x == b for square a [..., n, n] and b [..., n, k] (same leading axes)


def _solve_shape(a: ShapedArray, b: ShapedArray) -> ShapedArray:
    check_matrix("solve", a)
    check_matrix("solve", b, "b", square=False)
    if a.dtype != b.dtype:
        raise DtypeError(f"solve: a ({a.dtype}) and b ({b.dtype}) need one dtype")
    if b.shape[-2] != a.shape[-1] or a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(
            f"solve: a {a.shape} and b {b.shape} don't fit: b needs {a.shape[-1]} rows and the "
            "same leading (batch) axes as a"
        )
    return ShapedArray(b.shape, b.dtype)


def _solve_impl(a, b):
    return _nan_on_failure(np.linalg.solve, a, b).astype(a.dtype, copy=False)


def _solve_vjp(g, a, b, *, out, wants=(True, True)):
    ct_b = solve_p.bind(mT(a), g)
    ct_a = lax.neg(mm(ct_b, mT(out))) if wants[0] else None
    return ct_a, (ct_b if wants[1] else None)


def _solve_jvp(primals, tangents, *, out):
    # dx = a^-1 (db - da x): one solve
    a, _ = primals
    da, db = tangents
    rhs = db
    if da is not None:
        change = lax.neg(mm(da, out))
        rhs = change if rhs is None else lax.add(rhs, change)
    return solve_p.bind(a, rhs)


solve_p = _decomposition("solve", _solve_impl, _solve_shape, vjp=_solve_vjp, jvp=_solve_jvp,
                         vjp_wants=True)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# slogdet: (sign, log|det a|), and det


def _slogdet_shape(a: ShapedArray) -> list[ShapedArray]:
    check_matrix("slogdet", a)
    return [ShapedArray(a.shape[:-2], a.dtype), ShapedArray(a.shape[:-2], real_dtype(a.dtype))]


def _slogdet_impl(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return [np.asarray(sign, a.dtype), np.asarray(logabsdet, real_dtype(a.dtype))]


def _slogdet_vjp(g, a, *, out):
    # With t = tr(a^-1 da): d log|det a| = Re(t); the sign is piecewise constant for real a and
    # turns by i Im(t) for complex a (sign = det / |det|). Transposed: t's cotangent is
    # g_log + i Im(g_sign sign), and t's own transpose is that times a^-T.
    inv_t = solve_p.bind(mT(a), _eye_stack(a))
    g_t = g[1]
    if a.dtype.kind == "c":
        g_t = lax.complex(g_t, imag_p.bind(lax.mul(g[0], out[0])))
    scale = lax.broadcast_in_dim(g_t, a.shape, tuple(range(a.ndim - 2)))
    return (lax.mul(scale, inv_t),)


slogdet_p = _decomposition("slogdet", _slogdet_impl, _slogdet_shape, vjp=_slogdet_vjp,
                           multiple_results=True)  # fmt: skip


def _det_shape(a: ShapedArray) -> ShapedArray:
    check_matrix("det", a)
    return ShapedArray(a.shape[:-2], a.dtype)


def _det_vjp(g, a, *, out):
    # d det a = det(a) tr(a^-1 da)
    scale = lax.broadcast_in_dim(lax.mul(g, out), a.shape, tuple(range(a.ndim - 2)))
    return (lax.mul(scale, solve_p.bind(mT(a), _eye_stack(a))),)


def _eye_stack(a):
    n = a.shape[-1]
    return lax.broadcast_in_dim(_const(_eye(n, a.dtype)), a.shape, (a.ndim - 2, a.ndim - 1))


det_p = _decomposition("det", lambda a: np.asarray(np.linalg.det(a), a.dtype), _det_shape,
                       vjp=_det_vjp)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# eigh: eigenvalues w (ascending) and eigenvectors v (columns) of (a + a.T) / 2


def _eigh_shape(a: ShapedArray) -> list[ShapedArray]:
    check_matrix("eigh", a)
    return [ShapedArray(a.shape[:-1], real_dtype(a.dtype)), ShapedArray(a.shape, a.dtype)]


def _eigh_impl(a):
    w, v = run_lapack(np.linalg.eigh, _hermitian_part(a))
    return [w.astype(real_dtype(a.dtype), copy=False), v.astype(a.dtype, copy=False)]


def _eigh_vjp(g, a, *, out):
    # a = v diag(w) v^H: adjoint v (diag(gw) + F * (v^H gv)) v^H, F_ij = 1 / (w_j - w_i), made
    # Hermitian (which keeps only the skew-Hermitian part of v^H gv: the tangent space).
    gw, gv = g
    w, v = out
    inner = lax.add(cast(diag_embed(gw), a.dtype), _times_inverse_gaps(w, mm(mH(v), conj(gv)),
                                                                       a.dtype))  # fmt: skip
    return (conj(sym(mm(v, mm(inner, mH(v))))),)


def _eigh_jvp(primals, tangents, *, out):
    # v^H sym(dA) v = C: dw = Re diag(C), dv = v (F * C)
    (a,) = primals
    w, v = out
    c = mm(mH(v), mm(sym(tangents[0]), v))
    dw = diag_part(c)
    if a.dtype.kind == "c":
        dw = real_p.bind(dw)
    return [dw, mm(v, _times_inverse_gaps(w, c, a.dtype))]


eigh_p = _decomposition("eigh", _eigh_impl, _eigh_shape, vjp=_eigh_vjp, jvp=_eigh_jvp,
                        multiple_results=True)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# svd: a = u diag(s) vh; outputs [u, s, vh], or [s] without compute_uv


def _svd_shape(a: ShapedArray, *, full_matrices: bool, compute_uv: bool) -> list[ShapedArray]:
    check_matrix("svd", a, square=False)
    m, n = a.shape[-2:]
    k = min(m, n)
    s = ShapedArray((*a.shape[:-2], k), real_dtype(a.dtype))
    if not compute_uv:
        return [s]
    cu, rv = (m, n) if full_matrices else (k, k)
    return [ShapedArray((*a.shape[:-2], m, cu), a.dtype), s,
            ShapedArray((*a.shape[:-2], rv, n), a.dtype)]  # fmt: skip


def _svd_impl(a, *, full_matrices, compute_uv):
    real = real_dtype(a.dtype)
    if not compute_uv:
        return [run_lapack(_singular_values, a).astype(real, copy=False)]
    u, s, vh = run_lapack(functools.partial(np.linalg.svd, full_matrices=full_matrices), a)
    return [u.astype(a.dtype, copy=False), s.astype(real, copy=False),
            vh.astype(a.dtype, copy=False)]  # fmt: skip


def _singular_values(a: np.ndarray) -> np.ndarray:
    return np.linalg.svd(a, compute_uv=False)


def _svd_vjp(g, a, *, out, full_matrices, compute_uv):
    m, n = a.shape[-2:]
    if not compute_uv:  # adjoint u diag(gs) vh, conjugated
        u, s, vh = svd_p.bind(a, full_matrices=False, compute_uv=True)
        return (conj(mm(lax.mul(u, cast(_row(g[0]), a.dtype)), vh)),)
    if full_matrices and m != n:
        raise NotImplementedError(
            "svd: the derivative with full_matrices=True of a non-square matrix "
            f"(shape {a.shape}) is not defined uniquely (as in JAX); use full_matrices=False"
        )
    gu, gs, gvh = g
    u, s, vh = out
    # The adjoint of conj(g) (see the module's docstring), conjugated at the end.
    gu, gv = conj(gu), mT(gvh)
    v = mH(vh)
    dtype = a.dtype
    # Townsend (2016): the skew-Hermitian gap terms, then the parts of gu / gv outside the
    # spans; for complex a also the phase of each singular pair, i Im(diag(u^H gu)) / s.
    s2 = lax.mul(s, s)
    s_c, inv_s = cast(s, dtype), cast(lax.div(1.0, s), dtype)
    ut_gu, vt_gv = mm(mH(u), gu), mm(mH(v), gv)
    # The skew parts can vanish where the derivative still needs the degenerate block (pinv of
    # the identity): whether the block is used at all is read from the whole of u^H gu, v^H gv.
    j = _times_inverse_gaps(s2, lax.sub(ut_gu, mH(ut_gu)), dtype, evidence=ut_gu)
    k = _times_inverse_gaps(s2, lax.sub(vt_gv, mH(vt_gv)), dtype, evidence=vt_gv)
    core = lax.add(lax.add(lax.mul(j, _row(s_c)), cast(diag_embed(gs), dtype)),
                   lax.mul(_col(s_c), k))  # fmt: skip
    if dtype.kind == "c":
        phase = lax.complex(lax.mul(s, 0.0), imag_p.bind(diag_part(ut_gu)))
        core = lax.add(core, diag_embed(lax.mul(phase, inv_s)))
    ct = mm(mm(u, core), vh)
    if m > n:  # (I - u u^H) gu diag(1/s) v^H
        outside = lax.sub(gu, mm(u, ut_gu))
        ct = lax.add(ct, mm(lax.mul(outside, _row(inv_s)), vh))
    if n > m:  # u diag(1/s) gv^H (I - v v^H)
        outside = lax.sub(gv, mm(v, vt_gv))
        ct = lax.add(ct, mm(lax.mul(u, _row(inv_s)), mH(outside)))
    return (conj(ct),)


def _row(v):
    """``v [..., k]`` as ``[..., 1, k]``: scales columns when multiplied."""
    return lax.expand_dims(v, (v.ndim - 1,))


def _col(v):
    return lax.expand_dims(v, (v.ndim,))


svd_p = _decomposition("svd", _svd_impl, _svd_shape, vjp=_svd_vjp, multiple_results=True)


# ----------------------------------------------------------------------------------------------
# qr: a = q r; reduced (q [..., m, k], r [..., k, n]) or full_matrices (q [..., m, m])


def _qr_shape(a: ShapedArray, *, full_matrices: bool) -> list[ShapedArray]:
    check_matrix("qr", a, square=False)
    m, n = a.shape[-2:]
    k = m if full_matrices else min(m, n)
    return [ShapedArray((*a.shape[:-2], m, k), a.dtype), ShapedArray((*a.shape[:-2], k, n),
                                                                     a.dtype)]  # fmt: skip


def _qr_impl(a, *, full_matrices):
    q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return [q.astype(a.dtype, copy=False), r.astype(a.dtype, copy=False)]


def _qr_vjp(g, a, *, out, full_matrices):
    m, n = a.shape[-2:]
    if m < n or (full_matrices and m != n):
        raise NotImplementedError(
            f"qr: the derivative is implemented for m >= n with reduced factors (as in JAX); "
            f"got shape {a.shape} with full_matrices={full_matrices}"
        )
    gq, gr = conj(g[0]), conj(g[1])
    q, r = out
    # With b = gr r^H - q^H gq, the adjoint is (gq + q copy_upper(b)) r^-H, where copy_upper
    # mirrors b's strict upper triangle onto its lower one (conjugated) and keeps the real part
    # of its diagonal (r's diagonal is real); conjugated, as the module's docstring says.
    b = lax.sub(mm(gr, mH(r)), mm(mH(q), gq))
    upper = triu(b, 1)
    diagonal = diag_part(b)
    if b.dtype.kind == "c":
        diagonal = cast(real_p.bind(diagonal), b.dtype)
    mirrored = lax.add(lax.add(upper, mH(upper)), diag_embed(diagonal))
    rhs = lax.add(gq, mm(q, mirrored))
    return (conj(triangular_solve_p.bind(conj(r), rhs, left_side=False, lower=False,
                                         transpose_a=True, unit_diagonal=False)),)  # fmt: skip


qr_p = _decomposition("qr", _qr_impl, _qr_shape, vjp=_qr_vjp, multiple_results=True)


# ----------------------------------------------------------------------------------------------
# lu: (lu, pivots, permutation) of square a with a[permutation] = L U, as lax.linalg.lu


def _lu_shape(a: ShapedArray) -> list[ShapedArray]:
    check_matrix("lu", a)
    index = ShapedArray(a.shape[:-1], np.dtype(np.int32))
    return [ShapedArray(a.shape, a.dtype), index, index]


def _lu_impl(a):
    n = a.shape[-1]
    lu, pivots, perm = lu_factor(a.reshape(-1, n, n))
    batch = a.shape[:-2]
    return [lu.reshape(a.shape), pivots.reshape(*batch, n), perm.reshape(*batch, n)]


def _lu_vjp(g, a, *, out):
    # With X = L^-1 P^T dA U^-1: dL = L tril(X, -1), dU = triu(X) U, so the cotangent is
    # P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T.
    del a
    g_lu = g[0]
    lu, _, perm = out
    n = lu.shape[-1]
    low = lax.add(tril(lu, -1), _eye_stack(lu))
    up = triu(lu)
    m = lax.add(tril(mm(mT(low), tril(g_lu, -1)), -1), triu(mm(triu(g_lu), mT(up))))
    z = triangular_solve_p.bind(lu, m, left_side=True, lower=True, transpose_a=True,
                                unit_diagonal=True)  # fmt: skip
    y = triangular_solve_p.bind(lu, z, left_side=False, lower=False, transpose_a=True,
                                unit_diagonal=False)  # fmt: skip
    rows = lax.broadcasted_iota(np.dtype(np.int32), (*perm.shape, n), perm.ndim - 1)
    cols = lax.broadcast_in_dim(perm, (*perm.shape, n), (*range(perm.ndim - 1), perm.ndim))
    p_matrix = lax.convert_element_type(lax.eq(rows, cols), lu.dtype)  # P[perm[j], j] = 1
    return (mm(p_matrix, y),)


lu_p = _decomposition("lu", _lu_impl, _lu_shape, vjp=_lu_vjp, multiple_results=True)


def _pivots_shape(pivots: ShapedArray, *, size: int) -> ShapedArray:
    if pivots.dtype.kind not in "iu" or pivots.ndim < 1 or pivots.shape[-1] > size:
        raise ShapeError(
            f"lu_pivots_to_permutation: pivots must be integers [..., k] with k <= {size}, got "
            f"{pivots.dtype}{list(pivots.shape)}"
        )
    return ShapedArray((*pivots.shape[:-1], size), np.dtype(np.int32))


def _pivots_impl(pivots, *, size):
    perm = np.broadcast_to(np.arange(size, dtype=np.int32), (*pivots.shape[:-1], size)).copy()
    flat, piv = perm.reshape(-1, size), pivots.reshape(-1, pivots.shape[-1])
    rows = np.arange(flat.shape[0])
    for i in range(piv.shape[-1]):  # LAPACK's sequence of row swaps, applied in order
        j = piv[:, i]
        flat[rows, i], flat[rows, j] = flat[rows, j], flat[rows, i].copy()
    return flat.reshape(perm.shape)


lu_pivots_to_permutation_p = _decomposition(
    "lu_pivots_to_permutation", _pivots_impl, _pivots_shape, differentiable=False,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# eig / eigvals: eigenvalues w and right eigenvectors v (columns, unit norm) of a general square
# matrix, complex whatever the input's dtype (as in JAX). Only eigenvalues are differentiable,
# as in JAX: eigenvectors of a non-normal matrix have no canonical phase or normalisation.


def _eig_shape(a: ShapedArray) -> list[ShapedArray]:
    check_matrix("eig", a)
    dtype = complex_dtype(a.dtype)
    return [ShapedArray(a.shape[:-1], dtype), ShapedArray(a.shape, dtype)]


def _eig_impl(a):
    w, v = run_lapack(np.linalg.eig, a)  # real for a real matrix whose eigenvalues are all real
    dtype = complex_dtype(a.dtype)
    return [w.astype(dtype, copy=False), v.astype(dtype, copy=False)]


def _eig_vjp(g, a, *, out):
    raise NotImplementedError(
        "eig: derivatives of eigenvectors are not implemented (as in JAX); for eigenvalues "
        "alone differentiate vfunc.numpy.linalg.eigvals, for symmetric/Hermitian matrices eigh"
    )


eig_p = _decomposition("eig", _eig_impl, _eig_shape, vjp=_eig_vjp, multiple_results=True)


def _eigvals_shape(a: ShapedArray) -> ShapedArray:
    check_matrix("eigvals", a)
    return ShapedArray(a.shape[:-1], complex_dtype(a.dtype))


def _eigvals_impl(a):
    return run_lapack(np.linalg.eigvals, a).astype(complex_dtype(a.dtype), copy=False)


def _eigvals_vjp(g, a, *, out):
    # dw = diag(v^-1 da v) (holomorphic in a), so the cotangent is v^-T diag(g) v^T, and its
    # real part for a real matrix (the transpose of the real-to-complex embedding).
    del out
    _, v = eig_p.bind(a)
    ct = solve_p.bind(mT(v), lax.mul(_col(g), mT(v)))
    return (real_p.bind(ct) if a.dtype.kind == "f" else ct,)


def _eigvals_jvp(primals, tangents, *, out):
    del out
    (a,), (da,) = primals, tangents
    _, v = eig_p.bind(a)
    moved = solve_p.bind(v, mm(cast(da, v.dtype), v))
    return diag_part(moved)


eigvals_p = _decomposition("eigvals", _eigvals_impl, _eigvals_shape, vjp=_eigvals_vjp,
                           jvp=_eigvals_jvp)  # fmt: skip
