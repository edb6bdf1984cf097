"""Derivative rules that were rewritten for speed, checked against float64 finite differences in
the configurations the rewrite distinguishes.

Binary elementwise rules are split per operand: the backward pass computes only the cotangents
it needs (``wants``) and forward mode applies each side to its operand's tangent. Every split
must agree with finite differences for each operand alone and both together, with broadcasting
in either direction (``max``'s selects once failed on a broadcast tangent in forward mode).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from vfunc.core import registry
from vfunc.testing import check_grads


def _arity(prim) -> int:
    """How many operands the primitive takes: its shape rule's positional parameters."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(prim.shape_rule).parameters.values()
    return sum(p.kind in kinds for p in params)


# Every elementwise rule split per operand, binary or wider (fma): each extra operand repeats the
# first operand's shape and draws from the first operand's range.
SPLIT = sorted(
    name for name, prim in registry.items()
    if prim.elementwise and prim.vjp_wants and prim.vjp is not None
)  # fmt: skip
BINARY = [name for name in SPLIT if _arity(registry[name]) == 2]
SHAPES = [((3, 1), (1, 4)), ((3, 4), ()), ((), (3, 4)), ((4,), (3, 4)), ((2, 3), (2, 3))]


def test_the_binary_battery_covers_the_split_rules():
    assert {"add", "sub", "mul", "div", "pow", "max", "min", "atan2"} <= set(BINARY)
    assert "fma" in SPLIT and "fma" not in BINARY


@pytest.mark.parametrize("operands", [(0,), (1,), (0, 1)], ids=["x", "y", "both"])
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}-{s[1]}")
@pytest.mark.parametrize("name", BINARY)
def test_binary_rule_split_per_operand_matches_finite_differences(name, shapes, operands):
    # Values away from every kink (rem's jumps, max's ties, pow's zero base).
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, shapes[0])
    y = rng.uniform(1.1, 1.6, shapes[1])
    prim = registry[name]

    def f(*diff):
        args = [x, y]
        for i, d in zip(operands, diff, strict=True):
            args[i] = d
        return prim.bind(*args)

    check_grads(f, tuple((x, y)[i] for i in operands), order=2)


WIDER = [name for name in SPLIT if _arity(registry[name]) > 2]
WIDER_SHAPES = [((3, 1), (1, 4), ()), ((4,), (3, 4), (3, 1)), ((2, 3), (2, 3), (2, 3))]


@pytest.mark.parametrize("operands", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
@pytest.mark.parametrize("shapes", WIDER_SHAPES, ids=str)
@pytest.mark.parametrize("name", WIDER)
def test_wider_rule_split_per_operand_matches_finite_differences(name, shapes, operands):
    # fma and any later rule of three operands: the same split, each operand alone or with others.
    rng = np.random.default_rng(1)
    values = [rng.uniform(0.5, 1.5, shape) for shape in shapes]
    prim = registry[name]

    def f(*diff):
        args = list(values)
        for i, d in zip(operands, diff, strict=True):
            args[i] = d
        return prim.bind(*args)

    check_grads(f, tuple(values[i] for i in operands), order=2)
