"""What JAX's documentation notebooks use beyond the core transformations (issue 17, item 4).

Facts about JAX recorded from jax 0.10.2 on CPU are quoted in each test.
"""

from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ConcretizationTypeError, ShapeError, ShapeTypeError
from vfunc.testing import check_grads

# --------------------------------------------------------------------------------------------
# Devices


def test_array_device_queries_match_jax_on_cpu():
    x = vnp.arange(3.0)
    assert x.block_until_ready() is x
    # JAX: x.devices() == {CpuDevice(id=0)}; x.sharding prints
    # SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device).
    (device,) = x.devices()
    assert repr(device) == "CpuDevice(id=0)" and str(device) == "cpu:0"
    assert (device.platform, device.id, device.device_kind) == ("cpu", 0, "cpu")
    assert x.sharding.device_set == {device}
    assert repr(x.sharding) == "SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)"
    assert vfunc.devices() == vfunc.local_devices() == [device]
    assert vfunc.device_count() == vfunc.local_device_count() == 1


def test_devices_of_another_backend_is_refused():
    with pytest.raises(RuntimeError, match="backend 'gpu' is not available"):
        vfunc.devices("gpu")


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap"])
def test_devices_of_a_tracer_raises_as_in_jax(transform):
    # JAX raises ConcretizationTypeError (a TypeError) under jit, grad and vmap alike.
    def f(x):
        x.devices()
        return x.sum()

    wrapped = getattr(vfunc, transform)(f)
    with pytest.raises(ConcretizationTypeError, match="devices\\(\\) was called on a traced"):
        wrapped(vnp.arange(3.0))
    assert issubclass(ConcretizationTypeError, TypeError)


# --------------------------------------------------------------------------------------------
# jacobian, debug.print, debug.callback


def test_jacobian_is_reverse_mode_jacobian():
    x = vnp.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(vfunc.jacobian(vnp.sin)(x), np.diag(np.cos(np.asarray(x))), 1e-6)


