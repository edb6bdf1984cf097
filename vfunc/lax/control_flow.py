"""``vfunc.lax`` control flow: cond, switch, while_loop, fori_loop, scan, map.

Each function stages the user's functions to jaxprs on the operands' shapes and dtypes, checks
them against each other, and binds one primitive of ``vfunc.primitives.control_flow``. Pytrees
are flattened here; the primitives see flat operands only.
"""

from __future__ import annotations

import builtins  # this module shadows max, min and map
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, tree
from vfunc.core import Array
from vfunc.primitives.builders import (
    ArrayLike,
    as_array,
    concatenate,
    convert_element_type,
    lt,
    max,  # noqa: A004
    min,  # noqa: A004
    ne,
    reshape,
    slice,  # noqa: A004
)


def _control_flow() -> Any:
    from vfunc.primitives import control_flow  # imported late: it imports this module

    return control_flow


class _TypeName:
    """A pytree leaf that prints as its type (``f32[3]``), for error messages."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _describe(treedef: Any, avals: Sequence[Any]) -> str:
    return repr(tree.unflatten(treedef, [_TypeName(a.str_short()) for a in avals]))


def _flat_arrays(value: Any) -> tuple[list[Array], Any]:
    leaves, treedef = tree.flatten(value)
    return [as_array(leaf) for leaf in leaves], treedef


def _abstract(treedef: Any, arrays: Sequence[Array]) -> Any:
    from vfunc.core import ShapeDtypeStruct

    return tree.unflatten(
        treedef, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in arrays]
    )


def _types_match(got: Sequence[Any], want: Sequence[Any]) -> bool:
    # Weak types may differ: a Python-scalar carry and a float32 update share one type.
    return len(got) == len(want) and all(
        g.shape == w.shape and g.dtype == w.dtype for g, w in zip(got, want, strict=True)
    )


def _index_operand(op: str, value: Any) -> Array:
    index = as_array(value)
    if index.shape != ():
        raise TypeError(f"{op}: the index must be a scalar, got {index.aval.str_short()}")
    return index


def _stage_branches(op: str, index: Array, funs: Sequence[Any], names: Sequence[str],
                    operands: tuple) -> Any:  # fmt: skip
    cf = _control_flow()
    ops, in_tree = _flat_arrays(operands)
    abstract = _abstract(in_tree, ops)
    traced = [cf.trace_callable(fun, abstract) for fun in funs]
    first_jaxpr, _, first_tree = traced[0]
    for name, (jaxpr, _, out_tree) in zip(names[1:], traced[1:], strict=True):
        if out_tree != first_tree or not _types_match(jaxpr.out_avals, first_jaxpr.out_avals):
            raise TypeError(
                f"{op}: {names[0]} and {name} must return the same structure and types, but "
                f"{names[0]} returned {_describe(first_tree, first_jaxpr.out_avals)} and {name} "
                f"returned {_describe(out_tree, jaxpr.out_avals)}"
            )
    # Every branch takes every branch's closed-over tracers, then the operands.
    lifted = [consts for _, consts, _ in traced]
    lifted_avals = [[c.aval for c in consts] for consts in lifted]
    branches = []
    for k, (jaxpr, consts, _) in enumerate(traced):
        after = [a for avals in lifted_avals[k + 1 :] for a in avals]
        before = [a for avals in lifted_avals[:k] for a in avals]
        jaxpr = cf.insert_invars(jaxpr, len(consts), after)
        branches.append(cf.insert_invars(jaxpr, 0, before))
    flat_consts = [c for consts in lifted for c in consts]
    outs = cf.cond_p.bind(index, *flat_consts, *ops, branches=tuple(branches))
    return tree.unflatten(first_tree, outs)


def cond(pred: ArrayLike, true_fun: Any, false_fun: Any, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one primitive.

    Both branches are traced (they must return the same pytree structure, shapes and dtypes)
    and only the chosen one runs. ``pred`` is a boolean or integer scalar (nonzero is true).
    Under ``vmap`` with a per-member ``pred``, both branches run and a ``select`` picks each
    member's result, as in JAX. Differentiable in both modes, to any order.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.cond(vnp.array(3.0) > 0, lambda x: x * 2, lambda x: -x, vnp.array([1.0, 2.0]))
        Array([2., 4.], dtype=float32)
    """
    pred = as_array(pred)
    if pred.shape != ():
        raise TypeError(f"cond: pred must be a scalar, got {pred.aval.str_short()}")
    if pred.dtype != dtypes.bool_:
        if pred.dtype.kind not in "iu":
            raise TypeError(f"cond: pred must be a boolean or integer scalar, got {pred.dtype}")
        pred = ne(pred, 0)
    index = convert_element_type(pred, np.int32)
    return _stage_branches("cond", index, (false_fun, true_fun), ("false_fun", "true_fun"),
                           operands)  # fmt: skip


