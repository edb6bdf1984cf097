"""The rest of jax.numpy's names on vfunc (mathematical, index_helpers, arrayfuncs and the
2-D/N-D histograms): forward against NumPy in float64, gradients against finite differences,
jit/vmap, and the errors for misuse."""

import io

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ConcretizationTypeError, ShapeError
from vfunc.testing import check_grads


def pairs(got, want):
    """Each result beside NumPy's, insisting both have as many."""
    return zip(got, want, strict=True)


def test_elementwise_and_windows_match_numpy(x64):
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal(size=20) * 5, [0.0, -0.0, 2.5, -2.5, 3.5, 0.5, -0.5, 1e-300, 7.0]]
    )
    y = np.concatenate([rng.normal(size=20) * 3, [1.0, -1.0, 2.0, -2.0, 0.0, -0.0, 3.0, 1.0, -1.5]])
    for name in ["cbrt", "signbit", "rint", "trunc", "spacing", "i0"]:
        np.testing.assert_allclose(
            getattr(vnp, name)(x), getattr(np, name)(x), err_msg=name, rtol=1e-13
        )
    for name in ["copysign", "fmod", "float_power", "heaviside", "nextafter"]:
        yy = np.abs(y) + 0.5 if name == "float_power" else y
        xx = np.abs(x) if name == "float_power" else x
        with np.errstate(all="ignore"):
            ref = getattr(np, name)(xx, yy)
        np.testing.assert_allclose(getattr(vnp, name)(xx, yy), ref, err_msg=name, rtol=1e-13)
    for a, b in pairs(vnp.modf(x), np.modf(x)):
        np.testing.assert_allclose(a, b)
    for a, b in pairs(vnp.frexp(x), np.frexp(x)):
        np.testing.assert_allclose(a, b)
    for a, b in pairs(
        vnp.frexp(np.array([np.inf, np.nan, 2.0**-1030])),
        np.frexp(np.array([np.inf, np.nan, 2.0**-1030])),
    ):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(vnp.ldexp(x, np.arange(29) - 14), np.ldexp(x, np.arange(29) - 14))
    for a, b in pairs(vnp.divmod(x, y[::-1] + 0.1), np.divmod(x, y[::-1] + 0.1)):
        np.testing.assert_allclose(a, b)
    ia, ib = rng.integers(-50, 50, 30), rng.integers(-50, 50, 30)
    np.testing.assert_array_equal(vnp.gcd(ia, ib), np.gcd(ia, ib))
    np.testing.assert_array_equal(vnp.lcm(ia, ib), np.lcm(ia, ib))
    np.testing.assert_array_equal(
        vnp.fmod(ia, np.where(ib == 0, 1, ib)), np.fmod(ia, np.where(ib == 0, 1, ib))
    )
    np.testing.assert_array_equal(vnp.bitwise_count(ia), np.bitwise_count(ia))
    print(vnp.bitwise_count(ia).dtype)
    np.testing.assert_array_equal(
        vnp.bitwise_count(ia.astype(np.uint8)), np.bitwise_count(ia.astype(np.uint8))
    )
    ph = np.cumsum(rng.normal(size=(3, 30)), axis=1)
    for kw in [{}, {"discont": 4.0}, {"period": 5.0}, {"axis": 0}]:
        wrapped = np.angle(np.exp(1j * ph)) if "period" not in kw else np.mod(ph, 5.0)
        np.testing.assert_allclose(
            vnp.unwrap(wrapped, **kw), np.unwrap(wrapped, **kw), err_msg=str(kw)
        )
    z = rng.integers(0, 3, 10) + 1j * rng.integers(0, 3, 10)
    np.testing.assert_array_equal(vnp.sort_complex(z), np.sort_complex(z))
    np.testing.assert_array_equal(
        vnp.sort_complex(np.array([3, 1, 2])), np.sort_complex(np.array([3, 1, 2]))
    )
    for M in [0, 1, 2, 7, 12]:
        for w in ["bartlett", "blackman", "hamming", "hanning"]:
            np.testing.assert_allclose(getattr(vnp, w)(M), getattr(np, w)(M), atol=1e-14, err_msg=w)
        np.testing.assert_allclose(vnp.kaiser(M, 3.5), np.kaiser(M, 3.5), rtol=1e-12)
    np.testing.assert_array_equal(
        vfunc.jit(vnp.gcd)(vnp.array([12, 9]), vnp.array([18, 6])), [6, 3]
    )
    np.testing.assert_array_equal(
        vfunc.vmap(vnp.lcm)(vnp.array([4, 0]), vnp.array([6, 3])), [12, 0]
    )
    check_grads(vnp.cbrt, [np.array([0.5, 2.0, -3.0])])
    check_grads(lambda a, b: vnp.copysign(a, b), [np.array([0.5, -2.0]), np.array([-1.0, 2.0])])
    check_grads(lambda a: vnp.unwrap(a), [wrapped[0]])
    check_grads(lambda b: vnp.kaiser(6, b), [np.array(2.0)], modes=("rev",))


