"""vmap: vectorizing map by batching rules.

``vmap(f)`` runs ``f`` once on ``BatchTracer``s, each holding a whole batch of values and the
axis the batch runs along (or ``None`` for values every member shares). Each primitive applied
to them is replaced by its batch rule (declared with the primitive; elementwise primitives share
one broadcasting rule), which computes the result for the whole batch in one call: there is no
per-example loop anywhere, and nested vmaps simply add axes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optree

from vfunc import tree
from vfunc.core import Primitive, Trace, Tracer, new_trace
from vfunc.errors import ConcretizationTypeError
from vfunc.jaxpr import ClosedJaxpr, eval_jaxpr
from vfunc.primitives._batching import elementwise_batch, move_axis, to_front
from vfunc.primitives.axis_env import AxisFrame, bind_axis
from vfunc.primitives.builders import as_array
from vfunc.primitives.collectives import uses_axis
from vfunc.transforms.staging import trace_flat

AxisTree = Any  # an int, None, or a pytree prefix of the arguments with those at its leaves


class _RuleAxis(threading.local):
    """The named axis whose batch rule is running: ``batch_jaxpr`` called by that rule (cond,
    scan, while_loop, custom rules) batches the sub-jaxpr along the same axis, so it names its
    trace after it and collectives over that name inside the body reach it."""

    name: Any = None
    size: int = -1


_rule_axis = _RuleAxis()


class BatchTracer(Tracer):
    """A batch of values: ``val`` holds all of them stacked along axis ``bdim``."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace: BatchTrace, val: Any, bdim: int | None):
        self._trace = trace
        self.val = val
        self.bdim = bdim
        aval = val.aval
        if bdim is not None:
            shape = aval.shape[:bdim] + aval.shape[bdim + 1 :]
            aval = aval.update(shape=shape)
        self.aval = aval

    def __repr__(self) -> str:
        # JAX's spelling: the per-member type and the batched value's type.
        batched = self.val.aval.update(weak_type=False).str_long()
        return f"VmapTracer(aval={self.aval.update(weak_type=False).str_long()}, batched={batched})"


class BatchTrace(Trace):
    """Interprets primitives on batches through their batch rules."""

    def __init__(self, level: int, axis_size: int, axis_name: Any = None):
        super().__init__(level)
        self.axis_size = axis_size
        self.axis_name = axis_name  # bound in the axis environment while vmap traces
        self.rule_depth = 0  # > 0 while a batch rule runs (collectives check it)

    def pure(self, value: Any) -> BatchTracer:
        return BatchTracer(self, as_array(value), None)

    lift = pure

    def process_primitive(self, prim: Primitive, tracers: list, params: dict) -> Any:
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        axis_batch = getattr(prim, "axis_batch", None)
        if axis_batch is not None:  # a collective: over this axis, or passing through it
            out, out_dim = axis_batch(self.axis_name, self.axis_size, vals, dims, **params)
            return BatchTracer(self, out, out_dim)
        if (
            vals
            and all(d is None for d in dims)
            and self.axis_name is not None
            and uses_axis(params, self.axis_name)
        ):
            # A body with a collective over this axis must be batched even though every member
            # holds the same operands: batch one (a float one, the smallest: an int index or
            # counter would make cond or while_loop take the per-member path).
            k = min(range(len(vals)), key=lambda i: (vals[i].dtype.kind not in "fc", vals[i].size))
            vals[k], dims[k] = to_front(vals[k], None, self.axis_size), 0
        if all(d is None for d in dims):
            out = prim.bind(*vals, **params)
            if prim.multiple_results:
                return [BatchTracer(self, o, None) for o in out]
            return BatchTracer(self, out, None)
        if prim.batch is not None:
            self.rule_depth += 1  # a rule that batches a jaxpr runs it off this trace
            outer = _rule_axis.name, _rule_axis.size
            _rule_axis.name, _rule_axis.size = self.axis_name, self.axis_size
            try:
                out, out_dims = prim.batch(vals, dims, **params)
            finally:
                self.rule_depth -= 1
                _rule_axis.name, _rule_axis.size = outer
        elif prim.elementwise:
            out, out_dims = elementwise_batch(prim, vals, dims, **params)
        else:
            raise NotImplementedError(f"vmap: primitive {prim.name!r} has no batching rule")
        if prim.multiple_results:
            return [BatchTracer(self, o, d) for o, d in zip(out, out_dims, strict=True)]
        return BatchTracer(self, out, out_dims)

    def concretize(self, tracer: Tracer, fn_name: str) -> np.ndarray:
        if tracer.bdim is None:  # the same for every member: Python may branch on it
            val = tracer.val
            if isinstance(val, Tracer):
                return val._trace.concretize(val, fn_name)
            return np.asarray(val)
        raise ConcretizationTypeError(
            f"{fn_name}() needs one concrete value, but inside vmap this "
            f"{tracer.aval.str_short()} value differs across the batch of {self.axis_size}. "
            "Branch with vnp.where (or lax.select/lax.cond) so every member gets its own answer."
        )


