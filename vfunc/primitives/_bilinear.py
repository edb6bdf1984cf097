"""The forward-mode rule of a bilinear primitive, shared by dot_general and the convolutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vfunc.primitives.elementwise import add_p


def bilinear_jvp(product: Callable[..., Any]) -> Callable[..., Any]:
    """The JVP rule of ``product(a, b, **params)``, linear in ``a`` and in ``b`` separately.

    The tangent is ``product(ta, b) + product(a, tb)``; the term of a zero (None) tangent is
    left out, so differentiating with respect to one operand costs one product, not two.
    """

    def jvp(primals, tangents, *, out, **params):
        del out
        (a, b), (ta, tb) = primals, tangents
        total = None if ta is None else product(ta, b, **params)
        if tb is not None:
            term = product(a, tb, **params)
            total = term if total is None else add_p.bind(total, term)
        return total

    return jvp