def test_index_helpers_match_numpy(x64):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (3, 4)) * (rng.uniform(size=(3, 4)) > 0.4)
    np.testing.assert_array_equal(vnp.argwhere(a), np.argwhere(a))
    np.testing.assert_array_equal(vnp.flatnonzero(a), np.flatnonzero(a))
    padded = vnp.argwhere(a, size=9, fill_value=-1)
    count = len(np.argwhere(a))
    np.testing.assert_array_equal(padded[:count], np.argwhere(a))
    assert (np.asarray(padded[count:]) == -1).all()
    np.testing.assert_array_equal(
        vfunc.jit(lambda t: vnp.argwhere(t, size=3))(a), np.argwhere(a)[:3]
    )
    assert vnp.argwhere(3).shape == np.argwhere(3).shape
    by_row = vfunc.vmap(lambda t: vnp.flatnonzero(t, size=2))(a)
    np.testing.assert_array_equal(by_row, [np.pad(np.flatnonzero(r), (0, 4))[:2] for r in a])
    idx = rng.integers(0, 24, 10)
    for u, v in pairs(vnp.unravel_index(idx, (2, 3, 4)), np.unravel_index(idx, (2, 3, 4))):
        np.testing.assert_array_equal(u, v)
    clamped = vnp.unravel_index(vnp.array([5, 30, -1]), (2, 3))  # as JAX: clamp, wrap -1
    np.testing.assert_array_equal(np.stack(clamped), [[1, 1, 1], [2, 2, 2]])
    mi = np.unravel_index(idx, (2, 3, 4))
    np.testing.assert_array_equal(
        vnp.ravel_multi_index(mi, (2, 3, 4)), np.ravel_multi_index(mi, (2, 3, 4))
    )
    np.testing.assert_array_equal(
        vnp.ravel_multi_index(mi, (2, 3, 4), order="F"),
        np.ravel_multi_index(mi, (2, 3, 4), order="F"),
    )
    np.testing.assert_array_equal(
        vnp.ravel_multi_index((np.array([5, -1]), np.array([1, 7])), (2, 3), mode="clip"),
        np.ravel_multi_index((np.array([5, -1]), np.array([1, 7])), (2, 3), mode="clip"),
    )
    np.testing.assert_array_equal(
        vnp.ravel_multi_index((np.array([5, -1]), np.array([1, 7])), (2, 3), mode="wrap"),
        np.ravel_multi_index((np.array([5, -1]), np.array([1, 7])), (2, 3), mode="wrap"),
    )
    np.testing.assert_array_equal(vnp.indices((2, 3)), np.indices((2, 3)))
    for u, v in pairs(vnp.indices((2, 3), sparse=True), np.indices((2, 3), sparse=True)):
        np.testing.assert_array_equal(u, v)
    for u, v in pairs(vnp.ix_([0, 1], [2, 0, 1]), np.ix_([0, 1], [2, 0, 1])):
        np.testing.assert_array_equal(u, v)
    for f in ["diag_indices", "tril_indices", "triu_indices"]:
        for u, v in pairs(getattr(vnp, f)(4), getattr(np, f)(4)):
            np.testing.assert_array_equal(u, v)
    for u, v in pairs(vnp.tril_indices(3, 1, 5), np.tril_indices(3, 1, 5)):
        np.testing.assert_array_equal(u, v)
    for u, v in pairs(
        vnp.triu_indices_from(np.ones((3, 5)), -1), np.triu_indices_from(np.ones((3, 5)), -1)
    ):
        np.testing.assert_array_equal(u, v)
    for u, v in pairs(
        vnp.tril_indices_from(np.ones((3, 5))), np.tril_indices_from(np.ones((3, 5)))
    ):
        np.testing.assert_array_equal(u, v)
    for u, v in pairs(
        vnp.diag_indices_from(np.ones((3, 3, 3))), np.diag_indices_from(np.ones((3, 3, 3)))
    ):
        np.testing.assert_array_equal(u, v)
    for u, v in pairs(vnp.mask_indices(3, vnp.triu, 1), np.mask_indices(3, np.triu, 1)):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(
        vnp.fromfunction(lambda i, j: i + 10 * j, (2, 3)),
        np.fromfunction(lambda i, j: i + 10 * j, (2, 3)),
    )
    np.testing.assert_allclose(vnp.mgrid[0:3, 0:1:4j], np.mgrid[0:3, 0:1:4j])
    np.testing.assert_allclose(vnp.mgrid[0:5:2], np.mgrid[0:5:2])
    for u, v in pairs(vnp.ogrid[0:3, 0:4], np.ogrid[0:3, 0:4]):
        np.testing.assert_array_equal(u, v)
    assert vnp.s_[1:2] == slice(1, 2) and vnp.index_exp[1] == (1,)