def switch(index: ArrayLike, branches: Sequence[Any], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to ``[0, len(branches) - 1]``.

    Every branch is traced and must return the same structure, shapes and dtypes; only the
    chosen one runs (under ``vmap`` with a per-member index, all run and each member selects).

    Example:
        >>> from vfunc import lax
        >>> lax.switch(5, [lambda x: x + 1, lambda x: x * 10], 2.0)
        Array(20., dtype=float32, weak_type=True)
    """
    funs = tuple(branches)
    if not funs:
        raise ValueError("switch: branches must be a non-empty sequence of functions")
    idx = _index_operand("switch", index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"switch: the index must be an integer scalar, got {idx.dtype}")
    idx = convert_element_type(idx, np.int32)
    if len(funs) == 1:
        return funs[0](*operands)
    idx = max(min(idx, len(funs) - 1), 0)
    names = [f"branches[{k}]" for k in range(len(funs))]
    return _stage_branches("switch", idx, funs, names, operands)


def while_loop(cond_fun: Any, body_fun: Any, init_val: Any) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; return the final ``val``.

    ``body_fun`` must return the structure, shapes and dtypes of ``init_val``, and ``cond_fun``
    a boolean scalar. Forward-mode differentiable (``vfunc.jvp``); reverse mode raises (the
    trip count is only known at run time): use ``fori_loop`` with static bounds or ``scan``
    for gradients. Under
    ``vmap`` with a per-member condition the loop runs until every member is done, holding
    the carries of finished members.

    Example:
        >>> from vfunc import lax
        >>> lax.while_loop(lambda x: x < 100, lambda x: x * 3, 1)
        Array(243, dtype=int32, weak_type=True)
    """
    cf = _control_flow()
    init, in_tree = _flat_arrays(init_val)
    abstract = _abstract(in_tree, init)
    cond_jaxpr, cond_consts, cond_tree = cf.trace_callable(cond_fun, (abstract,))
    pred = cond_jaxpr.out_avals
    if cond_tree.num_leaves != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise TypeError(
            "while_loop: cond_fun must return a boolean scalar, but it returned "
            f"{_describe(cond_tree, pred)}"
        )
    body_jaxpr, body_consts, body_tree = cf.trace_callable(body_fun, (abstract,))
    if body_tree != in_tree or not _types_match(body_jaxpr.out_avals, [a.aval for a in init]):
        raise TypeError(
            "while_loop: body_fun must return the structure and types of its carry, but "
            f"init_val is {_describe(in_tree, [a.aval for a in init])} and body_fun returned "
            f"{_describe(body_tree, body_jaxpr.out_avals)}"
        )
    outs = cf.while_p.bind(
        *cond_consts, *body_consts, *init, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts),
    )  # fmt: skip
    return tree.unflatten(in_tree, outs)


