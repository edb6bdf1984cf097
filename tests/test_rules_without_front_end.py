"""The primitive layer does not lean on the NumPy front end.

``vfunc.numpy`` installs Python operators and methods on ``Array`` (``g * out``, ``x.T``,
``x.reshape``...) with its promotion rules; the rules of the primitives in ``elementwise``,
``reduction``, ``shape`` and ``linalg`` must be written with the primitive layer's builders
instead. Each test here replaces every installed operator, method and property by one that
raises, then runs the rules through grad, jvp and vmap (grad of grad for elementwise ops), so
any rule using a front-end operator fails loudly and names the operator.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import vfunc
from vfunc import lax
from vfunc.core import Array, Primitive
from vfunc.numpy import _methods

pytestmark = pytest.mark.usefixtures("x64_off")

FAMILIES = (
    "vfunc.primitives.elementwise",
    "vfunc.primitives.reduction",
    "vfunc.primitives.shape",
    "vfunc.primitives.linalg",
)


class FrontEndUsed(AssertionError):
    """A rule of the primitive layer used an Array operator or method of ``vfunc.numpy``."""


def _installed_names() -> list[str]:
    names = []
    for name in _methods._BINARY:
        names += [f"__{name}__", f"__r{name}__"]
    names += [f"__{name}__" for name in (*_methods._COMPARISONS, *_methods._UNARY)]
    return names + list(_methods._METHODS) + list(_methods._PROPERTIES)


def _poison(name: str):
    def used(*args, **kwargs):
        raise FrontEndUsed(f"Array.{name} (installed by vfunc.numpy) was used")

    return property(used) if name in _methods._PROPERTIES else used


@pytest.fixture
def no_front_end(monkeypatch):
    """Every Array operator/method vfunc.numpy installed raises FrontEndUsed meanwhile."""
    for name in _installed_names():
        assert hasattr(Array, name), name
        monkeypatch.setattr(Array, name, _poison(name))


def test_poisoning_catches_an_operator(no_front_end):
    x = lax.as_array(np.ones(3, np.float32))
    with pytest.raises(FrontEndUsed, match="__mul__"):
        x * x  # noqa: B018
    with pytest.raises(FrontEndUsed, match="T"):
        x.T  # noqa: B018


# ----------------------------------------------------------------------------------------------
# One call per primitive of the four families: builders only (the front end is poisoned).


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
    from vfunc.core import ShapedArray

    return ShapedArray(x.shape, x.dtype, x.weak_type)


SPECIAL_CASES = {
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
    "dot_general": lambda: (
        [_floats((2, 3, 4), 32), _floats((2, 4, 5), 33)],
        {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))},
    ),
}


def _family_primitives() -> list:
    found = {}
    for module in FAMILIES:
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, Primitive):
                found[value.name] = value
    return [found[name] for name in sorted(found)]


PRIMITIVES = _family_primitives()


def _case(prim):
    if prim.name in SPECIAL_CASES:
        return SPECIAL_CASES[prim.name]()
    assert prim.elementwise, f"add an example for {prim.name} to SPECIAL_CASES"
    return _elementwise_case(prim)


def _float_positions(args) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")


def _scalar_loss(prim, params, args, positions):
    def loss(*diff):
        full = list(args)
        for i, value in zip(positions, diff, strict=True):
            full[i] = value
        out = prim.bind(*full, **params)
        outs = out if prim.multiple_results else [out]
        total = None
        for o in outs:
            if o.dtype.kind == "f":
                o = lax.convert_element_type(o, np.float32)
                s = lax.reduce_sum(o, tuple(range(o.ndim)))
                total = s if total is None else lax.add(total, s)
        return total

    return loss


def test_every_family_primitive_has_a_case():
    assert len(PRIMITIVES) >= 60
    for prim in PRIMITIVES:
        args, params = _case(prim)
        prim.bind(*args, **params)


@pytest.mark.parametrize("prim", PRIMITIVES, ids=lambda p: p.name)
def test_rules_use_builders_only(prim, no_front_end):
    args, params = _case(prim)
    positions = _float_positions(args)
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
            vfunc.grad(lambda *d: lax.reduce_sum(first(*d), tuple(range(d[0].ndim))))(*diff)
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