def test_array_functions_match_numpy(x64):
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(vnp.identity(3), np.identity(3))
    np.testing.assert_array_equal(vnp.tri(3, 4, 1), np.tri(3, 4, 1))
    np.testing.assert_allclose(vnp.logspace(0, 2, 5), np.logspace(0, 2, 5))
    np.testing.assert_allclose(
        vnp.logspace(0, 3, 4, base=2.0, endpoint=False),
        np.logspace(0, 3, 4, base=2.0, endpoint=False),
    )
    np.testing.assert_allclose(vnp.geomspace(1, 1000, 4), np.geomspace(1, 1000, 4))
    np.testing.assert_allclose(
        vnp.geomspace(-2, -32, 5, endpoint=False), np.geomspace(-2, -32, 5, endpoint=False)
    )
    a = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(vnp.copy(a), a)
    np.testing.assert_array_equal(
        vnp.diagflat([[1, 2], [3, 4]], 1), np.diagflat([[1, 2], [3, 4]], 1)
    )
    assert bool(vnp.array_equal(a, a)) and not bool(vnp.array_equal(a, a[:2]))
    assert bool(vnp.array_equal([np.nan], [np.nan], equal_nan=True))
    assert not bool(vnp.array_equal([np.nan], [np.nan]))
    assert bool(vnp.array_equiv([1, 2], [[1, 2], [1, 2]])) and not bool(
        vnp.array_equiv([1, 2], [1, 2, 3])
    )
    A, B, C, D = np.ones((2, 2)), np.zeros((2, 3)), 2 * np.ones((1, 2)), 3 * np.ones((1, 3))
    np.testing.assert_array_equal(vnp.block([[A, B], [C, D]]), np.block([[A, B], [C, D]]))
    np.testing.assert_array_equal(vnp.block([1, np.array([2, 3])]), np.block([1, np.array([2, 3])]))
    ch = [np.arange(4), 10 + np.arange(4), 20 + np.arange(4)]
    np.testing.assert_array_equal(vnp.choose([0, 2, 1, 0], ch), np.choose([0, 2, 1, 0], ch))
    np.testing.assert_array_equal(
        vnp.choose([0, 5, -1, 0], ch, mode="clip"), np.choose([0, 5, -1, 0], ch, mode="clip")
    )
    np.testing.assert_array_equal(
        vnp.choose([0, 5, -1, 0], ch, mode="wrap"), np.choose([0, 5, -1, 0], ch, mode="wrap")
    )
    cond = np.array([True, False, True])
    np.testing.assert_array_equal(vnp.compress(cond, a, axis=0), np.compress(cond, a, axis=0))
    np.testing.assert_array_equal(vnp.compress([0, 1], a, axis=1), np.compress([0, 1], a, axis=1))
    np.testing.assert_array_equal(vnp.compress(cond, a), np.compress(cond, a))
    padded = vnp.compress(cond, a, axis=0, size=3, fill_value=-1)
    np.testing.assert_array_equal(padded[:2], a[cond])
    assert (np.asarray(padded[2]) == -1).all()
    jitted = vfunc.jit(lambda c: vnp.compress(c, a, axis=0, size=3))(cond)
    np.testing.assert_array_equal(jitted, np.concatenate([a[cond], np.zeros((1, 4))]))
    np.testing.assert_array_equal(vnp.extract(a > 0, a), np.extract(a > 0, a))
    for obj in [1, [0, 2], slice(0, 3, 2), -1]:
        np.testing.assert_array_equal(vnp.delete(a, obj, axis=1), np.delete(a, obj, axis=1))
        np.testing.assert_array_equal(vnp.delete(a, obj), np.delete(a, obj))
    for obj, vals, ax in [
        (1, 7.0, None),
        (1, [7.0, 8.0], None),
        ([0, 2], [7.0, 8.0], None),
        (1, [7.0, 8.0, 9.0, 1.0], 0),
        (2, [7.0, 8.0, 9.0], 1),
        ([1, 1], 5.0, 1),
        (-1, 4.0, 0),
        (4, 1.0, 1),
    ]:
        np.testing.assert_array_equal(
            vnp.insert(a, obj, vals, axis=ax),
            np.insert(a, obj, vals, axis=ax),
            err_msg=str((obj, vals, ax)),
        )
    np.testing.assert_array_equal(vnp.resize(np.arange(3), (2, 4)), np.resize(np.arange(3), (2, 4)))
    np.testing.assert_array_equal(vnp.resize(np.arange(5), 3), np.resize(np.arange(5), 3))
    np.testing.assert_array_equal(
        vnp.trim_zeros(np.array([0, 1, 0, 2, 0])), np.trim_zeros(np.array([0, 1, 0, 2, 0]))
    )
    np.testing.assert_array_equal(
        vnp.trim_zeros(np.array([0, 1, 0, 2, 0]), "f"),
        np.trim_zeros(np.array([0, 1, 0, 2, 0]), "f"),
    )
    for u, v in pairs(vnp.unstack(a, axis=1), np.unstack(a, axis=1)):
        np.testing.assert_array_equal(u, v)
    k1, k2 = rng.integers(0, 3, 10), rng.integers(0, 3, 10)
    np.testing.assert_array_equal(vnp.lexsort([k1, k2]), np.lexsort([k1, k2]))
    np.testing.assert_array_equal(
        vnp.lexsort((a, a[::-1]), axis=0), np.lexsort((a, a[::-1]), axis=0)
    )
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(
        vnp.piecewise(x, [x < 0, x >= 1], [lambda t: -t, lambda t: t * 2, 0.5]),
        np.piecewise(x, [x < 0, x >= 1], [lambda t: -t, lambda t: t * 2, 0.5]),
    )
    np.testing.assert_allclose(
        vnp.piecewise(x, [x < 0], [lambda t: -t]), np.piecewise(x, [x < 0], [lambda t: -t])
    )
    b = np.arange(10.0)
    ref = b.copy()
    np.put(ref, [1, -2, 13], [7, 8], mode="wrap")
    np.testing.assert_array_equal(vnp.put(b, [1, -2, 13], [7, 8], mode="wrap", inplace=False), ref)
    ref = b.copy()
    np.put(ref, [1, 13], [7, 8], mode="clip")
    np.testing.assert_array_equal(vnp.put(b, [1, 13], [7, 8], mode="clip", inplace=False), ref)
    ref = b.copy()
    np.place(ref, b > 5, [1, 2])
    np.testing.assert_array_equal(vnp.place(b, b > 5, [1, 2], inplace=False), ref)
    idx = np.argsort(a, axis=1)[:, :2]
    ref = a.copy()
    np.put_along_axis(ref, idx, -1.0, axis=1)
    np.testing.assert_array_equal(vnp.put_along_axis(a, idx, -1.0, axis=1, inplace=False), ref)
    try:
        vnp.put(b, [1], 2)
    except ValueError as e:
        print(e)
    np.testing.assert_allclose(
        vnp.apply_along_axis(lambda r: r.sum(), 1, a), np.apply_along_axis(np.sum, 1, a)
    )
    np.testing.assert_allclose(
        vnp.apply_along_axis(lambda r: r[::-1] * 2, 0, a),
        np.apply_along_axis(lambda r: r[::-1] * 2, 0, a),
    )
    c3 = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(
        vnp.apply_along_axis(lambda r: vnp.outer(r, r), 1, c3),
        np.apply_along_axis(lambda r: np.outer(r, r), 1, c3),
    )
    np.testing.assert_allclose(
        vnp.apply_over_axes(vnp.sum, c3, [0, 2]), np.apply_over_axes(np.sum, c3, [0, 2])
    )
    np.testing.assert_allclose(
        vnp.cumulative_sum(b, include_initial=True), np.cumulative_sum(b, include_initial=True)
    )
    np.testing.assert_allclose(vnp.cumulative_prod(a, axis=1), np.cumulative_prod(a, axis=1))
    M, v = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 4))
    np.testing.assert_allclose(vnp.matvec(M, v), np.matvec(M, v))
    np.testing.assert_allclose(vnp.vecmat(v[:, :3], M), np.vecmat(v[:, :3], M))
    np.testing.assert_allclose(vnp.vecdot(v, v), np.vecdot(v, v))
    np.testing.assert_allclose(vnp.matrix_transpose(M), np.matrix_transpose(M))
    assert vnp.result_type(vnp.ones(2, vnp.int8), 1.0) == np.float64  # weak float: default
    assert vnp.result_type(np.int32, np.float32) == np.float32  # JAX's lattice, not NumPy's
    assert vnp.promote_types(vnp.int8, vnp.uint8) == np.int16
    assert not vnp.can_cast(vnp.int32, vnp.float32) and vnp.can_cast(np.int8, np.int32)
    assert vnp.isdtype(vnp.float32, "real floating")
    assert vnp.isdtype(np.int32, ("integral", np.float32))
    assert vnp.isscalar(1.0) and vnp.isscalar(vnp.array(1.0)) and not vnp.isscalar(vnp.ones(2))
    assert vnp.iterable([1]) and not vnp.iterable(1)
    piece = vfunc.grad(lambda t: vnp.piecewise(t, [t < 0], [lambda q: q**2, lambda q: 3 * q]))
    assert float(piece(2.0)) == 3.0 and float(piece(-2.0)) == -4.0