def _printed(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def f_with_print(x):
    vfunc.debug.print("x={x}", x=x)
    return (x * x).sum()


def test_debug_print_eager_jit_and_every_jit_call(capsys):
    x = vnp.arange(3.0)
    f_with_print(x)
    jitted = vfunc.jit(f_with_print)
    jitted(x)
    jitted(x + 1)  # a cache hit: the compiled program must still print, with the new values
    # JAX: "x=[0. 1. 2.]" eagerly and under jit, on every call.
    assert _printed(capsys) == ["x=[0. 1. 2.]", "x=[0. 1. 2.]", "x=[1. 2. 3.]"]


def test_debug_print_under_vmap_prints_each_member(capsys):
    # JAX: vmap(lambda v: jax.debug.print("v={v}", v=v))(jnp.arange(3.)) prints v=0.0, v=1.0, v=2.0
    vfunc.vmap(f_with_print)(vnp.arange(3.0))
    vfunc.jit(vfunc.vmap(f_with_print))(vnp.arange(2.0))
    assert _printed(capsys) == ["x=0.0", "x=1.0", "x=2.0", "x=0.0", "x=1.0"]


def test_debug_print_under_grad_sees_primals_and_adds_no_gradient(capsys):
    # JAX: grad of (print(v); v*v) at 2. prints "g v=2.0" and returns 4.0.
    x = vnp.array([1.0, 2.0])
    for g in (vfunc.grad(f_with_print), vfunc.jit(vfunc.grad(f_with_print))):
        np.testing.assert_allclose(g(x), 2 * np.asarray(x))
    tangent = vfunc.jvp(f_with_print, (x,), (vnp.ones(2),))[1]
    np.testing.assert_allclose(tangent, 6.0)
    assert _printed(capsys) == ["x=[1. 2.]"] * 3


def test_debug_print_survives_the_compiler_passes(capsys):
    def g(x):
        vfunc.debug.print("same {}", x)
        vfunc.debug.print("same {}", x)  # not merged with its twin by CSE
        vfunc.debug.print("constant {}", 7)  # not folded away at compile time
        return x

    jitted = vfunc.jit(g)
    jitted(vnp.ones(()))
    jitted(vnp.zeros(()))
    assert _printed(capsys) == ["same 1.0", "same 1.0", "constant 7"] + [
        "same 0.0", "same 0.0", "constant 7"]  # fmt: skip
    assert "debug_callback" in str(vfunc.make_jaxpr(g)(1.0))


def test_debug_callback_gets_pytrees_of_concrete_arrays():
    seen = []

    def record(tree, *, scale):
        seen.append((type(tree["a"]).__name__, np.asarray(tree["a"]).tolist(), scale))

    @vfunc.jit
    def f(x):
        vfunc.debug.callback(record, {"a": x * 2}, scale="s")
        return x

    f(vnp.array([1.0, 2.0]))
    assert seen == [("ArrayImpl", [2.0, 4.0], "s")]


# --------------------------------------------------------------------------------------------
# lax.conv_with_general_padding

FIXTURES = Path(__file__).parent / "fixtures"


def test_conv_with_general_padding_matches_jax(x64):
    # Recorded from jax.lax.conv_with_general_padding in float64 (strides (1, 2), explicit pads,
    # kernel dilation (2, 1); and strides (2, 1) with 'SAME' and no dilation).
    ref = np.load(FIXTURES / "jax_conv_with_general_padding.npz")
    lhs, rhs = vnp.asarray(ref["lhs"]), vnp.asarray(ref["rhs"])
    out = vfunc.lax.conv_with_general_padding(lhs, rhs, (1, 2), [(1, 0), (2, 1)], (1, 1), (2, 1))
    np.testing.assert_allclose(out, ref["out"], rtol=1e-12, atol=1e-12)
    same = vfunc.lax.conv_with_general_padding(lhs, rhs, (2, 1), "SAME", None, None)
    np.testing.assert_allclose(same, ref["out_same"], rtol=1e-12, atol=1e-12)


def test_conv_with_general_padding_gradient_and_errors(x64):
    rng = np.random.default_rng(1)
    lhs, rhs = (
        vnp.asarray(rng.normal(size=(1, 2, 4, 4))),
        vnp.asarray(rng.normal(size=(3, 2, 2, 2))),
    )
    conv = vfunc.lax.conv_with_general_padding
    check_grads(lambda a, b: conv(a, b, (1, 1), [(1, 1), (0, 1)], (2, 1), None), (lhs, rhs), 1)
    with pytest.raises(ValueError, match="conv"):
        conv(lhs, vnp.ones((3, 5, 2, 2)), (1, 1), "VALID", None, None)


# --------------------------------------------------------------------------------------------
# tree_util key paths and registration


def test_key_paths_are_jax_key_tuples():
    import collections

    from vfunc.tree_util import DictKey, GetAttrKey, SequenceKey, keystr, tree_flatten_with_path

    # Recorded from jax.tree_util.tree_flatten_with_path({"b": [1, (2, 3)], "a": 4}).
    pairs, _ = tree_flatten_with_path({"b": [1, (2, 3)], "a": 4})
    assert pairs == [
        ((DictKey(key="a"),), 4),
        ((DictKey(key="b"), SequenceKey(idx=0)), 1),
        ((DictKey(key="b"), SequenceKey(idx=1), SequenceKey(idx=0)), 2),
        ((DictKey(key="b"), SequenceKey(idx=1), SequenceKey(idx=1)), 3),
    ]
    assert repr(pairs[1][0]) == "(DictKey(key='b'), SequenceKey(idx=0))"
    assert [keystr(p) for p, _ in pairs] == ["['a']", "['b'][0]", "['b'][1][0]", "['b'][1][1]"]
    assert keystr(pairs[0][0], simple=True, separator="/") == "a"
    point = collections.namedtuple("Point", "x y")
    assert tree_flatten_with_path(point(1, 2))[0] == [
        ((GetAttrKey("x"),), 1),
        ((GetAttrKey("y"),), 2),
    ]
    seen = vfunc.tree_util.tree_map_with_path(lambda p, v: (p, v), {"k": 1})
    assert seen == {"k": ((DictKey("k"),), 1)}


def test_register_pytree_node_returns_none_as_jax_and_custom_children_are_flat_indices():
    from vfunc.tree_util import FlattenedIndexKey, SequenceKey, keystr, register_pytree_node

    class Box:
        def __init__(self, a, b):
            self.a, self.b = a, b

    assert register_pytree_node(Box, lambda x: ((x.a, x.b), None), lambda _, c: Box(*c)) is None
    paths = [p for p, _ in vfunc.tree_util.tree_leaves_with_path([Box(1, 2)])]
    assert paths[1] == (SequenceKey(0), FlattenedIndexKey(1))
    assert keystr(paths[1]) == "[0][<flat index 1>]"


# --------------------------------------------------------------------------------------------
# Shape errors that JAX raises as TypeError

# (call, JAX's exception type), recorded from jax on CPU. Where JAX raises TypeError vfunc's
# error is a ShapeTypeError, which `except TypeError` and `except ValueError` both catch.
JAX_SHAPE_ERRORS = {
    "add": (lambda: vnp.add(vnp.ones(3), vnp.ones(4)), TypeError),
    "dot": (lambda: vnp.dot(vnp.ones((2, 3)), vnp.ones((2, 3))), TypeError),
    "matmul": (lambda: vnp.ones((2, 3)) @ vnp.ones((2, 3)), TypeError),
    "reshape": (lambda: vnp.ones(6).reshape(4), TypeError),
    "reshape_inferred": (lambda: vnp.ones(6).reshape(4, -1), TypeError),
    "concatenate": (lambda: vnp.concatenate([vnp.ones((2, 3)), vnp.ones((2, 4))]), TypeError),
    "dot_general": (
        lambda: vfunc.lax.dot_general(vnp.ones((2, 3)), vnp.ones((4, 3)), (((1,), (0,)), ((), ()))),
        TypeError,
    ),
    "jit_add": (lambda: vfunc.jit(vnp.add)(vnp.ones(3), vnp.ones(4)), TypeError),
    "broadcast_to": (lambda: vnp.broadcast_to(vnp.ones(3), (4,)), ValueError),
    "stack": (lambda: vnp.stack([vnp.ones(2), vnp.ones(3)]), ValueError),
    "einsum": (lambda: vnp.einsum("ij,jk", vnp.ones((2, 3)), vnp.ones((4, 5))), ValueError),
}


@pytest.mark.parametrize("name", sorted(JAX_SHAPE_ERRORS))
def test_shape_errors_have_jax_exception_types(name):
    call, jax_type = JAX_SHAPE_ERRORS[name]
    with pytest.raises(ShapeError) as info:
        call()
    assert isinstance(info.value, jax_type) and isinstance(info.value, ValueError)
    if jax_type is TypeError:
        assert isinstance(info.value, ShapeTypeError)


def test_debug_print_inside_scan_and_cond_under_jit(capsys):
    def body(c, x):
        vfunc.debug.print("c={} x={}", c, x)
        return c + x, c * x

    vfunc.jit(lambda xs: vfunc.lax.scan(body, 0.0, xs))(vnp.arange(2.0))
    branch = lambda v: (vfunc.debug.print("pos {}", v), v)[1]  # noqa: E731
    cond = vfunc.jit(lambda p: vfunc.lax.cond(p > 0, branch, lambda v: v, p))
    cond(2.0)
    cond(-1.0)  # the branch not taken prints nothing
    assert _printed(capsys) == ["c=0.0 x=0.0", "c=0.0 x=1.0", "pos 2.0"]


# --------------------------------------------------------------------------------------------
# lax.fori_loop's counter dtype

# (case, dtype, weak_type) recorded from jax 0.10.2 (x64 off): the counter of a loop with
# concrete bounds starts from the Python int ``lower``, so it is a weak int32 whatever the
# bounds' dtype; traced bounds keep a Python-int ``lower`` weak too.
_FORI_CASES = [
    ("int carry", lambda: vfunc.lax.fori_loop(0, 5, lambda i, t: t + i, 0), "int32", True),
    ("float carry", lambda: vfunc.lax.fori_loop(0, 5, lambda i, t: t + i, 0.0), "float32", True),
    (
        "jit int carry",
        vfunc.jit(lambda: vfunc.lax.fori_loop(0, 5, lambda i, t: t + i, 0)),
        "int32",
        True,
    ),
    ("counter", lambda: vfunc.lax.fori_loop(0, 5, lambda i, t: i, 0), "int32", True),
    (
        "int32 bounds, counter",
        lambda: vfunc.lax.fori_loop(vnp.int32(0), vnp.int32(5), lambda i, t: i, 0),
        "int32",
        True,
    ),
    (
        "int32 init",
        lambda: vfunc.lax.fori_loop(0, 5, lambda i, t: t + i, vnp.int32(0)),
        "int32",
        False,
    ),
    (
        "traced upper",
        lambda: vfunc.jit(lambda n: vfunc.lax.fori_loop(0, n, lambda i, t: t + i, 0))(5),
        "int32",
        True,
    ),
    (
        "array carry",
        lambda: vfunc.lax.fori_loop(0, 3, lambda i, t: t + i, vnp.zeros(2)),
        "float32",
        False,
    ),
]


@pytest.mark.parametrize("case", _FORI_CASES, ids=[c[0] for c in _FORI_CASES])
def test_fori_loop_counter_is_weakly_typed_as_in_jax(case):
    _, run, dtype, weak = case
    out = run()
    assert (out.dtype, out.weak_type) == (np.dtype(dtype), weak)


def test_fori_loop_weak_counter_promotes_like_a_python_int():
    # A weak int carry added to an int8 array stays int8 (a strong int32 counter would widen it).
    out = vfunc.lax.fori_loop(0, 3, lambda i, t: t + i, vnp.zeros(2, dtype=vnp.int8))
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [3, 3])
    assert vfunc.lax.fori_loop(0, 5, lambda i, t: i, 0) == 4


