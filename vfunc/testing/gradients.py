"""Numerical checks of vfunc's derivatives against central finite differences in float64."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.config import config
from vfunc.transforms.ad import jvp, vjp


@contextlib.contextmanager
def enable_x64(enabled: bool = True) -> Iterator[None]:
    """Temporarily switch 64-bit types on (or off), restoring the previous setting."""
    previous = config.enable_x64
    config.update("enable_x64", enabled)
    try:
        yield
    finally:
        config.update("enable_x64", previous)


def _to_float64(x: Any) -> Any:
    from vfunc.numpy import asarray

    value = np.asarray(x)
    wide = {"f": np.float64, "c": np.complex128}.get(value.dtype.kind)
    return asarray(value if wide is None else value.astype(wide))


def _random_like(rng: np.random.Generator, x: Any) -> Any:
    from vfunc.numpy import asarray

    value = np.asarray(x)
    if value.dtype.kind not in "fc":
        return asarray(np.zeros_like(value))
    if value.dtype.kind == "c":
        return asarray(rng.standard_normal(value.shape) + 1j * rng.standard_normal(value.shape))
    return asarray(rng.standard_normal(value.shape))


def _wide(x: Any) -> np.ndarray:
    value = np.asarray(x)
    return value.astype(np.complex128 if value.dtype.kind == "c" else np.float64)


def _inner(a: Any, b: Any) -> float:
    # Re(sum(x * y)), unconjugated: with JAX's convention for complex derivatives (a VJP
    # multiplies by f'(z), not its conjugate) <vjp(c), t> == <c, J t> holds in this pairing.
    return float(sum(np.real(np.sum(_wide(x) * _wide(y)))
                     for x, y in zip(tree.leaves(a), tree.leaves(b), strict=True)))  # fmt: skip


def _axpy(alpha: float, t: Any, x: Any) -> Any:
    from vfunc.numpy import asarray

    return tree.map(
        lambda xi, ti: asarray(np.asarray(xi) + alpha * np.asarray(ti))
        if np.asarray(xi).dtype.kind in "fc" else xi,
        x, t,
    )  # fmt: skip


def _numerical_jvp(f: Callable, args: tuple, tangents: tuple, eps: float) -> Any:
    plus = f(*_axpy(eps, tangents, args))
    minus = f(*_axpy(-eps, tangents, args))
    return tree.map(
        lambda p, m: (_wide(p) - _wide(m)) / (2 * eps),
        plus, minus,
    )  # fmt: skip


def _assert_close(name: str, got: Any, want: Any, atol: float, rtol: float) -> None:
    for g, w in zip(tree.leaves(got), tree.leaves(want), strict=True):
        np.testing.assert_allclose(
            _wide(g), _wide(w), atol=atol, rtol=rtol,
            err_msg=f"{name} disagrees with finite differences",
        )  # fmt: skip


def check_jvp(f: Callable, args: Sequence[Any], *, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-6, seed: int = 0) -> None:  # fmt: skip
    """Assert ``jvp(f)`` along a random tangent matches central finite differences."""
    rng = np.random.default_rng(seed)
    args = tuple(args)
    tangents = tree.map(lambda x: _random_like(rng, x), args)
    _, got = jvp(f, args, tangents)
    want = _numerical_jvp(f, args, tangents, eps)
    _assert_close("jvp", got, want, atol, rtol)


def check_vjp(f: Callable, args: Sequence[Any], *, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-6, seed: int = 0) -> None:  # fmt: skip
    """Assert ``<vjp(c), t> == <c, J t>`` for random ``t`` and ``c``, with ``J t`` from central
    finite differences: one check of the whole VJP, cheap at any size."""
    rng = np.random.default_rng(seed)
    args = tuple(args)
    out, f_vjp = vjp(f, *args)
    cotangent = tree.map(lambda o: _random_like(rng, o), out)
    tangents = tree.map(lambda x: _random_like(rng, x), args)
    pulled = f_vjp(cotangent)
    lhs = _inner(pulled, tangents)
    rhs = _inner(cotangent, _numerical_jvp(f, args, tangents, eps))
    np.testing.assert_allclose(lhs, rhs, atol=atol, rtol=rtol,
                               err_msg="vjp disagrees with finite differences")  # fmt: skip


def check_grads(
    f: Callable,
    args: Sequence[Any],
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
) -> None:
    """Check derivatives of ``f`` at ``args`` up to ``order`` against finite differences.

    Runs in float64 (x64 is switched on for the check and restored afterwards; float inputs are
    converted). Forward mode compares ``jvp`` with a central difference along a random tangent;
    reverse mode compares ``<vjp(c), t>`` with ``<c, J t>``. Higher orders repeat the checks on
    the derivative functions themselves. Complex inputs and outputs get complex tangents and
    cotangents, paired as ``Re(sum(a * b))``: JAX's convention for complex derivatives.

    Args:
        f: a function of arrays returning arrays or pytrees of arrays.
        args: the point, a sequence of positional arguments.
        order: highest derivative order to check.
        modes: any of ``"fwd"``, ``"rev"``.
        atol, rtol: tolerances (default 1e-5 each).
        eps: finite-difference step (default 1e-6).

    Raises:
        AssertionError: naming the mode that disagrees.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.testing import check_grads
        >>> check_grads(lambda x: vnp.sin(x) * x, (vnp.array([0.5, 1.5]),), order=2)
    """
    if not set(modes) <= {"fwd", "rev"}:
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes!r}")
    atol = 1e-5 if atol is None else atol
    rtol = 1e-5 if rtol is None else rtol
    eps = 1e-6 if eps is None else eps
    with enable_x64():
        args = tuple(tree.map(_to_float64, tuple(args)))
        _check(f, args, order, tuple(modes), atol, rtol, eps, seed=0)


def _check(f, args, order, modes, atol, rtol, eps, seed) -> None:
    kw = dict(eps=eps, atol=atol, rtol=rtol, seed=seed)
    if "fwd" in modes:
        check_jvp(f, args, **kw)
    if "rev" in modes:
        check_vjp(f, args, **kw)
    if order <= 1:
        return
    rng = np.random.default_rng(seed + 1)
    if "fwd" in modes:
        tangents = tree.map(lambda x: _random_like(rng, x), args)
        _check(lambda *a: jvp(f, a, tangents)[1], args, order - 1, modes, atol, rtol, eps,
               seed + 2)  # fmt: skip
    if "rev" in modes:
        cotangent = tree.map(lambda o: _random_like(rng, o), f(*args))
        _check(lambda *a: vjp(f, *a)[1](cotangent), args, order - 1, modes, atol, rtol, eps,
               seed + 3)  # fmt: skip
