"""What cond, while_loop and scan share: sub-jaxpr surgery for their rules, and the front
end's flattening, staging and type checks.

The rules build the sub-jaxprs of the equations they emit with the transforms' public
jaxpr-level API (``vjp_jaxpr``, ``jvp_jaxpr``, ``batch_jaxpr``, ``partial_eval``,
``trace_flat``); the few operations on jaxprs themselves (reordering and adding inputs) are
here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vfunc import tree
from vfunc.core import Array, ShapedArray, ShapeDtypeStruct
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, Var
from vfunc.primitives.builders import as_array

# ----------------------------------------------------------------------------------------------
# Sub-jaxprs


def is_float(aval: Any) -> bool:
    """Whether values of ``aval`` carry derivatives (float or complex)."""
    return aval.dtype.kind in "fc"


def insert_invars(closed: ClosedJaxpr, at: int, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """``closed`` taking extra unused inputs of ``avals``, inserted before input ``at``."""
    jaxpr = closed.jaxpr
    invars = list(jaxpr.invars)
    invars[at:at] = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.outvars, jaxpr.eqns), closed.consts)


def permuted(closed: ClosedJaxpr, in_order: Sequence[int], out_order: Sequence[int]) -> ClosedJaxpr:
    """``closed`` with its inputs and outputs reordered (new position k holds old ``order[k]``)."""
    jaxpr = closed.jaxpr
    new = Jaxpr(
        jaxpr.constvars, [jaxpr.invars[i] for i in in_order],
        [jaxpr.outvars[i] for i in out_order], jaxpr.eqns,
    )  # fmt: skip
    return ClosedJaxpr(new, closed.consts)


# ----------------------------------------------------------------------------------------------
# The front end: pytrees in, flat operands to the primitives


class _TypeName:
    """A pytree leaf that prints as its type (``f32[3]``), for error messages."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def describe(treedef: Any, avals: Sequence[Any]) -> str:
    """A pytree of types, as ``(f32[3], {'a': i32[]})``, for error messages."""
    return repr(tree.unflatten(treedef, [_TypeName(a.str_short()) for a in avals]))


def flat_arrays(value: Any) -> tuple[list[Array], Any]:
    """The leaves of pytree ``value`` as arrays, and its structure."""
    leaves, treedef = tree.flatten(value)
    return [as_array(leaf) for leaf in leaves], treedef


def abstract(treedef: Any, arrays: Sequence[Array]) -> Any:
    """The pytree of ``arrays``' shapes and dtypes, to stage a user's function on."""
    return tree.unflatten(
        treedef, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in arrays]
    )


def types_match(got: Sequence[Any], want: Sequence[Any]) -> bool:
    """Same shapes and dtypes, one for one. Weak types may differ: a Python-scalar carry and a
    float32 update share one type."""
    return len(got) == len(want) and all(
        g.shape == w.shape and g.dtype == w.dtype for g, w in zip(got, want, strict=True)
    )