def test_histograms_and_io_match_numpy(x64):
    rng = np.random.default_rng(0)
    x, y, z = rng.normal(size=(3, 200))
    w = rng.uniform(size=200)
    for kw in [
        {},
        {"bins": 5},
        {"bins": [3, 6]},
        {"bins": np.linspace(-2, 2, 5)},
        {"range": [[-1, 1], [-2, 2]], "bins": 4},
        {"weights": w, "density": True, "bins": 4},
    ]:
        got = vnp.histogram2d(x, y, **kw)
        ref = np.histogram2d(x, y, **kw)
        for g, r in pairs(got, ref):
            np.testing.assert_allclose(g, r, err_msg=str(kw))
    s = np.stack([x, y, z], 1)
    for kw in [{}, {"bins": (2, 3, 4)}, {"bins": 3, "density": True}, {"weights": w}]:
        got, ge = vnp.histogramdd(s, **kw)
        ref, re_ = np.histogramdd(s, **kw)
        np.testing.assert_allclose(got, ref, err_msg=str(kw))
        [np.testing.assert_allclose(a, b) for a, b in pairs(ge, re_)]
    for kw in [{}, {"wrap": True}]:
        r = np.zeros((7, 3))
        np.fill_diagonal(r, 5, **kw)
        np.testing.assert_array_equal(
            vnp.fill_diagonal(np.zeros((7, 3)), 5, inplace=False, **kw), r
        )
    r = np.zeros((3, 3, 3))
    np.fill_diagonal(r, [1, 2, 3])
    np.testing.assert_array_equal(
        vnp.fill_diagonal(np.zeros((3, 3, 3)), vnp.array([1.0, 2, 3]), inplace=False), r
    )
    _ = (
        vnp.broadcast_shapes((2, 1), (3,)),
        vnp.array_repr(vnp.ones(2)),
        vnp.array_str(vnp.ones(2)),
    )  # smoke: runs without error
    _ = (
        vnp.frombuffer(b"\x01\x02", dtype=np.uint8),
        vnp.fromstring("1 2", sep=" "),
        vnp.fromiter(range(3), int),
        vnp.from_dlpack(np.arange(3.0)),
    )  # smoke: runs without error
    f = io.BytesIO()
    vnp.save(f, vnp.arange(3))
    f.seek(0)
    print(vnp.load(f))