def _flatten(value: Any) -> tuple[list[Any], Any]:
    # None is a leaf here: in in_axes/out_axes it means "not mapped", as in JAX.
    return optree.tree_flatten(value, none_is_leaf=True, namespace=tree.NAMESPACE)


def _axes_for(axes: AxisTree, values: Any, what: str) -> list[int | None]:
    """One axis per leaf of ``values`` (None leaves included) from the prefix tree ``axes``."""
    try:
        return optree.broadcast_prefix(axes, values, none_is_leaf=True, namespace=tree.NAMESPACE)
    except ValueError as err:
        raise ValueError(
            f"vmap {what} must be a tree prefix of the {what.split('_')[0]}puts: got {what}="
            f"{axes!r} for {what.split('_')[0]}puts structured as "
            f"{optree.tree_structure(values, none_is_leaf=True, namespace=tree.NAMESPACE)} "
            f"({err})"
        ) from None


def vmap(
    fun: Callable,
    in_axes: AxisTree = 0,
    out_axes: AxisTree = 0,
    axis_size: int | None = None,
    *,
    axis_name: Any = None,
) -> Callable:
    """Vectorize ``fun`` over an axis of its arguments.

    Args:
        fun: a function of arrays / pytrees of arrays.
        in_axes: for each positional argument the axis to map over, or None to pass it to every
            member unchanged; an int applies to every argument, a tuple gives one entry per
            argument, and any entry may itself be a pytree prefix of that argument. Negative
            axes count from the end. Keyword arguments are always mapped over axis 0.
        out_axes: where the mapped axis goes in each output (a pytree prefix of the output;
            None for outputs that do not depend on the mapped axis).
        axis_size: the batch size, needed only when no argument is mapped.
        axis_name: a name for the mapped axis, so collectives (``vfunc.lax.psum(x, name)``
            and the others) can combine values across it, as in JAX. Keyword-only here (JAX
            also takes it as the fourth positional argument, where vfunc has ``axis_size``).

    Returns:
        The vectorized function: ``vmap(f)(xs)[i] == f(xs[i])`` for every ``i``, computed with
        one call per primitive on the whole batch, never with a Python loop.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.vmap(vnp.dot, in_axes=(0, None))(vnp.ones((3, 2)), vnp.array([1.0, 2.0]))
        Array([3., 3., 3.], dtype=float32)
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)  # as JAX: a list is a tuple of per-argument axes
    name = getattr(fun, "__name__", "function")

    @functools.wraps(fun)
    def vmap_fun(*args: Any, **kwargs: Any) -> Any:
        axes_tree = in_axes
        if isinstance(axes_tree, tuple) and len(axes_tree) != len(args):
            raise ValueError(
                f"vmap({name}): in_axes has {len(axes_tree)} entries but the function was called "
                f"with {len(args)} positional arguments; give one entry per argument"
            )
        leaves, in_tree = _flatten((args, kwargs))
        axes = _axes_for((axes_tree, 0), (args, kwargs), "in_axes")
        paths = optree.tree_paths((args, kwargs), none_is_leaf=True, namespace=tree.NAMESPACE)
        values, dims, sizes = [], [], {}
        for leaf, axis, path in zip(leaves, axes, paths, strict=True):
            where = _describe_path(path)
            if leaf is None:
                values.append(None)
                dims.append(None)
                continue
            value = as_array(leaf)
            dim = None if axis is None else _check_in_axis(axis, value.ndim, where)
            if dim is not None:
                sizes[where] = value.shape[dim]
            values.append(value)
            dims.append(dim)
        size = _batch_size(name, sizes, axis_size)
        with (
            new_trace(lambda level: BatchTrace(level, size, axis_name)) as trace,
            contextlib.nullcontext()
            if axis_name is None
            else bind_axis(AxisFrame(axis_name, size, trace=trace)),
        ):
            tracers = [
                v if v is None else BatchTracer(trace, v, d)
                for v, d in zip(values, dims, strict=True)
            ]
            call_args, call_kwargs = optree.tree_unflatten(in_tree, tracers)
            out = fun(*call_args, **call_kwargs)
            out_leaves, out_tree = _flatten(out)
            out_dims = _axes_for(out_axes, out, "out_axes")
            results = [
                _move_out(leaf, trace, dim, size, name)
                for leaf, dim in zip(out_leaves, out_dims, strict=True)
            ]
        return optree.tree_unflatten(out_tree, results)

    return vmap_fun


def _describe_path(path: tuple) -> str:
    # path[0] picks positional (0) or keyword (1) arguments.
    if path[0] == 0:
        rest = "".join(f"[{k!r}]" for k in path[2:])
        return f"argument {path[1]}{rest}" if rest else f"argument {path[1]}"
    return f"keyword argument {path[1]!r}" + "".join(f"[{k!r}]" for k in path[2:])


def _check_in_axis(axis: Any, ndim: int, where: str) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"vmap: in_axes entries must be ints or None, got {axis!r} for {where}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"vmap: in_axes={axis} is out of range for {where}, which has {ndim} "
            f"dimension{'s' if ndim != 1 else ''}"
        )
    return int(axis) % ndim


def _batch_size(name: str, sizes: dict[str, int], axis_size: int | None) -> int:
    distinct = set(sizes.values())
    if axis_size is not None:
        distinct.add(axis_size)
    if len(distinct) > 1:
        listing = ", ".join(f"{where} has size {n}" for where, n in sizes.items())
        given = f"; axis_size={axis_size}" if axis_size is not None else ""
        raise ValueError(
            f"vmap({name}): the mapped axes have different sizes: {listing}{given}. Every "
            "mapped argument needs the same size along its in_axes."
        )
    if not distinct:
        raise ValueError(
            f"vmap({name}): no argument is mapped (all in_axes are None); pass axis_size to say "
            "how many copies to make"
        )
    return distinct.pop()


def _move_out(leaf: Any, trace: BatchTrace, out_axis: Any, size: int, name: str) -> Any:
    if isinstance(leaf, BatchTracer) and leaf._trace is trace:
        val, dim = leaf.val, leaf.bdim
    elif leaf is None:
        return None
    else:  # computed from unmapped values only (or a constant): the same for every member
        val = as_array(leaf)
        dim = None
    if out_axis is None:
        if dim is not None:
            raise ValueError(
                f"vmap({name}): out_axes is None for an output that varies along the mapped "
                f"axis (a batch of {size} {leaf.aval.str_short()} values); give it an axis"
            )
        return val
    ndim = val.ndim + (dim is None)
    if not isinstance(out_axis, (int, np.integer)) or not -ndim <= out_axis < ndim:
        raise ValueError(
            f"vmap({name}): out_axes={out_axis!r} is out of range for an output with {ndim} "
            "dimensions (the mapped one included)"
        )
    if dim is None:
        return move_axis(to_front(val, None, size), 0, int(out_axis) % ndim)
    return move_axis(val, dim, int(out_axis) % ndim)


def batch_jaxpr(
    closed: ClosedJaxpr, size: int, batched: Sequence[bool], force: Sequence[bool] | None = None
) -> tuple[ClosedJaxpr, list[bool]]:
    """``closed`` vectorized over a batch of ``size``, as a jaxpr.

    Inputs marked ``batched`` carry the batch on axis 0. Returns the batched jaxpr and, per
    output, whether it is batched (on axis 0): an output that depends on no batched input
    stays unbatched unless ``force`` marks it, in which case it is broadcast along the batch.
    """
    out_batched: list[bool] = []
    avals = [
        a.update(shape=(size, *a.shape)) if b else a
        for a, b in zip(closed.in_avals, batched, strict=True)
    ]

    # Called by the batch rule of a named vmap, the body is batched along that same axis:
    # collectives over its name inside the body are carried out here (as in JAX).
    name = _rule_axis.name if _rule_axis.size == size else None

    def fun(*args: Any) -> list:
        out_batched.clear()
        with (
            new_trace(lambda level: BatchTrace(level, size, name)) as trace,
            contextlib.nullcontext()
            if name is None
            else bind_axis(AxisFrame(name, size, trace=trace)),
        ):
            ins = [BatchTracer(trace, a, 0) if b else a for a, b in zip(args, batched, strict=True)]
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *ins)
            results = []
            for k, o in enumerate(outs):
                if isinstance(o, BatchTracer) and o._trace is trace:
                    o, dim = o.val, o.bdim
                else:
                    dim = None
                if dim is not None:
                    o = move_axis(o, dim, 0)
                elif force is not None and force[k]:
                    o = to_front(as_array(o), None, size)
                    dim = 0
                results.append(o)
                out_batched.append(dim is not None)
        return results

    return trace_flat(fun, avals), list(out_batched)


__all__ = ["BatchTrace", "BatchTracer", "batch_jaxpr", "vmap"]
