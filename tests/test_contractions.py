"""einsum, tensordot, inner, outer, vdot and kron against NumPy (float64 under x64, float32 with
tolerance by default), hypothesis-drawn einsum specs, the staged form, and the error messages."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ShapeError
from vfunc.numpy.contractions import einsum, inner, kron, outer, tensordot, vdot
from vfunc.testing import check_grads
from vfunc.testing.gradients import enable_x64

SETTINGS = settings(max_examples=60, deadline=None)
F32_TOL = {"rtol": 1e-4, "atol": 1e-5}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 7 * len(shape)).standard_normal(shape)


def assert_close64(got, expected) -> None:
    """``got`` is a float64 (or exact-dtype) Array equal to ``expected`` up to rounding."""
    expected = np.asarray(expected)
    assert isinstance(got, vfunc.Array), type(got)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


def assert_close32(got, expected) -> None:
    """``got`` is a float32 Array close to the float64 reference ``expected``."""
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == np.float32, got.dtype
    np.testing.assert_allclose(np.asarray(got), expected, **F32_TOL)


# ----------------------------------------------------------------------------------------------
# einsum: named cases

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,jk,ki->", [(2, 3), (3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk->kib", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,i", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("i,i->i", [(4,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ji", [(3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iii->i", [(2, 2, 2)]),
    ("iij->j", [(3, 3, 2)]),
    ("iji->ij", [(3, 2, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("->", [()]),
    (",ij->ij", [(), (2, 3)]),
    ("ii,jj->ij", [(2, 2), (3, 3)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,kl->ijkl", [(2, 3), (1, 2)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 2), (2, 3)]),
    ("Ab,bA", [(2, 3), (3, 2)]),
    ("Ba,ab", [(2, 3), (3, 4)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (5, 1, 4, 2)]),
    ("...ij,...jk", [(2, 3, 4), (4, 2)]),
    ("i...,...", [(2, 3), (4, 1, 1)]),
    ("ij...,jk...->ik...", [(3, 4, 2), (4, 5, 2)]),
    ("...->...", [(2, 3)]),
    ("i...->...", [(2, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("...,...", [(), (3,)]),
    ("i,i", [(1,), (3,)]),  # a size-1 label broadcasts, as in NumPy
    ("ij,j->i", [(2, 1), (3,)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    (" i j , j k -> i k ", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize(("spec", "shapes"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_numpy_in_float64(spec, shapes, x64):
    operands = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    assert_close64(einsum(spec, *operands), np.einsum(spec, *operands))


@pytest.mark.parametrize(
    ("spec", "shapes"), EINSUM_CASES[:12], ids=[c[0] for c in EINSUM_CASES[:12]]
)
def test_einsum_float32_by_default(spec, shapes):
    operands = [rand(*s, seed=i).astype(np.float32) for i, s in enumerate(shapes)]
    reference = np.einsum(spec, *[o.astype(np.float64) for o in operands])
    assert_close32(einsum(spec, *[vnp.asarray(o) for o in operands]), reference)


def test_einsum_integers_and_bools_keep_their_dtype():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = einsum("ij,jk->ik", a, b)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), a @ b)
    assert einsum("ii", np.eye(3, dtype=np.int32)).dtype == np.int32
    p, q = np.array([True, False, True]), np.array([False, False, True])
    for spec in ("i,i", "i,j->ij", "i->", "ii->i"):
        operands = (p, q) if "," in spec else (p if spec != "ii->i" else np.outer(p, q),)
        got = einsum(spec, *operands)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(got), np.einsum(spec, *operands))


def test_einsum_promotes_like_jax():
    ints = np.arange(3, dtype=np.int32)
    floats = vnp.ones(3)
    assert einsum("i,i->i", ints, floats).dtype == np.float32
    scaled = einsum("i,->i", floats, 2.0)  # a Python scalar is weak: float32 stays float32
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(scaled), [2.0, 2.0, 2.0])
    assert einsum("i,i->", ints, ints, preferred_element_type=np.float32).dtype == np.float32


def test_einsum_interleaved_sublists(x64):
    a, b = rand(2, 3), rand(3, 4, seed=1)
    assert_close64(einsum(a, [0, 1], b, [1, 2], [0, 2]), np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
    assert_close64(einsum(a, [0, 1], b, [1, 27]), np.einsum(a, [0, 1], b, [1, 27]))
    c = rand(5, 2, 3)
    assert_close64(
        einsum(c, [Ellipsis, 0, 1], [1, Ellipsis]), np.einsum(c, [Ellipsis, 0, 1], [1, Ellipsis])
    )


def test_einsum_optimize_is_accepted():
    a, b = vnp.ones((2, 3)), vnp.ones((3, 2))
    for optimize in (True, False, "greedy", "optimal"):
        assert einsum("ij,jk->ik", a, b, optimize=optimize).shape == (2, 2)


# ----------------------------------------------------------------------------------------------
# einsum: hypothesis


@st.composite
def einsum_problems(draw, ellipsis: bool = False):
    """A spec with 1-3 operands over labels a-e (repeats allowed: diagonals), consistent sizes,
    and an implicit or explicit output; with ``ellipsis``, broadcast '...' axes too."""
    letters = "abcde"
    sizes = {c: draw(st.integers(1, 3)) for c in letters}
    n_ops = draw(st.integers(1, 3))
    terms = [draw(st.text(letters, min_size=0, max_size=4)) for _ in range(n_ops)]
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if ellipsis else ()
    shapes = []
    for i, term in enumerate(terms):
        lead = ()
        if ellipsis:
            rank = draw(st.integers(0, len(batch)))
            lead = tuple(
                1 if draw(st.booleans()) else d for d in batch[len(batch) - rank :]
            )  # right-aligned, some axes broadcast
            terms[i] = "..." + term if draw(st.booleans()) else term[:1] + "..." + term[1:]
        shapes.append(lead + tuple(sizes[c] for c in term) if terms[i].startswith("...")
                      else tuple(sizes[c] for c in term[:1]) + lead
                      + tuple(sizes[c] for c in term[1:]))  # fmt: skip
    used = sorted(set("".join(terms)) - set("."))
    if draw(st.booleans()):
        spec = ",".join(terms)
    else:
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        out = "".join(out)
        if ellipsis:
            cut = draw(st.integers(0, len(out)))
            out = out[:cut] + "..." + out[cut:]
        spec = ",".join(terms) + "->" + out
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return spec, [rng.standard_normal(s) for s in shapes]


@SETTINGS
@given(einsum_problems())
def test_einsum_hypothesis_matches_numpy(problem):
    spec, operands = problem
    with enable_x64():
        assert_close64(einsum(spec, *operands), np.einsum(spec, *operands))


@SETTINGS
@given(einsum_problems(ellipsis=True))
def test_einsum_hypothesis_with_ellipsis_matches_numpy(problem):
    spec, operands = problem
    with enable_x64():
        assert_close64(einsum(spec, *operands), np.einsum(spec, *operands))


@settings(max_examples=25, deadline=None)
@given(einsum_problems())
def test_einsum_hypothesis_float32(problem):
    spec, operands = problem
    operands = [o.astype(np.float32) for o in operands]
    reference = np.einsum(spec, *[o.astype(np.float64) for o in operands])
    assert_close32(einsum(spec, *operands), reference)


# ----------------------------------------------------------------------------------------------
# einsum: staging and derivatives


def test_einsum_stages_to_dot_general():
    a, b, c = vnp.ones((2, 3)), vnp.ones((3, 4)), vnp.ones((4, 5))
    text = str(vfunc.make_jaxpr(lambda a, b: einsum("ij,jk->ik", a, b))(a, b))
    assert "dot_general" in text
    three = str(vfunc.make_jaxpr(lambda a, b, c: einsum("ij,jk,kl->il", a, b, c))(a, b, c))
    assert three.count("dot_general") == 2
    batched = vfunc.make_jaxpr(lambda x, y: einsum("bij,bjk->bik", x, y))(
        vnp.ones((2, 3, 4)), vnp.ones((2, 4, 5))
    )
    assert "dimension_numbers=(((2,), (1,)), ((0,), (0,)))" in str(batched)


def test_einsum_diagonal_stages_without_gather():
    text = str(vfunc.make_jaxpr(lambda x: einsum("ii->i", x))(vnp.ones((3, 3))))
    assert "select" in text and "gather" not in text


def test_einsum_gradients_of_pure_contractions():
    a, b = vnp.asarray(rand(2, 3)), vnp.asarray(rand(3, 4, seed=1))
    check_grads(lambda a, b: einsum("ij,jk->ik", a, b), (a, b), order=1, modes=("rev",))
    check_grads(lambda a: einsum("i,i->", a, a), (vnp.asarray(rand(4)),), order=1, modes=("rev",))


# ----------------------------------------------------------------------------------------------
# einsum: errors


@pytest.mark.parametrize(
    ("spec", "shapes", "error", "match"),
    [
        ("ij,jk->ik", [(2, 3)], ShapeError, r"name 2 operand\(s\) but 1 were given"),
        ("ij", [(2, 3), (3, 2)], ShapeError, r"name 1 operand\(s\) but 2 were given"),
        ("ij,jk->ik", [(2, 3), (4, 5)], ShapeError,
         r"label 'j' .* size 3 in operand 0 \(shape \(2, 3\)\) but size 4 in operand 1"),
        ("...i,...i", [(2, 3), (4, 3)], ShapeError, r"'\.\.\.' axis -1 .* size 2 .* size 4"),
        ("ii->i", [(2, 3)], ShapeError, r"label 'i' repeats in operand 0 .* sizes 2 and 3"),
        ("ijk", [(2, 3)], ShapeError, r"term 0 'ijk' .* has 3 label\(s\) but operand 0 has shape"),
        ("i", [(2, 3)], ShapeError, r"has 1 label\(s\) but operand 0 has shape \(2, 3\)"),
        ("...ijk", [(2, 3)], ShapeError, r"has 3 label\(s\)"),
        ("...i->i", [(2, 3)], ShapeError, r"'\.\.\.' matches 1 axes .* no '\.\.\.'"),
        ("ij->ii", [(2, 3)], ValueError, r"output label 'i' appears 2 times"),
        ("ij->k", [(2, 3)], ValueError, r"output label 'k' .* appears in no input term"),
        ("ij->j->i", [(2, 3)], ValueError, r"malformed subscripts 'ij->j->i'"),
        ("i-j", [(2, 3)], ValueError, r"malformed subscripts"),
        ("i>j", [(2, 3)], ValueError, r"malformed subscripts"),
        ("i.j", [(2, 3)], ValueError, r"invalid character '\.' .* at most once per term"),
        ("....i", [(2, 3)], ValueError, r"invalid character '\.'"),
        ("i1", [(2, 3)], ValueError, r"invalid character '1' .* ASCII letters"),
        ("ij->i1", [(2, 3)], ValueError, r"invalid character '1' in output"),
    ],
)  # fmt: skip
def test_einsum_errors(spec, shapes, error, match):
    with pytest.raises(error, match=match):
        einsum(spec, *[np.ones(s) for s in shapes])


def test_einsum_error_without_operands_and_bad_sublists():
    with pytest.raises(ShapeError, match=r"einsum: no operands"):
        einsum("ij")
    with pytest.raises(ValueError, match=r"sublist entries must be ints in \[0, 52\)"):
        einsum(np.ones(2), [52])


def test_einsum_errors_are_value_errors():
    with pytest.raises(ValueError, match=re.escape("einsum:")):
        einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))


# ----------------------------------------------------------------------------------------------
# tensordot, inner, outer, vdot, kron


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "axes"),
    [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (3, 4), 1),
        ((2, 3), (4, 5), 0),
        ((2, 3), (2, 3), 2),
        ((), (), 0),
        ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
        ((2, 3, 4), (4, 3, 5), ((2, 1), (0, 1))),
        ((2, 3, 4), (4, 5), (2, 0)),
        ((2, 3, 4), (4, 5), (-1, 0)),
        ((2, 3, 4), (5, 3, 2), ([0, -2], [-1, 1])),
        ((3,), (3,), ([0], [0])),
        ((2, 3), (3, 2), ([], [])),
    ],
)
def test_tensordot_matches_numpy(shape_a, shape_b, axes, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_close64(tensordot(a, b, axes), np.tensordot(a, b, axes))


def test_tensordot_float32_and_preferred_type():
    a, b = rand(2, 3, 4).astype(np.float32), rand(3, 4, 2, seed=1).astype(np.float32)
    assert_close32(tensordot(a, b), np.tensordot(a.astype(float), b.astype(float)))
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = tensordot(ints, ints, ([0, 1], [0, 1]), preferred_element_type=np.float32)
    assert out.dtype == np.float32 and float(out) == 55.0
    assert "dot_general" in str(vfunc.make_jaxpr(lambda x, y: tensordot(x, y))(a, b))


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "axes", "match"),
    [
        ((2, 3), (4, 5), 1, r"axis 1 of a \(shape \(2, 3\)\) has size 3 but axis 0 of b "
                            r"\(shape \(4, 5\)\) has size 4"),
        ((2, 3), (3,), 2, r"axes=2 needs 0 <= axes <= the rank of both operands"),
        ((2, 3), (3,), -1, r"axes=-1 needs 0 <= axes"),
        ((2, 3), (3, 2), ([0, 1], [0]), r"pair 2 axes of a .* with 1 of b"),
        ((2, 3), (3, 2), ([2], [0]), r"tensordot: axes\[0\] 2 is out of range for rank 2"),
        ((2, 2), (2, 2), ([0, 0], [0, 1]), r"axes\[0\] \[0, 0\] repeats an axis"),
    ],
)  # fmt: skip
def test_tensordot_errors(shape_a, shape_b, axes, match):
    with pytest.raises(ShapeError, match=match):
        tensordot(np.ones(shape_a), np.ones(shape_b), axes)


def test_tensordot_malformed_axes():
    with pytest.raises(ValueError, match=r"axes must be an int or a pair"):
        tensordot(np.ones(2), np.ones(2), ([0], [0], [0]))


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 1, 3), (5, 3)), ((), (2, 3)),
     ((2, 3), ())],
)  # fmt: skip
def test_inner_matches_numpy(shape_a, shape_b, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_close64(inner(a, b), np.inner(a, b))


def test_inner_error():
    with pytest.raises(ShapeError, match=r"inner: the last axes must have one size, got shapes "
                                         r"\(2, 3\) and \(2, 4\)"):  # fmt: skip
        inner(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize(("shape_a", "shape_b"), [((3,), (4,)), ((2, 3), (2,)), ((), (3,))])
def test_outer_matches_numpy(shape_a, shape_b, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_close64(outer(a, b), np.outer(a, b))


def test_outer_and_inner_float32_and_ints():
    a, b = rand(3).astype(np.float32), rand(4, seed=1).astype(np.float32)
    assert_close32(outer(a, b), np.outer(a.astype(float), b.astype(float)))
    assert_close32(inner(a, a), np.inner(a.astype(float), a.astype(float)))
    ints = np.arange(3, dtype=np.int32)
    assert outer(ints, ints).dtype == np.int32
    assert outer(ints, 1.5).dtype == np.float32


@pytest.mark.parametrize(("shape_a", "shape_b"), [((3,), (3,)), ((2, 3), (6,)), ((2, 2), (4, 1))])
def test_vdot_matches_numpy(shape_a, shape_b, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_close64(vdot(a, b), np.vdot(a, b))


def test_vdot_conjugates_complex_first_argument(x64):
    a = rand(4) + 1j * rand(4, seed=2)
    b = rand(4, seed=1) + 1j * rand(4, seed=3)
    assert_close64(vdot(a, b), np.vdot(a, b))
    assert_close64(vdot(a.reshape(2, 2), b), np.vdot(a.reshape(2, 2), b))
    assert_close64(vdot(rand(4), b), np.vdot(rand(4), b))


def test_vdot_error():
    with pytest.raises(ShapeError, match=r"vdot: .* same number of elements, got shapes \(2, 3\) "
                                         r"\(6\) and \(5,\) \(5\)"):  # fmt: skip
        vdot(np.ones((2, 3)), np.ones(5))


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [
        ((2,), (3,)),
        ((2, 2), (3, 2)),
        ((2, 3), (3,)),
        ((3,), (2, 2)),
        ((), (2,)),
        ((2, 1, 2), (2, 3)),
    ],
)
def test_kron_matches_numpy(shape_a, shape_b, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_close64(kron(a, b), np.kron(a, b))