def test_extras_gradients_and_batching():
    rng = np.random.default_rng(1)
    check_grads(vnp.cbrt, [np.array([0.5, 2.0, -3.0])])
    check_grads(lambda a, b: vnp.copysign(a, b), [np.array([0.5, -2.0]), np.array([-1.0, 2.0])])
    phase = np.cumsum(rng.normal(size=12))
    check_grads(vnp.unwrap, [np.angle(np.exp(1j * phase))])
    check_grads(lambda b: vnp.kaiser(6, b), [np.array(2.0)], modes=("rev",))
    check_grads(lambda x: vnp.float_power(x, 2.5), [np.array([0.5, 1.5])])
    check_grads(
        lambda x: vnp.apply_along_axis(lambda r: (r * r).sum(), 1, x), [rng.normal(size=(2, 3))]
    )
    check_grads(lambda x: vnp.insert(x, 1, 2.0 * x[0]), [rng.normal(size=4)])
    check_grads(lambda x: vnp.geomspace(x, 8.0, 4), [np.array(1.5)], modes=("rev",))
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(vfunc.vmap(vnp.trunc)(x), np.trunc(x))
    np.testing.assert_allclose(vfunc.jit(vnp.sort_complex)(x), np.sort_complex(x))
    np.testing.assert_allclose(vfunc.vmap(lambda r: vnp.compress(r > 0, r, size=6))(x),
                               [np.pad(r[r > 0], (0, 6 - (r > 0).sum())) for r in x])  # fmt: skip


