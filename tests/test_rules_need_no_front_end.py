"""The rules of every primitive in the registry are written in the primitive layer's own
builders, never in the Array operators and methods that ``vfunc.numpy`` installs (``g * x``,
``-g``, ``x.T``, ``x[i]``, ``x.sum()``) with its promotion rules: the primitive layer, control
flow and the custom rules do not lean on the NumPy front end.

While any primitive's rule runs (its VJP, JVP, batching rule, ``vjp_forward`` or ``jvp_full``),
every operator, method and property vfunc.numpy installs on Array (and so on tracers) raises
FrontEndOperatorUsed, naming the operator. Each primitive has a case: its operands and params
(elementwise ops get theirs from the dtypes their shape rule accepts), or a function binding it.
Reverse mode, forward mode, vmap, vmap of grad and grad of grad then run under the poison.
``test_every_registered_primitive_has_a_case`` fails for a primitive added without one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import vfunc
import vfunc.primitives.builders as lax
from vfunc import lax as control
from vfunc.core import Array, ShapedArray, registry
from vfunc.numpy import _methods
from vfunc.primitives import conv, decompositions, indexing, random, sorting, window


class FrontEndOperatorUsed(AssertionError):
    """A primitive rule used an operator or method that only vfunc.numpy provides."""


_RULES = ("vjp", "jvp", "batch", "vjp_forward", "jvp_full", "axis_batch")


def _installed_names() -> list[str]:
    names = []
    for op in _methods._BINARY:
        names += [f"__{op}__", f"__r{op}__"]
    names += [f"__{op}__" for op in (*_methods._COMPARISONS, *_methods._UNARY)]
    return names + list(_methods._METHODS) + list(_methods._PROPERTIES)


def _poison(monkeypatch) -> None:
    """While a rule of any registered primitive runs, every operator and method vfunc.numpy
    installs on Array raises FrontEndOperatorUsed (outside rules, the test may use them)."""
    running: list[str] = []  # the primitives whose rules are running, innermost last

    def guard_rule(rule, name: str):
        def run(*args, **kwargs):
            running.append(name)
            try:
                return rule(*args, **kwargs)
            finally:
                running.pop()

        return run

    def guard_operator(original, name: str):
        def op(*args, **kwargs):
            if running:
                raise FrontEndOperatorUsed(
                    f"a rule of {running[-1]} used Array.{name}, installed by vfunc.numpy"
                )
            return original(*args, **kwargs)

        return op

    for prim in list(registry.values()):
        for rule in _RULES:
            if getattr(prim, rule, None) is not None:  # axis_batch: collectives only
                monkeypatch.setattr(prim, rule, guard_rule(getattr(prim, rule), prim.name))
    for name in _installed_names():
        original = Array.__dict__[name]
        if isinstance(original, property):
            monkeypatch.setattr(Array, name, property(guard_operator(original.fget, name)))
        else:
            monkeypatch.setattr(Array, name, guard_operator(original, name))


@pytest.fixture
def front_end_poisoned(monkeypatch):
    """The test runs with _poison in force (undone afterwards)."""
    _poison(monkeypatch)


def test_poison_catches_an_operator(monkeypatch):
    monkeypatch.setattr(sorting.cumsum_p, "vjp", lambda g, x, out, **p: (g * 1,))
    _poison(monkeypatch)
    x = lax.as_array(np.ones((2, 3), np.float32))
    x * x  # outside a rule: allowed
    with pytest.raises(FrontEndOperatorUsed, match="cumsum used Array.__mul__"):
        vfunc.grad(lambda x: lax.reduce_sum(lax.cumsum(x, 1), (0, 1)))(x)
    with pytest.raises(FrontEndOperatorUsed, match="cumsum used Array.__mul__"):
        vfunc.jit(vfunc.grad(lambda x: lax.reduce_sum(lax.cumsum(x, 1), (0, 1))))(x)


# ----------------------------------------------------------------------------------------------
# Cases of primitives bound with operands and params (float32): name -> () -> (args, params).
# Elementwise primitives not listed get operands from the dtypes their shape rule accepts.


def _floats(shape, seed, lo=0.2, hi=0.8):
    values = np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)
    return lax.as_array(values)


def _ints(shape, seed, lo=0, hi=5):
    values = np.random.default_rng(seed).integers(lo, hi, shape).astype(np.int32)
    return lax.as_array(values)


def _elementwise_case(prim):
    """(args, params) for an elementwise primitive, from the kinds its shape rule accepts."""
    arity = prim.shape_rule.__code__.co_argcount
    for dtype_args in (
        [_floats((3, 4), 0), _floats((1, 4), 1)],  # broadcasting: cotangents are unbroadcast
        [_ints((3, 4), 2), _ints((1, 4), 3)],
        [lax.as_array(np.arange(12).reshape(3, 4) % 2 == 0), lax.as_array(np.ones((1, 4), bool))],
    ):
        args = dtype_args[:arity]
        try:
            prim.abstract_eval(*[a.aval if hasattr(a, "aval") else _aval(a) for a in args])
        except (TypeError, ValueError):
            continue
        return args, {}
    raise AssertionError(f"no example operands for {prim.name}")


def _aval(x):
    return ShapedArray(x.shape, x.dtype, x.weak_type)


BOUND_CASES = {
    "select": lambda: (
        [
            lax.as_array(np.arange(12).reshape(3, 4) % 3 == 0),
            _floats((3, 4), 4),
            _floats((3, 4), 5),
        ],
        {},
    ),
    "convert_element_type": lambda: (
        [_floats((3, 4), 6)],
        {"new_dtype": np.dtype("float64"), "weak_type": False},
    ),
    "round": lambda: ([_floats((3, 4), 7, -3, 3)], {"rounding_method": 0}),
    "reduce_sum": lambda: ([_floats((3, 4, 2), 8)], {"axes": (0, 2)}),
    "reduce_prod": lambda: ([_floats((3, 4, 2), 9)], {"axes": (1,)}),
    "reduce_max": lambda: ([_floats((3, 4, 2), 10)], {"axes": (0, 2)}),
    "reduce_min": lambda: ([_floats((3, 4, 2), 11)], {"axes": (1,)}),
    "argmax": lambda: ([_floats((3, 4), 12)], {"axis": 1, "index_dtype": np.dtype("int32")}),
    "argmin": lambda: ([_floats((3, 4), 13)], {"axis": 0, "index_dtype": np.dtype("int32")}),
    "broadcast_in_dim": lambda: (
        [_floats((3, 1), 14)],
        {"shape": (2, 3, 4), "broadcast_dimensions": (1, 2)},
    ),
    "reshape": lambda: ([_floats((3, 4), 15)], {"new_sizes": (2, 6)}),
    "transpose": lambda: ([_floats((3, 4, 2), 16)], {"permutation": (2, 0, 1)}),
    "squeeze": lambda: ([_floats((3, 1, 4), 17)], {"dimensions": (1,)}),
    "expand_dims": lambda: ([_floats((3, 4), 18)], {"dimensions": (0, 2)}),
    "slice": lambda: (
        [_floats((5, 6), 19)],
        {"start_indices": (1, 0), "limit_indices": (5, 6), "strides": (2, 3)},
    ),
    "iota": lambda: ([], {"dtype": np.dtype("float32"), "shape": (3, 4), "dimension": 1}),
    "rev": lambda: ([_floats((3, 4), 20)], {"dimensions": (1,)}),
    "concatenate": lambda: ([_floats((3, 4), 21), _floats((2, 4), 22)], {"dimension": 0}),
    "split": lambda: ([_floats((3, 4), 45)], {"sizes": (1, 3), "axis": 1}),
    "pad": lambda: (
        [_floats((3, 4), 23), _floats((), 24)],
        {"padding_config": ((1, -1, 1), (0, 2, 0))},
    ),
    "dynamic_slice": lambda: (
        [_floats((5, 6), 25), _ints((), 26), _ints((), 27)],
        {"slice_sizes": (2, 3)},
    ),
    "dynamic_update_slice": lambda: (
        [_floats((5, 6), 28), _floats((2, 3), 29), _ints((), 30), _ints((), 31)],
        {},
    ),
    "fma": lambda: ([_floats((3, 1), 43), _floats((4,), 44), _floats((3, 4), 45)], {}),
    "zeta": lambda: ([_floats((3, 4), 34, 1.5, 3.0), _floats((1, 4), 35, 0.5, 2.0)], {}),
    "igamma": lambda: ([_floats((3, 4), 36, 0.5, 3.0), _floats((1, 4), 37, 0.5, 2.0)], {}),
    "igammac": lambda: ([_floats((3, 4), 38, 0.5, 3.0), _floats((1, 4), 39, 0.5, 2.0)], {}),
    "betainc": lambda: (
        [_floats((3, 4), 40, 0.5, 3.0), _floats((3, 4), 41, 0.5, 3.0), _floats((1, 4), 42)],
        {},
    ),
    "dot_general": lambda: (
        [_floats((2, 3, 4), 32), _floats((2, 4, 5), 33)],
        {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))},
    ),
    "real": lambda: ([_complex((3, 4), 46)], {}),
    "imag": lambda: ([_complex((3, 4), 47)], {}),
    "conj": lambda: ([_complex((3, 4), 48)], {}),
    # irfft: its VJP runs rfft's forward, conj and mul; rfft's VJP pad, fft and real
    "fft": lambda: ([_complex((3, 4), 49)], {"fft_type": "irfft", "fft_lengths": (3, 6)}),
}


def _real_sum(x):
    x = lax.real(x) if x.dtype.kind == "c" else x
    return lax.reduce_sum(x, tuple(range(x.ndim)))


def _complex(shape, seed):
    return lax.complex(_floats(shape, seed), _floats(shape, seed + 100))


BOUND = [p for name, p in sorted(registry.items()) if name in BOUND_CASES or p.elementwise]


def _case(prim):
    if prim.name in BOUND_CASES:
        return BOUND_CASES[prim.name]()
    return _elementwise_case(prim)


# Operands without a derivative (as in JAX): held constant, the others differentiated.
HELD = {"zeta": (0,), "igamma": (0,), "igammac": (0,), "betainc": (0, 1)}


def _float_positions(prim, args) -> tuple[int, ...]:
    held = HELD.get(prim.name, ())
    return tuple(i for i, a in enumerate(args) if a.dtype.kind in "fc" and i not in held)


def _scalar_loss(prim, params, args, positions):
    def loss(*diff):
        full = list(args)
        for i, value in zip(positions, diff, strict=True):
            full[i] = value
        out = prim.bind(*full, **params)
        outs = out if prim.multiple_results else [out]
        total = None
        for o in outs:
            if o.dtype.kind == "c":  # a real loss of a complex output: its real part
                o = lax.real(o)
            if o.dtype.kind == "f":
                o = lax.convert_element_type(o, np.float32)
                s = lax.reduce_sum(o, tuple(range(o.ndim)))
                total = s if total is None else lax.add(total, s)
        return total

    return loss


@pytest.mark.parametrize("prim", BOUND, ids=lambda p: p.name)
def test_bound_primitive_rules_need_no_front_end(prim, x64_off, front_end_poisoned):
    args, params = _case(prim)
    positions = _float_positions(prim, args)
    differentiable = prim.differentiable and positions
    if differentiable:
        loss = _scalar_loss(prim, params, args, positions)
        diff = [args[i] for i in positions]
        argnums = tuple(range(len(diff)))
        vfunc.grad(loss, argnums=argnums)(*diff)
        tangents = [lax.mul(d, 0.5) for d in diff]
        vfunc.jvp(loss, diff, tangents)
        vfunc.jit(vfunc.grad(loss, argnums=argnums))(*diff)
        if prim.elementwise:  # second order: the rules' own rules
            first = vfunc.grad(loss, argnums=0)
            vfunc.grad(lambda *d: _real_sum(first(*d)))(*diff)
    if not args:
        return
    # vmap: every operand batched (at its last axis when it has one), then only the first.
    stacked = [lax.concatenate([lax.expand_dims(a, (a.ndim,))] * 2, a.ndim) for a in args]
    in_axes = tuple(a.ndim for a in args)
    vfunc.vmap(lambda *a: prim.bind(*a, **params), in_axes=in_axes)(*stacked)
    first_only = (in_axes[0],) + (None,) * (len(args) - 1)
    vfunc.vmap(lambda *a: prim.bind(*a, **params), in_axes=first_only)(stacked[0], *args[1:])
    if differentiable:  # vmap of grad: the rules applied to batched tracers
        loss = _scalar_loss(prim, params, args, positions)
        argnums = tuple(range(len(positions)))
        batched_grad = vfunc.vmap(
            vfunc.grad(loss, argnums=argnums), in_axes=tuple(in_axes[i] for i in positions)
        )
        batched_grad(*[stacked[i] for i in positions])


# ----------------------------------------------------------------------------------------------
# Cases of primitives used through a function of float arrays (float64), with control flow and
# the custom rules: name[:variant] -> (function binding the primitive, its arguments)

_TABLE_RNG = np.random.default_rng(0)  # only while the tables below are built, at import


def _f(*shape):
    return lax.as_array(_TABLE_RNG.normal(size=shape).astype(np.float64))


def _spd(n):
    a = _TABLE_RNG.normal(size=(n, n))
    return lax.as_array(a @ a.T + n * np.eye(n))


def _int(values):
    return lax.as_array(np.asarray(values, np.int64))


_IDX = _int([2, 0, 2, -1])
_SLICE_SPEC = (("slice", 1, 4, 1), ("array", 0))
_ARRAY_SPEC = (("array", 0), ("slice", 0, 3, 1))
_CONV = conv.canonical_params((1, 2), ((1, 0), (0, 1)), (1, 1), (1, 1), 1)
_WINDOW = window.window_params((2, 2), (1, 2), ((0, 1), (1, 0)), (1, 1), (1, 1))
_KEY = lax.as_array(np.array([0, 42], np.uint32))
_TRI = dict(left_side=True, lower=True, transpose_a=False, unit_diagonal=False)


def _scatter(prim):
    return lambda x, u: prim.bind(x, u, _IDX, spec=_ARRAY_SPEC)


def _cond(x):
    # The predicate depends on x, so under vmap it is batched too.
    positive = lax.gt(lax.reduce_sum(x, tuple(range(x.ndim))), 0.0)
    return control.cond(positive, lax.sin, lambda v: lax.mul(v, v), x)


def _scan(h, xs, w):
    def step(carry, x):  # w is a const of the loop: its cotangent is summed over the steps
        new = lax.tanh(lax.add(lax.mul(carry, w), x))
        return new, lax.sin(carry)

    last, ys = control.scan(step, h, xs)
    return lax.add(ys, lax.broadcast_in_dim(last, ys.shape, (1,)))


def _while(x):
    # The trip count (2 or 3) depends on x, so under vmap the predicate is batched too.
    positive = lax.gt(lax.reduce_sum(x, tuple(range(x.ndim))), 0.0)
    steps = lax.add(lax.convert_element_type(positive, np.int32), 2)

    def body(state):
        i, v = state
        return lax.add(i, 1), lax.sin(lax.mul(v, 1.5))

    def more(state):
        return lax.lt(state[0], steps)

    return control.while_loop(more, body, (lax.as_array(np.int32(0)), x))[1]


def _sin_squared(x):
    return lax.mul(lax.sin(x), lax.sin(x))


@vfunc.custom_jvp
def _custom_jvp_sin(x):
    return lax.sin(x)


@_custom_jvp_sin.defjvp
def _custom_jvp_sin_rule(primals, tangents):
    (x,), (t,) = primals, tangents
    return lax.sin(x), lax.mul(lax.cos(x), t)


@vfunc.custom_vjp
def _custom_vjp_sin(x):
    return lax.sin(x)


def _custom_vjp_sin_fwd(x):
    return lax.sin(x), lax.cos(x)


def _custom_vjp_sin_bwd(cos_x, g):
    return (lax.mul(g, cos_x),)


_custom_vjp_sin.defvjp(_custom_vjp_sin_fwd, _custom_vjp_sin_bwd)


DIFFERENTIABLE: dict[str, tuple[Callable, tuple]] = {
    "gather": (lambda x: indexing.gather_p.bind(x, _IDX, spec=_SLICE_SPEC), (_f(5, 4),)),
    "scatter": (_scatter(indexing.scatter_p), (_f(4, 3), _f(4, 3))),
    "scatter_add": (_scatter(indexing.scatter_add_p), (_f(4, 3), _f(4, 3))),
    "scatter_mul": (_scatter(indexing.scatter_mul_p), (_f(4, 3), _f(4, 3))),
    "scatter_min": (_scatter(indexing.scatter_min_p), (_f(4, 3), _f(4, 3))),
    "scatter_max": (_scatter(indexing.scatter_max_p), (_f(4, 3), _f(4, 3))),
    "sort": (
        lambda x, y: sorting.sort_p.bind(x, y, dimension=1, num_keys=1)[1],
        (_f(3, 5), _f(3, 5)),
    ),  # fmt: skip
    "cumsum": (lambda x: lax.cumsum(x, 1, reverse=True), (_f(3, 5),)),
    "cumprod": (lambda x: lax.cumprod(x, 1), (_f(3, 5),)),
    "cumprod:reverse": (lambda x: lax.cumprod(x, 0, reverse=True), (_f(3, 5),)),
    "cummax": (lambda x: lax.cummax(x, 0), (_f(3, 5),)),
    "cummin": (lambda x: lax.cummin(x, 1, reverse=True), (_f(3, 5),)),
    "conv_general_dilated": (
        lambda x, w: conv.conv_general_dilated_p.bind(x, w, **_CONV),
        (_f(2, 3, 5, 6), _f(4, 3, 2, 3)),
    ),  # fmt: skip
    "conv_input_grad": (
        lambda g, w: conv.conv_input_grad_p.bind(g, w, lhs_shape=(2, 3, 5, 6), **_CONV),
        (_f(2, 4, 5, 3), _f(4, 3, 2, 3)),
    ),
    "conv_weight_grad": (
        lambda x, g: conv.conv_weight_grad_p.bind(x, g, rhs_shape=(4, 3, 2, 3), **_CONV),
        (_f(2, 3, 5, 6), _f(2, 4, 5, 3)),
    ),
    "reduce_window_sum": (lambda x: window.reduce_window_sum_p.bind(x, **_WINDOW), (_f(4, 5),)),
    "reduce_window_sum_transpose": (
        lambda g: window.reduce_window_sum_transpose_p.bind(g, operand_shape=(4, 5), **_WINDOW),
        (_f(4, 3),),
    ),
    "reduce_window_max": (lambda x: window.reduce_window_max_p.bind(x, **_WINDOW), (_f(4, 5),)),
    "select_and_scatter_add": (
        lambda g, x: window.select_and_scatter_add_p.bind(g, x, **_WINDOW),
        (_f(4, 3), _f(4, 5)),
    ),
    "select_and_gather_add": (
        lambda t, x: window.select_and_gather_add_p.bind(t, x, **_WINDOW),
        (_f(4, 5), _f(4, 5)),
    ),
    "erf_inv": (lambda x: lax.erf_inv(lax.mul(lax.tanh(x), 0.9)), (_f(5),)),
    "random_gamma": (
        lambda a: random.random_gamma_p.bind(
            lax.broadcast_in_dim(_KEY, (4, 2), (1,)), lax.add(lax.exp(a), 0.5), log_space=False
        ),
        (_f(4),),
    ),
    "random_gamma:log_space": (
        lambda a: random.random_gamma_p.bind(
            lax.broadcast_in_dim(_KEY, (4, 2), (1,)), lax.add(lax.exp(a), 0.5), log_space=True
        ),
        (_f(4),),
    ),
    "cholesky": (lambda a: decompositions.cholesky_p.bind(a), (_spd(3),)),
    "triangular_solve": (
        lambda a, b: decompositions.triangular_solve_p.bind(lax.add(a, 3.0), b, **_TRI),
        (_f(3, 3), _f(3, 2)),
    ),
    "triangular_solve:right": (
        lambda a, b: decompositions.triangular_solve_p.bind(
            lax.add(a, 3.0), b, left_side=False, lower=False, transpose_a=True, unit_diagonal=True
        ),
        (_f(3, 3), _f(2, 3)),
    ),  # fmt: skip
    "solve": (lambda a, b: decompositions.solve_p.bind(a, b), (_spd(3), _f(3, 2))),
    "slogdet": (lambda a: decompositions.slogdet_p.bind(a)[1], (_spd(3),)),
    "det": (lambda a: decompositions.det_p.bind(a), (_spd(3),)),
    "eigh": (lambda a: decompositions.eigh_p.bind(a)[0], (_spd(3),)),
    "eigh:vectors": (lambda a: decompositions.eigh_p.bind(a)[1], (_spd(3),)),
    "svd": (
        lambda a: decompositions.svd_p.bind(a, full_matrices=False, compute_uv=True)[0],
        (_f(4, 3),),
    ),
    "svd:values": (
        lambda a: decompositions.svd_p.bind(a, full_matrices=False, compute_uv=False)[0],
        (_f(3, 4),),
    ),
    "qr": (lambda a: decompositions.qr_p.bind(a, full_matrices=False)[0], (_f(4, 3),)),
    "lu": (lambda a: decompositions.lu_p.bind(a)[0], (_f(3, 3),)),
    "cond": (lambda x: _cond(x), (_f(3, 2),)),
    "scan": (lambda h, xs, w: _scan(h, xs, w), (_f(2), _f(4, 2), _f(2))),
    "while": (lambda x: _while(x), (_f(3),)),
    "custom_jvp_call": (lambda x: _custom_jvp_sin(x), (_f(3, 2),)),
    "custom_vjp_call": (lambda x: _custom_vjp_sin(x), (_f(3, 2),)),
    "checkpoint": (lambda x: vfunc.checkpoint(_sin_squared)(x), (_f(3, 2),)),
    "jit": (lambda x: vfunc.jit(_sin_squared)(x), (_f(3, 2),)),
}


def _scalar(fn: Callable, weights: list) -> Callable:
    """sum(fn(*args) * weights): a scalar to differentiate."""

    def loss(*args):
        out = fn(*args)
        total = lax.reduce_sum(lax.mul(out, weights[0]), tuple(range(out.ndim)))
        return total

    return loss


def _weights_for(fn: Callable, args: tuple) -> list:
    out = fn(*args)
    rng = np.random.default_rng(1)
    return [lax.as_array(rng.normal(size=out.shape).astype(out.dtype))]


# Modes a primitive does not support, as in JAX: a while loop's trip count is known only at run
# time (no reverse mode); a custom VJP rule defines no forward mode.
FORWARD_ONLY = {"while"}
REVERSE_ONLY = {"custom_vjp_call"}


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_rules_need_no_front_end(name, x64, front_end_poisoned):
    fn, args = DIFFERENTIABLE[name]
    tangents = tuple(lax.mul(a, 0.5) for a in args)
    stacked = [lax.broadcast_in_dim(a, (2, *a.shape), tuple(range(1, a.ndim + 1))) for a in args]
    vfunc.vmap(fn)(*stacked)
    if name not in REVERSE_ONLY:
        vfunc.jvp(fn, args, tangents)  # forward mode
        vfunc.vmap(lambda *a: vfunc.jvp(fn, a, a)[1])(*stacked)  # vmap of jvp
    if name in FORWARD_ONLY:
        return
    loss = _scalar(fn, _weights_for(fn, args))
    argnums = tuple(range(len(args)))
    vfunc.grad(loss, argnums)(*args)  # reverse mode
    vfunc.vmap(vfunc.grad(loss, argnums))(*stacked)  # vmap of grad
    inner = vfunc.grad(loss)

    def grad_norm(*a):
        g = inner(*a)
        return lax.reduce_sum(lax.mul(g, g), tuple(range(g.ndim)))

    vfunc.grad(grad_norm, argnums)(*args)  # grad of grad


_KEYS = lax.as_array(np.array([[0, 1], [2, 3]], np.uint32))

NOT_DIFFERENTIABLE: dict[str, tuple[Callable, tuple]] = {
    "random_seed": (lambda s: random.random_seed_p.bind(s), (_int([1, 2]),)),
    "random_bits": (
        lambda k: random.random_bits_p.bind(k, shape=(3,), dtype=np.dtype(np.float32)),
        (_KEYS,),
    ),
    "random_normal": (
        lambda k: random.random_normal_p.bind(k, shape=(3,), dtype=np.dtype(np.float64)),
        (_KEYS,),
    ),
    "random_split": (lambda k: random.random_split_p.bind(k, shape=(2,)), (_KEYS,)),
    "random_fold_in": (
        lambda k, m: random.random_fold_in_p.bind(k, m),
        (_KEYS, lax.as_array(np.array([5, 6], np.uint32))),
    ),
    "nextafter": (lambda x, y: lax.nextafter(x, y), (_f(2, 3), _f(2, 3))),
    "random_gamma_grad": (
        lambda a, x: random.random_gamma_grad_p.bind(a, x),
        (lax.exp(_f(2, 3)), lax.exp(_f(2, 3))),
    ),  # fmt: skip
    "haar_orthogonal": (lambda z: random.haar_orthogonal_p.bind(z), (_f(2, 4, 3),)),
    "random_discrete": (
        lambda k, x, y: random.random_discrete_p.bind(k, x, y, kind="binomial"),
        (lax.broadcast_in_dim(_KEYS, (2, 3, 2), (0, 2)), lax.exp(_f(2, 3)), lax.logistic(_f(2, 3))),
    ),  # fmt: skip
    "mvn_factor": (
        lambda c: random.mvn_factor_p.bind(c, method="eigh"),
        (lax.broadcast_in_dim(_spd(3), (2, 3, 3), (1, 2)),),
    ),  # fmt: skip
    "lu_pivots_to_permutation": (
        lambda p: decompositions.lu_pivots_to_permutation_p.bind(p, size=4),
        (lax.as_array(np.array([[1, 3, 2], [0, 3, 3]], np.int32)),),
    ),
    # eig has no derivative (as in JAX); eigvals' first derivatives are checked against JAX in
    # test_linalg_complex.py (its rules need eig's vectors, so it has no second derivative)
    "eig": (lambda a: decompositions.eig_p.bind(a)[0], (_f(2, 3, 3),)),
    "eigvals": (lambda a: decompositions.eigvals_p.bind(a), (_f(2, 3, 3),)),
}


@pytest.mark.parametrize("name", list(NOT_DIFFERENTIABLE))
def test_batch_rules_need_no_front_end(name, x64, front_end_poisoned):
    fn, args = NOT_DIFFERENTIABLE[name]
    expected = [np.asarray(fn(*[lax.index_in_dim(a, i, 0, False) for a in args]))
                for i in range(2)]  # fmt: skip
    batched = vfunc.vmap(fn)(*args)
    for i, want in enumerate(expected):
        np.testing.assert_array_equal(np.asarray(batched)[i], want)
    # Mapped over an inner axis too: the rule must move it.
    axes = tuple(1 if a.ndim > 1 else 0 for a in args)
    moved = [lax.transpose(a, (1, 0, *range(2, a.ndim))) if a.ndim > 1 else a for a in args]
    np.testing.assert_array_equal(np.asarray(vfunc.vmap(fn, in_axes=axes)(*moved)),
                                  np.asarray(batched))  # fmt: skip


def test_every_registered_primitive_has_a_case():
    covered = set(BOUND_CASES) | {n.split(":")[0] for n in (*DIFFERENTIABLE, *NOT_DIFFERENTIABLE)}
    covered |= set(COLLECTIVE) | {"debug_callback"}
    assert len(registry) >= 120  # every family module is imported
    missing = {name for name, p in registry.items() if name not in covered and not p.elementwise}
    assert not missing, f"add a case for {sorted(missing)}"
    assert covered <= set(registry), covered - set(registry)  # no case of a removed primitive
    for prim in BOUND:
        args, params = _case(prim)
        prim.bind(*args, **params)


# Collectives bind only under a named axis: each case is a per-member function run under
# vmap(axis_name="i") over 2 members; axis_size is no primitive (a trace-time constant).
_members = 2
COLLECTIVE: dict[str, Callable] = {
    "psum": lambda x: control.psum(x, "i"),
    "pmax": lambda x: control.pmax(x, "i"),
    "pmin": lambda x: control.pmin(x, "i"),
    "all_gather": lambda x: lax.reshape(control.all_gather(x, "i"), (2 * 4,)),
    "psum_scatter": lambda x: control.psum_scatter(x, "i", tiled=True),
    "all_to_all": lambda x: lax.reshape(control.all_to_all(x, "i", 0, 0, tiled=True), (4,)),
    "ppermute": lambda x: control.ppermute(x, "i", [(0, 1), (1, 0)]),
    "axis_index": lambda x: lax.mul(x, lax.convert_element_type(control.axis_index("i"),
                                                                x.dtype)),  # fmt: skip
}


@pytest.mark.parametrize("name", list(COLLECTIVE))
def test_collective_rules_need_no_front_end(name, x64, front_end_poisoned):
    member = COLLECTIVE[name]
    xs = _f(_members, 4)
    named = vfunc.vmap(member, axis_name="i")
    named(xs)
    vfunc.jvp(named, (xs,), (lax.mul(xs, 0.5),))  # forward mode through the collective

    def loss(x):
        out = named(x)
        return lax.reduce_sum(lax.mul(out, out), tuple(range(out.ndim)))

    vfunc.grad(loss)(xs)  # reverse mode: the collective's transpose
    vfunc.vmap(named)(lax.broadcast_in_dim(xs, (2, *xs.shape), (1, 2)))  # an outer vmap


def test_debug_callback_rules_need_no_front_end(x64, front_end_poisoned):
    seen = []

    def f(x):
        vfunc.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return lax.mul(x, x)

    x = _f(3)
    vfunc.vmap(f)(lax.broadcast_in_dim(x, (2, 3), (1,)))
    vfunc.jvp(f, (x,), (x,))
    vfunc.grad(lambda v: lax.reduce_sum(f(v), (0,)))(x)
    assert len(seen) == 2 + 1 + 1  # once per vmap member, then once per transformed call