# --------------------------------------------------------------------------------------------
# Found by running HIPS autograd's test suite through an adapter (issue 17, Measure)


def test_lists_holding_traced_values_keep_their_derivatives_through_promotion(x64):
    # append/concatenate read list arguments through promotion, which once went through
    # numpy and silently dropped the tracer's tangent (a zero gradient, no error).
    check_grads(lambda a, b: vnp.append([a, 2.0, a * b], b), (1.5, -0.5), order=2)
    check_grads(lambda a: vnp.concatenate([vnp.ones(2), [a, 3.0 * a]]), (0.7,), order=1)
    assert vfunc.grad(lambda a: vnp.sum(vnp.append(1.0, [a, a * 2])))(1.0) == 3.0
    out = vfunc.jit(lambda a: vnp.append([a, 2], 4))(vnp.int32(1))
    assert out.dtype == vnp.int32 and out.tolist() == [1, 2, 4]


def test_linspace_with_traced_ends_is_differentiable_and_matches_numpy(x64):
    for num in (0, 1, 5):
        check_grads(lambda a, b, num=num: vnp.linspace(a, b, num), (1.2, -3.4), order=2)
    f = vfunc.jit(lambda a, b: vnp.linspace(a, b, 4, axis=1, endpoint=False, retstep=True))
    lo, hi = np.array([0.0, 1.0, -2.0]), np.array([1.0, 5.0, 2.0])
    out, step = f(vnp.asarray(lo), vnp.asarray(hi))
    want, want_step = np.linspace(lo, hi, 4, axis=1, endpoint=False, retstep=True)
    np.testing.assert_allclose(out, want, rtol=1e-15)
    np.testing.assert_allclose(step, want_step, rtol=1e-15)
    # The ends are exact, as numpy's are.
    ends = vfunc.jit(lambda a, b: vnp.linspace(a, b, 7))(0.1, 0.7)
    assert (float(ends[0]), float(ends[-1])) == (0.1, 0.7)


