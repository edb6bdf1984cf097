"""Jacobians and Hessians, built on both interpreters: reverse mode (``vjp``) or forward mode
(``jvp``) vmapped over a basis of cotangents (or tangents), so every Jacobian costs one
batched pass per output (or input) leaf. Its own module so that ``ad`` and ``batching`` do
not import each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import Array, ShapedArray, wrap_numpy
from vfunc.primitives.builders import as_array
from vfunc.primitives.shape import reshape_p
from vfunc.transforms.ad import (
    _argnums_tuple,
    _check_differentiable_inputs,
    _split_aux,
    check_output_dtype,
    jvp,
    vjp,
    zeros_like_aval,
)
from vfunc.transforms.batching import vmap


def _basis(aval: ShapedArray) -> Array:
    """The standard basis of ``aval``'s space, stacked: shape ``(aval.size, *aval.shape)``."""
    return wrap_numpy(np.eye(aval.size, dtype=aval.dtype).reshape((aval.size, *aval.shape)))


def _diff_args(fun: Callable, argnums: int | Sequence[int], args: tuple, kwargs: dict):
    nums = tuple(i % len(args) for i in _argnums_tuple(argnums))
    diff = tuple(args[i] for i in nums)

    def partial_fun(*d: Any) -> Any:
        full = list(args)
        for i, v in zip(nums, d, strict=True):
            full[i] = v
        return fun(*full, **kwargs)

    return partial_fun, diff


def _one_hot_axes(n: int, k: int) -> list[int | None]:
    return [0 if j == k else None for j in range(n)]


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Jacobian of ``fun`` by reverse mode: the VJP vmapped over a basis of each output.

    Returns a function whose result, for each output leaf and each differentiated argument
    leaf, has shape ``out.shape + arg.shape`` (nested output structure outside, argument
    structure inside; a tuple over ``argnums`` when it is a tuple). As in JAX, complex outputs
    need ``holomorphic=True`` (which also requires complex inputs and gives ``f'(z)``); real
    outputs of complex inputs give ``grad``'s convention row by row.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.jacrev(lambda x: x ** 2)(vnp.array([1.0, 2.0]))
        Array([[2., 0.],
               [0., 4.]], dtype=float32)
    """

    @functools.wraps(fun)
    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        partial_fun, diff = _diff_args(fun, argnums, args, kwargs)
        _check_differentiable_inputs("jacrev", diff, "argument ", holomorphic)
        result = vjp(partial_fun, *diff, has_aux=has_aux)
        out, vjp_fn = result[0], result[1]
        out_leaves, out_tree = tree.flatten(out)
        in_leaves, in_tree = tree.flatten(diff)
        out_avals = [as_array(o).aval for o in out_leaves]
        for aval in out_avals:
            check_output_dtype("jacrev", aval.dtype, holomorphic)
        jac_by_out = []
        for k, aval in enumerate(out_avals):
            cts = [_basis(a) if j == k else zeros_like_aval(a) for j, a in enumerate(out_avals)]
            axes = tree.unflatten(out_tree, _one_hot_axes(len(out_avals), k))

            def pullback(ct_tree: Any) -> list:
                return tree.leaves(vjp_fn(ct_tree))

            rows = vmap(pullback, in_axes=(axes,), axis_size=aval.size)(
                tree.unflatten(out_tree, cts)
            )
            per_input = [
                reshape_p.bind(r, new_sizes=aval.shape + as_array(x).shape)
                for r, x in zip(rows, in_leaves, strict=True)
            ]
            inner = tree.unflatten(in_tree, per_input)
            jac_by_out.append(inner[0] if isinstance(argnums, int) else inner)
        jac = tree.unflatten(out_tree, jac_by_out)
        return (jac, result[2]) if has_aux else jac

    return jac_fun


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Jacobian of ``fun`` by forward mode: its JVP vmapped over a basis of each input
    (pure forward mode, so it also works where reverse mode does not, as through
    ``while_loop``). Same output layout as ``jacrev``. As in JAX, complex inputs need
    ``holomorphic=True`` (which also requires complex outputs and gives ``f'(z)``).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.jacfwd(lambda x: vnp.sin(x).sum())(vnp.zeros(2))
        Array([1., 1.], dtype=float32)
    """

    @functools.wraps(fun)
    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        partial_fun, diff = _diff_args(fun, argnums, args, kwargs)
        _check_differentiable_inputs("jacfwd", diff, "argument ", holomorphic)
        in_leaves, in_tree = tree.flatten(diff)
        in_avals = [as_array(x).aval for x in in_leaves]
        if not holomorphic:
            _check_real_inputs(in_avals)

        def push(*tangent_leaves: Any) -> tuple:
            tangents: Any = tree.unflatten(in_tree, list(tangent_leaves))  # a tuple, as diff
            result = jvp(partial_fun, diff, tangents, has_aux=has_aux)
            aux = result[2] if has_aux else None
            # The primal output and aux do not depend on the tangent: vmap returns them once.
            return result[0], tree.leaves(result[1]), aux

        out, columns_by_input, aux = None, [], None
        for i in range(len(in_avals)):
            tangents = [_basis(a) if j == i else zeros_like_aval(a) for j, a in enumerate(in_avals)]
            axes = tuple(_one_hot_axes(len(in_avals), i))
            out, columns, aux = vmap(push, in_axes=axes, out_axes=(None, -1, None))(*tangents)
            columns_by_input.append(columns)  # per output leaf: (out.shape..., in.size)
        if out is None:  # no differentiable inputs at all: the output alone
            out = partial_fun(*diff)
            out, aux = _split_aux(out, "jacfwd") if has_aux else (out, None)
        out_leaves, out_tree = tree.flatten(out)
        jac_by_out = []
        for k, leaf in enumerate(out_leaves):
            leaf_shape = as_array(leaf).shape
            if holomorphic:
                check_output_dtype("jacfwd", as_array(leaf).dtype, holomorphic)
            per_input = [
                reshape_p.bind(columns[k], new_sizes=leaf_shape + a.shape)
                for a, columns in zip(in_avals, columns_by_input, strict=True)
            ]
            inner = tree.unflatten(in_tree, per_input)
            jac_by_out.append(inner[0] if isinstance(argnums, int) else inner)
        jac = tree.unflatten(out_tree, jac_by_out)
        return (jac, aux) if has_aux else jac

    return jac_fun


def _check_real_inputs(in_avals: list[ShapedArray]) -> None:
    for aval in in_avals:
        if aval.dtype.kind == "c":
            raise TypeError(
                "jacfwd requires real-valued inputs (input dtype that is a sub-dtype of "
                f"np.floating), but got {aval.dtype}. For holomorphic differentiation, pass "
                "holomorphic=True. For differentiation of non-holomorphic functions involving "
                "complex inputs, use vfunc.jvp directly."
            )


def hessian(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Hessian of a scalar ``fun``: ``jacfwd(jacrev(fun))`` (``holomorphic`` as there).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.hessian(lambda x: (x ** 3).sum())(vnp.array([1.0, 2.0]))
        Array([[ 6.,  0.],
               [ 0., 12.]], dtype=float32)
    """
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)
