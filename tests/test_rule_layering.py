"""The rules of the indexing, sorting, conv, window, random and decomposition primitives are
written in the primitive layer's own builders, never in the Array operators and methods that
``vfunc.numpy`` installs (``g * x``, ``-g``, ``x.T``, ``x[i]``, ``x.sum()``): with those poisoned,
reverse mode, forward mode, vmap and grad-of-grad of every primitive still run.

Each case is a function of float arrays that binds one primitive; the test differentiates and
batches it with the front end's operators replaced by ones that raise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import vfunc
import vfunc.primitives.builders as lax
from vfunc.core import Array, Primitive, registry
from vfunc.numpy import _methods
from vfunc.primitives import (
    conv,
    decompositions,
    elementwise,
    indexing,
    linalg,
    random,
    reduction,
    shape,
    sorting,
    window,
)


class FrontEndOperatorUsed(AssertionError):
    """A primitive rule used an operator or method that only vfunc.numpy provides."""


# The families checked here; the others (elementwise, reduction, shape, control flow) are
# checked once their rules are written in builders too: add their modules to this tuple.
CHECKED = (indexing, sorting, conv, window, random, decompositions)
_RULES = ("vjp", "jvp", "batch", "vjp_forward", "jvp_full")


def _declared(modules) -> list[Primitive]:
    """The primitives these modules declare (not the ones they import from other families)."""
    others = {id(v) for m in (elementwise, linalg, reduction, shape) for v in vars(m).values()}
    found = {id(v): v for m in modules for v in vars(m).values() if isinstance(v, Primitive)}
    return [p for key, p in found.items() if key not in others]


def _installed_names() -> list[str]:
    names = []
    for op in _methods._BINARY:
        names += [f"__{op}__", f"__r{op}__"]
    names += [f"__{op}__" for op in (*_methods._COMPARISONS, *_methods._UNARY)]
    return names + list(_methods._METHODS) + list(_methods._PROPERTIES)


def _poison(monkeypatch) -> None:
    """While a rule of a CHECKED primitive runs (not the rules of the builders it calls, which
    run nested inside it under forward mode and vmap), every operator and method vfunc.numpy
    installs on Array raises FrontEndOperatorUsed."""
    inside: list[bool] = []  # per running rule, innermost last: is it a checked primitive's?
    checked = {id(p) for p in _declared(CHECKED)}

    def guard_rule(rule, is_checked: bool):
        def run(*args, **kwargs):
            inside.append(is_checked)
            try:
                return rule(*args, **kwargs)
            finally:
                inside.pop()

        return run

    def guard_operator(original, name: str):
        def op(*args, **kwargs):
            if inside and inside[-1]:
                raise FrontEndOperatorUsed(f"a rule used Array.{name}, installed by vfunc.numpy")
            return original(*args, **kwargs)

        return op

    for prim in list(registry.values()):
        for rule in _RULES:
            if getattr(prim, rule) is not None:
                monkeypatch.setattr(
                    prim, rule, guard_rule(getattr(prim, rule), id(prim) in checked)
                )
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
    x * x  # outside a checked rule: allowed
    with pytest.raises(FrontEndOperatorUsed):  # a checked rule using an operator
        vfunc.grad(lambda x: lax.reduce_sum(lax.cumsum(x, 1), (0, 1)))(x)


# ----------------------------------------------------------------------------------------------
# Cases: name -> (function of float arrays binding the primitive, its arguments)

_RNG = np.random.default_rng(0)


def _f(*shape):
    return lax.as_array(_RNG.normal(size=shape).astype(np.float64))


def _spd(n):
    a = _RNG.normal(size=(n, n))
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
    "fma": (lambda x, y, z: random.fma_p.bind(x, y, z), (_f(3, 1), _f(4), _f(3, 4))),
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
    return [lax.as_array(_RNG.normal(size=out.shape).astype(out.dtype))]


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_rules_need_no_front_end(name, x64, front_end_poisoned):
    fn, args = DIFFERENTIABLE[name]
    loss = _scalar(fn, _weights_for(fn, args))
    argnums = tuple(range(len(args)))
    vfunc.grad(loss, argnums)(*args)  # reverse mode
    tangents = tuple(lax.mul(a, 0.5) for a in args)
    vfunc.jvp(fn, args, tangents)  # forward mode
    stacked = [lax.broadcast_in_dim(a, (2, *a.shape), tuple(range(1, a.ndim + 1))) for a in args]
    vfunc.vmap(fn)(*stacked)
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


def test_every_primitive_of_these_families_has_a_case():
    declared = {p.name for p in _declared(CHECKED)}
    covered = {n.split(":")[0] for n in (*DIFFERENTIABLE, *NOT_DIFFERENTIABLE)}
    assert declared <= covered, declared - covered