def test_numpy2_and_dtype_names_jax_numpy_exports():
    x = vnp.array([0.25, 0.5])
    for new, old in [(vnp.acos(x), vnp.arccos(x)), (vnp.asin(x), vnp.arcsin(x)),
                     (vnp.atan(x), vnp.arctan(x)), (vnp.asinh(x), vnp.arcsinh(x)),
                     (vnp.atanh(x), vnp.arctanh(x)), (vnp.acosh(x + 1), vnp.arccosh(x + 1))]:  # fmt: skip
        np.testing.assert_array_equal(new, old)
    np.testing.assert_array_equal(vnp.atan2(x, 1 - x), vnp.arctan2(x, 1 - x))
    np.testing.assert_array_equal(vnp.pow(x, 3), x**3)
    assert vnp.concat([x, x]).shape == (4,) and vnp.permute_dims(vnp.ones((2, 3))).shape == (3, 2)
    assert vnp.bitwise_invert(vnp.int32(5)) == ~5 and vnp.bitwise_left_shift(1, 3) == 8
    assert vnp.bitwise_right_shift(vnp.int32(20), 2) == 5
    assert vnp.dtype("float32") == np.float32 and vnp.issubdtype(x.dtype, vnp.floating)
    assert vnp.finfo(vnp.float32).eps == np.finfo(np.float32).eps
    # An astype inside grad gives a gradient of the input's dtype (autograd's test_astype).
    g = vfunc.grad(lambda a: vnp.sum(vnp.sin(a.astype("float64"))))(vnp.arange(3, dtype="float32"))
    assert g.dtype == vnp.dtype("float32")


def test_logaddexp_is_smooth_at_ties_with_jax_derivatives_at_infinities(x64):
    # The max/abs form had kinks at x == y: its second derivative there was 0, not 1/4.
    check_grads(vnp.logaddexp, (0.4, 0.4), order=3)
    check_grads(vnp.logaddexp2, (-1.5, -1.5), order=2)
    assert vfunc.hessian(vnp.logaddexp)(0.3, 0.3) == pytest.approx(0.25, rel=1e-12)
    check_grads(vnp.logaddexp, (np.array([0.4, -1.0]), np.array([[0.4], [2.0]])), order=2)
    # jax.grad(jnp.logaddexp) at (-inf, 1), (inf, inf), (-inf, -inf) gives 0, 1 and nan.
    grad = vfunc.grad(vnp.logaddexp)
    assert float(grad(-np.inf, 1.0)) == 0.0 and float(grad(np.inf, np.inf)) == 1.0
    assert np.isnan(grad(-np.inf, -np.inf))
    assert vnp.logaddexp(np.inf, np.inf) == np.inf and vnp.logaddexp(-np.inf, 1.0) == 1.0