def test_extras_errors():
    with pytest.raises(ValueError, match="put: vfunc arrays are immutable.*inplace=False"):
        vnp.put(vnp.zeros(3), [1], 2.0)
    with pytest.raises(ValueError, match="put_along_axis: .*inplace=False"):
        vnp.put_along_axis(vnp.zeros((2, 2)), vnp.zeros((2, 1), vnp.int32), 1.0, axis=1)
    with pytest.raises(ConcretizationTypeError, match="compress: .* pass size="):
        vfunc.jit(lambda c: vnp.compress(c, vnp.ones(3)))(vnp.array([True, False, True]))
    with pytest.raises(ConcretizationTypeError, match="flatnonzero: .* pass size="):
        vfunc.jit(vnp.flatnonzero)(vnp.ones(3))
    with pytest.raises(ValueError, match="choose: an index in a is out of range for 2 choices"):
        vnp.choose([0, 2], [vnp.zeros(2), vnp.ones(2)])
    with pytest.raises(ValueError, match="ravel_multi_index: mode='raise' needs concrete"):
        vfunc.jit(lambda i: vnp.ravel_multi_index((i, i), (2, 2)))(vnp.array([0, 1]))
    with pytest.raises(TypeError, match="gcd: needs integer arrays, got float"):
        vnp.gcd(vnp.ones(2), vnp.ones(2))
    with pytest.raises(TypeError, match="ldexp: the exponent x2 must be an integer array"):
        vnp.ldexp(1.0, 2.0)
    with pytest.raises(TypeError, match="unpackbits: needs a uint8 array"):
        vnp.unpackbits(vnp.ones(2, vnp.int32))
    with pytest.raises(ShapeError, match="fill_diagonal: needs a 2-D array"):
        vnp.fill_diagonal(vnp.ones((2, 3, 4)), 1.0, inplace=False)
    with pytest.raises(ValueError, match="piecewise: 2 conditions need 2 or 3 functions, got 1"):
        vnp.piecewise(vnp.ones(2), [vnp.ones(2) > 0, vnp.ones(2) < 0], [1.0])
    with pytest.raises(IndexError, match="delete: a position in \\[5\\] is out of range for 3"):
        vnp.delete(vnp.ones(3), [5])
    with pytest.raises(ValueError, match="trim_zeros: needs concrete values"):
        vfunc.jit(vnp.trim_zeros)(vnp.ones(3))