def fori_loop(lower: ArrayLike, upper: ArrayLike, body_fun: Any, init_val: Any, *,
              unroll: int | bool | None = None) -> Any:  # fmt: skip
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``; return ``val``.

    With concrete bounds (Python ints or concrete arrays, even under ``jit``) this is a
    ``scan`` of ``upper - lower`` steps, differentiable in reverse mode; with traced bounds it
    is a ``while_loop`` (forward mode only). ``i`` has the bounds' integer dtype.

    Example:
        >>> from vfunc import lax
        >>> lax.fori_loop(0, 5, lambda i, total: total + i, 0)
        Array(10, dtype=int32)
    """
    from vfunc.core import Tracer

    lo, hi = as_array(lower), as_array(upper)
    for name, bound in (("lower", lo), ("upper", hi)):
        if bound.shape != () or bound.dtype.kind not in "iu":
            raise TypeError(
                f"fori_loop: {name} must be an integer scalar, got {bound.aval.str_short()}"
            )
    dtype, _ = dtypes.promote((lo.dtype, lo.weak_type), (hi.dtype, hi.weak_type))
    static = not isinstance(lower, Tracer) and not isinstance(upper, Tracer)
    # Read the trip count before converting: under jit the conversion is staged, not run.
    length = builtins.max(int(upper) - int(lower), 0) if static else 0
    lo, hi = convert_element_type(lo, dtype), convert_element_type(hi, dtype)
    if static:

        def step(carry: Any, _: Any) -> Any:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        steps = 1 if unroll is None else unroll
        (_, result), _ = scan(step, (lo, init_val), None, length=length, unroll=steps)
        return result

    def keep_going(carry: Any) -> Any:
        return lt(carry[0], carry[1])

    def body(carry: Any) -> Any:
        i, end, val = carry
        return i + 1, end, body_fun(i, val)

    return while_loop(keep_going, body, (lo, hi, init_val))[2]


def scan(f: Any, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1) -> tuple[Any, Any]:  # fmt: skip
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the ``y``s stacked, as ``jax.lax.scan``.

    Args:
        f: ``(carry, x) -> (carry, y)``; the carry keeps its structure, shapes and dtypes.
        init: the initial carry (a pytree).
        xs: a pytree of arrays sharing a leading axis (or None, with ``length``).
        length: the number of steps (required when ``xs`` is None).
        reverse: run from the last element to the first (``ys`` stay in ``xs``'s order).
        unroll: accepted for JAX compatibility; vfunc runs a compiled body per step either way.

    Reverse mode runs a reverse scan over the body's VJP, storing one carry per step.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.scan(lambda c, x: (c + x, c * x), 0.0, vnp.arange(1.0, 4.0))
        (Array(6., dtype=float32), Array([0., 2., 9.], dtype=float32))
    """
    cf = _control_flow()
    carry, carry_tree = _flat_arrays(init)
    x_leaves, x_tree = _flat_arrays(xs)
    lengths = set()
    for x in x_leaves:
        if not x.shape:
            shown = _describe(x_tree, [a.aval for a in x_leaves])
            raise ValueError(f"scan: xs leaves need a leading axis to scan over, got {shown}")
        lengths.add(x.shape[0])
    if length is not None:
        length = int(length)
        lengths.add(length)
    if len(lengths) != 1:
        if not lengths:
            raise ValueError("scan: pass length when xs is None (or has no arrays)")
        raise ValueError(
            f"scan: xs leaves must share one leading axis length (and match length="
            f"{length}), got {_describe(x_tree, [a.aval for a in x_leaves])}"
        )
    n = lengths.pop()
    if isinstance(unroll, bool):
        unroll = builtins.max(n, 1) if unroll else 1
    from vfunc.core import ShapeDtypeStruct

    x_abstract = tree.unflatten(
        x_tree, [ShapeDtypeStruct(x.shape[1:], x.dtype, x.weak_type) for x in x_leaves]
    )
    out_trees: list = []

    def body(c: Any, x: Any) -> Any:
        out = f(c, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"scan: f must return a pair (carry, y), got a {type(out).__name__}")
        out_trees[:] = [tree.structure(out[0]), tree.structure(out[1])]
        return tuple(out)

    jaxpr, consts, _ = cf.trace_callable(body, (_abstract(carry_tree, carry), x_abstract))
    carry_out_tree, y_tree = out_trees
    m = len(carry)
    carry_out = jaxpr.out_avals[: carry_out_tree.num_leaves]
    if carry_out_tree != carry_tree or not _types_match(carry_out, [c.aval for c in carry]):
        raise TypeError(
            "scan: f must return a carry with the structure and types of its carry input, but "
            f"the input carry is {_describe(carry_tree, [c.aval for c in carry])} and f "
            f"returned {_describe(carry_out_tree, carry_out)}"
        )
    outs = cf.scan_p.bind(
        *consts, *carry, *x_leaves, jaxpr=jaxpr, num_consts=len(consts), num_carry=m,
        length=n, reverse=bool(reverse), unroll=int(unroll),
    )  # fmt: skip
    return tree.unflatten(carry_tree, outs[:m]), tree.unflatten(y_tree, outs[m:])


def map(f: Any, xs: Any, *, batch_size: int | None = None) -> Any:  # noqa: A001
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked: a
    ``scan`` without a carry (one compiled body call per slice, unlike ``vmap``).

    With ``batch_size``, each step applies ``vmap(f)`` to that many slices at once (a trade
    between vmap's speed and scan's memory, as in JAX); a remainder that does not fill a batch
    is mapped in one more vmapped call.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.map(lambda row: row.sum(), vnp.ones((3, 2)))
        Array([2., 2., 2.], dtype=float32)
        >>> lax.map(lambda row: row.sum(), vnp.ones((5, 2)), batch_size=2)
        Array([2., 2., 2., 2., 2.], dtype=float32)
    """
    if batch_size is None:
        _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
        return ys
    from vfunc.transforms.batching import vmap  # transforms build on lax

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"map: batch_size must be a positive int, got {batch_size!r}")
    xs = tree.map(as_array, xs)
    lengths = {x.shape[0] if x.ndim else None for x in tree.leaves(xs)}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(
            f"map: every leaf of xs needs one common leading axis, got lengths {lengths}"
        )
    n = lengths.pop()
    steps, full = n // batch_size, n // batch_size * batch_size
    mapped = vmap(f)

    def rows(x: Array, lo: int, hi: int) -> Array:
        return slice(x, (lo,) + (0,) * (x.ndim - 1), (hi, *x.shape[1:]))

    parts = []
    if steps:
        head = tree.map(lambda x: reshape(rows(x, 0, full), (steps, batch_size, *x.shape[1:])), xs)
        _, ys = scan(lambda carry, x: (carry, mapped(x)), (), head)
        parts.append(tree.map(lambda y: reshape(y, (full, *y.shape[2:])), ys))
    if full < n:
        parts.append(mapped(tree.map(lambda x: rows(x, full, n), xs)))
    if len(parts) == 1:
        return parts[0]
    return tree.map(lambda a, b: concatenate([a, b], 0), *parts)
