"""Core behaviour: the Array type, tracing, the jaxpr printer, eval_jaxpr, threads, errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import ShapedArray
from vfunc.errors import ConcretizationTypeError, UnexpectedTracerError
from vfunc.jaxpr import _var_name, eval_jaxpr, jaxpr_as_fun

# ----------------------------------------------------------------------------------------------
# The Array type


def test_item_assignment_raises_and_points_to_at():
    x = vnp.arange(3)
    with pytest.raises(TypeError, match=r"immutable.*x\.at\[idx\]\.set\(y\)"):
        x[0] = 5
    assert x.tolist() == [0, 1, 2]


def test_asarray_is_zero_copy_and_read_only():
    x = vnp.ones(4) * 2
    view = np.asarray(x)
    assert view is np.asarray(x)  # no copy per export
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 7.0
    assert x.tolist() == [2.0, 2.0, 2.0, 2.0]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64


def test_numpy_input_is_copied():
    source = np.arange(3.0)
    x = vnp.asarray(source)
    source[0] = 100.0
    assert x.tolist() == [0.0, 1.0, 2.0]


def test_repr_matches_jax():
    assert repr(vnp.array([1.0, 2.0])) == "Array([1., 2.], dtype=float32)"
    assert repr(vnp.array([1, 2, 3])) == "Array([1, 2, 3], dtype=int32)"
    assert repr(vnp.array(2.0)) == "Array(2., dtype=float32, weak_type=True)"
    assert repr(vnp.array([True, False])) == "Array([ True, False], dtype=bool)"
    assert repr(vnp.zeros((2, 2))) == "Array([[0., 0.],\n       [0., 0.]], dtype=float32)"
    assert repr(vnp.zeros((0,))) == "Array([], dtype=float32)"
    assert str(vnp.array([1.5, 2.5])) == "[1.5 2.5]"


def test_properties():
    x = vnp.zeros((2, 3, 4), dtype=vnp.int32)
    assert (x.shape, x.dtype, x.ndim, x.size) == ((2, 3, 4), np.dtype("int32"), 3, 24)
    assert x.T.shape == (4, 3, 2)
    assert x.mT.shape == (2, 4, 3)
    assert x.aval == ShapedArray((2, 3, 4), np.int32)
    assert isinstance(x, vfunc.Array)


def test_unhashable_like_jax():
    with pytest.raises(TypeError, match="unhashable"):
        hash(vnp.ones(2))


def test_len_iteration_and_scalar_conversions():
    x = vnp.arange(6).reshape(3, 2)
    assert len(x) == 3
    rows = list(x)
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    assert all(isinstance(r, vfunc.Array) for r in rows)
    scalar = vnp.array(3.5)
    assert float(scalar) == 3.5 and int(scalar) == 3 and complex(scalar) == 3.5 + 0j
    assert bool(vnp.array([1])) is True and bool(vnp.array(0)) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(vnp.ones(2))
    assert [10, 20, 30][vnp.array(1)] == 20
    with pytest.raises(TypeError, match="integer"):
        [10, 20][vnp.array(1.0)]
    with pytest.raises(TypeError, match="0-d"):
        len(vnp.array(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(vnp.array(1.0))
    assert f"{vnp.array(2.5):.2f}" == "2.50"


def test_numpy_defers_binary_operators_to_array():
    out = np.ones(3, np.float32) + vnp.arange(3)
    assert isinstance(out, vfunc.Array)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 2.0, 3.0]
    assert isinstance(np.sin(vnp.ones(2)), np.ndarray)  # ufuncs consume it as an array


def test_pickle_round_trip():
    x = vnp.arange(4) * 2
    y = pickle.loads(pickle.dumps(x))
    assert y.tolist() == [0, 2, 4, 6] and y.dtype == x.dtype
    w = pickle.loads(pickle.dumps(vnp.array(1.0)))
    assert w.weak_type


def test_duplicate_primitive_name_is_rejected():
    from vfunc.core import Primitive

    with pytest.raises(ValueError, match="already registered"):
        Primitive("add", np.add, lambda x, y: x)


# ----------------------------------------------------------------------------------------------
# make_jaxpr and the printer


def test_single_equation_prints_on_one_line():
    jaxpr = vfunc.make_jaxpr(vnp.sin)(vnp.ones(3))
    assert str(jaxpr) == "{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }"


def test_multi_equation_layout_params_and_literals():
    def f(x, y):
        return vnp.sum(vnp.tanh(x * 2.0) + y, axis=0)

    jaxpr = vfunc.make_jaxpr(f)(vnp.ones((3, 4)), vnp.zeros(4))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[3,4] b:f32[4]. let\n"
        "    c:f32[3,4] = mul a 2.0:f32[]\n"
        "    d:f32[3,4] = tanh c\n"
        "    e:f32[3,4] = add d b\n"
        "    f:f32[4] = reduce_sum[axes=(0,)] e\n"
        "  in (f,) }"
    )


def test_closed_over_arrays_become_constvars():
    table = vnp.arange(3.0) + 1.0
    jaxpr = vfunc.make_jaxpr(lambda x: x * table)(vnp.ones(3))
    assert str(jaxpr) == "{ lambda a:f32[3]; b:f32[3]. let c:f32[3] = mul b a in (c,) }"
    assert jaxpr.consts[0].tolist() == [1.0, 2.0, 3.0]


def test_creation_inside_a_trace_is_staged():
    jaxpr = vfunc.make_jaxpr(lambda x: x + vnp.zeros(3))(vnp.ones(3))
    text = str(jaxpr)
    assert "broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 0.0:f32[]" in text
    assert not jaxpr.consts


def test_pytree_inputs_and_outputs_and_multiple_results():
    def f(params, x):
        return {"out": x @ params["w"], "aux": (x.sum(), params["b"])}

    params = {"w": vnp.ones((2, 3)), "b": vnp.zeros(3)}
    closed, shapes = vfunc.make_jaxpr(f, return_shape=True)(params, vnp.ones((4, 2)))
    assert [v.aval.str_short() for v in closed.jaxpr.invars] == ["f32[3]", "f32[2,3]", "f32[4,2]"]
    assert str(closed).endswith("in (e, a, d) }")  # sorted keys: aux, then out
    assert shapes["out"] == vfunc.ShapeDtypeStruct((4, 3), np.float32)
    assert shapes["aux"][0] == vfunc.ShapeDtypeStruct((), np.float32)


def test_constant_output_and_no_arguments():
    assert str(vfunc.make_jaxpr(lambda: 1.0)()) == "{ lambda ; . let in (1.0:f32[],) }"
    jaxpr = vfunc.make_jaxpr(lambda: vnp.arange(4))()
    assert str(jaxpr) == (
        "{ lambda ; . let a:i32[4] = iota[dimension=0 dtype=int32 shape=(4,)] in (a,) }"
    )


def test_static_argnums_and_kwargs():
    def f(x, n, *, scale):
        return x * n * scale

    jaxpr = vfunc.make_jaxpr(f, static_argnums=1)(vnp.ones(2), 3, scale=vnp.array(2.0))
    assert [v.aval.str_short() for v in jaxpr.jaxpr.invars] == ["f32[2]", "f32[]"]
    assert "mul a 3.0:f32[]" in str(jaxpr)


def test_variable_names_continue_past_z_like_jax():
    assert [_var_name(i) for i in (0, 25, 26, 27, 51, 52)] == ["a", "z", "ba", "bb", "bz", "ca"]

    def chain(x):
        for _ in range(30):
            x = vnp.sin(x)
        return x

    text = str(vfunc.make_jaxpr(chain)(vnp.ones(())))
    assert "be:f32[] = sin bd" in text


def test_eval_jaxpr_reproduces_the_function():
    def f(x, y):
        return vnp.maximum(x @ y, 0.0).mean(axis=1), x.argmax(axis=0)

    x = vnp.array(np.random.default_rng(0).normal(size=(4, 5)))
    y = vnp.array(np.random.default_rng(1).normal(size=(5, 3)))
    closed = vfunc.make_jaxpr(f)(x, y)
    got = eval_jaxpr(closed.jaxpr, closed.consts, x, y)
    want = f(x, y)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
        assert g.dtype == w.dtype
    assert jaxpr_as_fun(closed)(x, y)[1].tolist() == want[1].tolist()
    with pytest.raises(TypeError, match="takes 2 inputs, got 1"):
        eval_jaxpr(closed.jaxpr, closed.consts, x)


def test_make_jaxpr_of_a_traced_function_composes():
    inner = vfunc.make_jaxpr(lambda x: vnp.exp(x) + 1.0)(vnp.ones(2))

    def outer(x):
        return eval_jaxpr(inner.jaxpr, inner.consts, x * 2.0)[0]

    text = str(vfunc.make_jaxpr(outer)(vnp.ones(2)))
    assert "mul a 2.0" in text and "exp b" in text and "add c 1.0" in text


def test_eval_shape_with_structs_and_arrays():
    def f(x, y):
        return {"s": x.sum(axis=1), "p": x @ y}

    out = vfunc.eval_shape(
        f, vfunc.ShapeDtypeStruct((3, 4), vnp.float32), vnp.zeros((4, 2), dtype=vnp.int32)
    )
    assert out["s"] == vfunc.ShapeDtypeStruct((3,), np.float32)
    assert out["p"] == vfunc.ShapeDtypeStruct((3, 2), np.float32)
    assert repr(out["s"]) == "ShapeDtypeStruct(shape=(3,), dtype=float32)"


def test_returning_a_non_array_is_a_type_error():
    with pytest.raises(TypeError, match="returned a str leaf"):
        vfunc.make_jaxpr(lambda x: "nope")(vnp.ones(2))


def test_tracer_iteration_slices_rows():
    jaxpr = vfunc.make_jaxpr(lambda x: [row * 2.0 for row in x])(vnp.ones((2, 3)))
    assert str(jaxpr).count("slice[") == 2 and str(jaxpr).count("squeeze[") == 2


def test_tracer_repr_and_shape_properties():
    seen = {}

    def f(x):
        seen["repr"] = repr(x)
        seen["props"] = (x.shape, x.dtype, x.ndim, x.size, len(x))
        return x

    vfunc.make_jaxpr(f)(vnp.ones((2, 3)))
    assert seen["repr"] == "JitTracer(float32[2,3])"  # JAX's spelling
    assert seen["props"] == ((2, 3), np.dtype("float32"), 2, 6, 2)


# ----------------------------------------------------------------------------------------------
# Errors under tracing


@pytest.mark.parametrize(
    "use",
    [
        lambda x: x if x.sum() > 0 else -x,
        lambda x: float(x.sum()),
        lambda x: int(x[0] if False else x.sum()),
        lambda x: np.asarray(x),
        lambda x: x.sum().item(),
    ],
    ids=["if", "float", "int", "np.asarray", "item"],
)
def test_concretization_error_names_argument_and_fix(use):
    def f(weights, bias):
        return use(weights + 1.0) + bias

    with pytest.raises(ConcretizationTypeError) as info:
        vfunc.make_jaxpr(f)(vnp.ones(3), vnp.zeros(3))
    message = str(info.value)
    assert isinstance(info.value, TypeError)
    assert "argument weights" in message and "bias" not in message.split("static")[0]
    assert "static_argnums" in message and "lax.cond" in message


def test_concretization_error_names_pytree_path():
    def f(params):
        return params["layers"][1] * 2 if params["layers"][1].sum() > 0 else params["layers"][0]

    with pytest.raises(ConcretizationTypeError, match=r"argument params\['layers'\]\[1\]"):
        vfunc.make_jaxpr(f)({"layers": [vnp.ones(2), vnp.ones(2)]})


def test_leaked_tracer_is_reported():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    vfunc.make_jaxpr(f)(vnp.ones(2))
    with pytest.raises(UnexpectedTracerError, match="leaked tracer"):
        vfunc.make_jaxpr(lambda y: y + leaked[0])(vnp.ones(2))
    with pytest.raises(UnexpectedTracerError, match="already finished"):
        vnp.sin(leaked[0])


def test_shape_error_under_tracing_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) cannot be broadcast"):
        vfunc.make_jaxpr(lambda x, y: x + y)(vnp.ones(3), vnp.ones(4))


def test_failed_eager_call_leaves_cache_consistent():
    x, y = vnp.ones(3), vnp.ones(4)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        lax.add(x, y)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        lax.add(x, y)  # the failure was not cached as a success
    assert lax.add(x, x).tolist() == [2.0, 2.0, 2.0]


# ----------------------------------------------------------------------------------------------
# Threads and configuration


def test_two_threads_trace_without_seeing_each_other():
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def trace(name, op):
        def f(x):
            barrier.wait(timeout=10)  # both threads are now inside their traces at once
            y = op(x)
            barrier.wait(timeout=10)
            return op(y)

        try:
            results[name] = str(vfunc.make_jaxpr(f)(vnp.ones(2)))
        except BaseException as err:  # surfaced in the main thread below
            errors.append(err)

    threads = [
        threading.Thread(target=trace, args=("sin", vnp.sin)),
        threading.Thread(target=trace, args=("exp", vnp.exp)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results["sin"] == (
        "{ lambda ; a:f32[2]. let\n    b:f32[2] = sin a\n    c:f32[2] = sin b\n  in (c,) }"
    )
    assert "exp" not in results["sin"] and "sin" not in results["exp"]


def test_eager_ops_in_another_thread_are_not_staged():
    outputs = []

    def f(x):
        worker = threading.Thread(target=lambda: outputs.append(vnp.ones(2) + 1.0))
        worker.start()
        worker.join()
        return x

    vfunc.make_jaxpr(f)(vnp.ones(2))
    assert type(outputs[0]).__name__ == "ArrayImpl" and outputs[0].tolist() == [2.0, 2.0]


def test_enable_x64_switches_default_types(x64):
    assert vnp.ones(2).dtype == np.float64
    assert vnp.arange(3).dtype == np.int64
    assert vnp.array(np.float64(1.5)).dtype == np.float64
    assert str(vfunc.make_jaxpr(vnp.sin)(vnp.ones(2))) == (
        "{ lambda ; a:f64[2]. let b:f64[2] = sin a in (b,) }"
    )


def test_x64_off_narrows():
    assert vnp.array(np.arange(3, dtype=np.int64)).dtype == np.int32
    assert vnp.array(np.ones(2)).dtype == np.float32


def test_environment_variable_enables_x64():
    env = dict(os.environ, VFUNC_ENABLE_X64="1")
    code = "import vfunc.numpy as vnp; print(vnp.ones(1).dtype, vnp.arange(2).dtype)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["float64", "int64"]


def test_unknown_config_flag():
    with pytest.raises(AttributeError, match="no flag 'enable_x32'"):
        vfunc.config.update("enable_x32", True)


@pytest.mark.parametrize("transform", ["grad", "jvp", "vmap", "grad_of_vmap"])
def test_numpy_on_a_traced_value_raises_instead_of_dropping_the_derivative(transform):
    # np.asarray of a tracer used to hand out its primal: NumPy then computed without the
    # trace, and grad returned a silent zero for that path (found by autograd's test suite).
    from vfunc.errors import TracerArrayConversionError

    def f(x):
        return vnp.sum(np.asarray(x) * x)

    x = vnp.arange(3.0)
    run = {
        "grad": lambda: vfunc.grad(f)(x),
        "jvp": lambda: vfunc.jvp(f, (x,), (vnp.ones(3),)),
        "vmap": lambda: vfunc.vmap(f)(vnp.ones((2, 3))),
        "grad_of_vmap": lambda: vfunc.grad(lambda x: vnp.sum(vfunc.vmap(f)(x)))(vnp.ones((2, 3))),
    }[transform]
    # Under vmap the batched value has no single concrete value: that trace's own error.
    expected = ConcretizationTypeError if "vmap" in transform else TracerArrayConversionError
    with pytest.raises(expected) as info:
        run()
    assert isinstance(info.value, TypeError)  # `except TypeError` in user code still works
    # The same function written with vfunc.numpy differentiates: 2x.
    np.testing.assert_allclose(vfunc.grad(lambda x: vnp.sum(vnp.asarray(x) * x))(x), 2 * x)