def test_packbits_roundtrip_matches_numpy():
    rng = np.random.default_rng(2)
    b = rng.integers(0, 2, (3, 13)).astype(bool)
    for axis in (None, 0, 1):
        for order in ("big", "little"):
            packed = np.packbits(b, axis, bitorder=order)
            np.testing.assert_array_equal(vnp.packbits(b, axis, order), packed)
            for count in (None, 5, -3, 30):
                np.testing.assert_array_equal(
                    vnp.unpackbits(packed, axis, count, order),
                    np.unpackbits(packed, axis, count, bitorder=order),
                )


def test_named_calls_agree_with_numpy(tmp_path, x64):
    # Each name once by name (the loops above reach them through getattr).
    x = np.array([-2.5, -0.0, 0.0, 0.5, 1.5, 3.0])
    np.testing.assert_array_equal(vnp.signbit(x), np.signbit(x))
    np.testing.assert_array_equal(vnp.rint(x), np.rint(x))
    np.testing.assert_array_equal(vnp.heaviside(x, 0.5), np.heaviside(x, 0.5))
    np.testing.assert_allclose(vnp.i0(x), np.i0(x), rtol=1e-13)
    np.testing.assert_array_equal(vnp.nextafter(x, 1.0), np.nextafter(x, 1.0))
    np.testing.assert_array_equal(vnp.spacing(x), np.spacing(x))
    for window in (vnp.bartlett, vnp.blackman, vnp.hamming, vnp.hanning):
        np.testing.assert_allclose(window(9), getattr(np, window.__name__)(9), atol=1e-14)
    for got, want in pairs(vnp.diag_indices(3, 3), np.diag_indices(3, 3)):
        np.testing.assert_array_equal(got, want)
    for got, want in pairs(vnp.triu_indices(4, 1), np.triu_indices(4, 1)):
        np.testing.assert_array_equal(got, want)
    raw = tmp_path / "values.bin"
    np.arange(4.0).tofile(raw)
    np.testing.assert_array_equal(vnp.fromfile(raw), np.arange(4.0))
    archive = tmp_path / "pair.npz"
    vnp.savez(archive, vnp.arange(3), w=vnp.ones(2))
    with np.load(archive) as saved:
        np.testing.assert_array_equal(saved["arr_0"], [0, 1, 2])
        np.testing.assert_array_equal(saved["w"], [1.0, 1.0])
    before = vnp.get_printoptions()["precision"]
    with vnp.printoptions(precision=3):
        assert vnp.get_printoptions()["precision"] == 3
    vnp.set_printoptions(precision=before)
    assert vnp.get_printoptions()["precision"] == before


def test_true_divide_of_integers_stays_true_after_floor_divide(x64):
    # floor_divide binds the division primitive on integers; divide must still promote them
    # to floats afterwards (once, a schedule computed 7 // 30 == 0 instead of 7 / 30).
    ints = vnp.asarray(np.array([7, 3]))
    vnp.floor_divide(ints, vnp.asarray(np.array([30, 2])))
    np.testing.assert_allclose(ints / vnp.asarray(np.array([30, 2])), [7 / 30, 1.5])
    np.testing.assert_allclose(vnp.divide(ints, ints + 1), [7 / 8, 3 / 4])
