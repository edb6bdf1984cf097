"""Named-axis collectives, as ``jax.lax``: psum, pmean, pmax, pmin, all_gather, psum_scatter,
all_to_all, ppermute, axis_index, axis_size.

A collective names an axis (``psum(x, "i")``) and combines the values that the members of that
axis hold. What a member is depends on who bound the name (``axis_env``):

* under ``vmap(f, axis_name="i")`` the members are the batch, all in this process, and the
  collective is carried out by its *axis batch rule*: psum over ``i`` is a ``reduce_sum`` over
  the batch axis whose result is the same for every member (unbatched), as in JAX. Inside a
  ``lax.cond``/``scan``/``while_loop`` body the collective is staged into the body's jaxpr, and
  the control-flow primitive's batch rule batches that jaxpr along the same named axis
  (``batch_jaxpr`` binds the name to its trace), so it is carried out there;
* under ``vfunc.distributed.spmd(f, axis_name="i")`` the members are processes, and ``impl``
  calls the frame's communicator (MPI), so a jit-compiled function calls it like any impl.

The collectives are :class:`AxisPrimitive`\\ s: a ``Primitive`` whose ``bind`` first brings its
operands into the batch trace of the vmap that binds its axis when that trace is innermost (the
operands may be constants, or tracers of an outer transformation, and the collective must still
reach that vmap), and whose ``axis_batch`` rule the batch trace calls with its own axis name
(it needs to know whether the collective is over its axis or merely passes through it).

Reverse mode follows JAX: the transpose of ``psum`` is ``psum``, ``all_gather`` and
``psum_scatter`` transpose to each other, ``all_to_all`` to the swapped ``all_to_all`` and
``ppermute`` to the inverse permutation; ``pmax``/``pmin`` are not differentiable (JAX neither).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

import vfunc.primitives.builders as lax
from vfunc import tree
from vfunc.core import Array, Primitive, ShapedArray, find_top_trace
from vfunc.primitives._batching import batch_size, move_axis, to_front
from vfunc.primitives.axis_env import AxisFrame, axis_names, lookup

AxisName = Hashable | Sequence[Hashable]


class AxisPrimitive(Primitive):
    """A collective over named axes (the ``axes`` param).

    Args:
        axis_batch: ``rule(axis_name, axis_size, vals, dims, **params) -> (out, out_dim)``; a
            vmap's batch trace calls it with its own axis (name ``None`` for an anonymous one)
            for every application it processes, even when no operand is batched.
        Other arguments: as :class:`vfunc.core.Primitive`; the ordinary ``batch`` rule (for a
        batch trace that knows nothing of axis names) is ``axis_batch`` with no axis name.
    """

    def __init__(self, name: str, impl: Callable, shape: Callable, *, axis_batch: Callable,
                 **rules: Any):  # fmt: skip
        def batch(vals: list, dims: list, **params: Any) -> tuple:
            return axis_batch(None, batch_size(vals, dims), vals, dims, **params)

        super().__init__(name, impl, shape, batch=batch, **rules)
        self.axis_batch = axis_batch

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the collective; a vmap binding one of its axes sees it even on constants."""
        traces = [f.trace for f in (lookup(n, self.name) for n in params["axes"]) if f.trace]
        args = tuple(lax.as_array(a) for a in args)
        # Validate against each member's shape here: batch rules never see a shape rule.
        self.shape_rule(*[a.aval for a in args], **params)
        if traces:
            axis_trace = max(traces, key=lambda t: t.level)
            top = find_top_trace(args)
            if top is None or top.level < axis_trace.level:
                # A batching rule of that vmap re-tracing a body (cond, scan, while_loop, custom
                # rules) does it with batch_jaxpr, which binds the axis to its own trace; a rule
                # that re-traced by other means would put the result on the wrong trace.
                if getattr(axis_trace, "rule_depth", 0):
                    raise NotImplementedError(
                        f"{self.name} over the vmap axis {params['axes']!r} inside a function "
                        "that a batching rule re-traces without batch_jaxpr; apply the "
                        "collective outside that function"
                    )
                tracers = [axis_trace.full_raise(a) for a in args]
                return axis_trace.process_primitive(self, tracers, params)
        return super().bind(*args, **params)


def uses_axis(params: dict, name: Hashable) -> bool:
    """Whether a sub-jaxpr among ``params`` (a cond's branches, a scan's body...) applies a
    collective over ``name``, at any depth.

    A vmap must batch such a primitive along its axis even when no operand varies over it:
    ``psum`` of the same value on every member is still ``size`` times that value.
    """
    stack = list(params.values())
    while stack:
        value = stack.pop()
        if isinstance(value, (tuple, list)):
            stack.extend(value)
            continue
        jaxpr = getattr(value, "jaxpr", value)  # a ClosedJaxpr or a Jaxpr
        for eqn in getattr(jaxpr, "eqns", ()):
            if isinstance(eqn.primitive, AxisPrimitive) and name in eqn.params["axes"]:
                return True
            stack.extend(eqn.params.values())
    return False


def _comm(name: Hashable, op: str) -> Any:
    """The communicator of a process axis (``impl`` runs only for those)."""
    frame = lookup(name, op)
    if frame.comm is None:
        raise NotImplementedError(
            f"{op} over the vmap axis {name!r} reached evaluation outside that vmap's trace: a "
            "lax.cond/switch/scan/while_loop/fori_loop under that vmap whose operands are all "
            "constants (none computed from the vmapped function's arguments) has the collective "
            "in its body, and vfunc finds the vmap through the operands. Pass the body a value "
            "computed from the vmapped arguments, or apply the collective outside the loop"
        )
    return frame.comm


def _same_shape(x: ShapedArray, **params: Any) -> ShapedArray:
    return x


# --------------------------------------------------------------------------------------------
# psum, pmax, pmin: reductions over the members; the result is the same for every member.


def _reduction(kind: str) -> AxisPrimitive:
    reduce = {"sum": lax.reduce_sum, "max": lax.reduce_max, "min": lax.reduce_min}[kind]

    def impl(x: np.ndarray, *, axes: tuple) -> np.ndarray:
        for name in axes:
            x = _comm(name, f"p{kind}").allreduce(x, kind)
        return x

    def axis_batch(axis_name, size, vals, dims, *, axes):
        (x,), (d,) = vals, dims
        if axis_name not in axes:
            return prim.bind(x, axes=axes), d
        if d is not None:
            x = reduce(x, (d,))
        elif kind == "sum":  # every member holds x: the sum is size copies of it
            x = lax.mul(x, lax.convert_element_type(lax.as_array(size), x.dtype))
        rest = tuple(a for a in axes if a != axis_name)
        return (prim.bind(x, axes=rest) if rest else x), None

    def vjp(g, x, *, out, axes):
        if kind != "sum":
            raise NotImplementedError(
                f"Differentiation rule for 'p{kind}' not implemented (as in JAX): inside "
                f"vmap(..., axis_name=...) differentiate outside the vmap instead, or use "
                f"all_gather and a max over the gathered axis"
            )
        return (psum_p.bind(g, axes=axes),)

    prim = AxisPrimitive(
        f"p{kind}", impl, _same_shape, axis_batch=axis_batch, vjp=vjp,
        linear=(0,) if kind == "sum" else None,
    )  # fmt: skip
    return prim


psum_p = _reduction("sum")
pmax_p = _reduction("max")
pmin_p = _reduction("min")


# --------------------------------------------------------------------------------------------
# all_gather and psum_scatter: each other's transpose.


def _check_axis(op: str, axis: int, ndim: int, what: str) -> None:
    if not 0 <= axis < ndim:
        raise ValueError(f"{op}: {what}={axis} is out of range for an operand of rank {ndim}")


def _gather_shape(x: ShapedArray, *, axes, axis, tiled, axis_size) -> ShapedArray:
    shape = list(x.shape)
    _check_axis("all_gather", axis, x.ndim + (not tiled), "axis")
    if tiled:
        shape[axis] *= axis_size
    else:
        shape.insert(axis, axis_size)
    return x.update(shape=tuple(shape))


def _merge(x: Any, axis: int) -> Any:
    """``x`` with axes ``axis`` and ``axis + 1`` merged into one (row-major)."""
    shape = x.shape
    return lax.reshape(x, (*shape[:axis], shape[axis] * shape[axis + 1], *shape[axis + 2 :]))


def _split(x: Any, axis: int, first: int) -> Any:
    """``x`` with axis ``axis`` split into ``(first, rest)`` (row-major)."""
    shape = x.shape
    return lax.reshape(x, (*shape[:axis], first, shape[axis] // first, *shape[axis + 1 :]))


def _gather_impl(x, *, axes, axis, tiled, axis_size):
    (name,) = axes
    out = np.moveaxis(_comm(name, "all_gather").allgather(x), 0, axis)
    return out.reshape(_gather_shape(ShapedArray(x.shape, x.dtype), axes=axes, axis=axis,
                                     tiled=tiled, axis_size=axis_size).shape)  # fmt: skip


def _gather_batch(axis_name, size, vals, dims, *, axes, axis, tiled, axis_size):
    (x,), (d,) = vals, dims
    if axis_name not in axes:
        x = to_front(x, d, size)
        return all_gather_p.bind(x, axes=axes, axis=axis + 1, tiled=tiled,
                                 axis_size=axis_size), 0  # fmt: skip
    if d is None:  # every member holds x: the gathered array is size copies
        shape = (*x.shape[:axis], size, *x.shape[axis:])
        dims_kept = tuple(i for i in range(x.ndim + 1) if i != axis)
        x = lax.broadcast_in_dim(x, shape, dims_kept)
    else:
        x = move_axis(x, d, axis)
    return (_merge(x, axis) if tiled else x), None


def _gather_vjp(g, x, *, out, axes, axis, tiled, axis_size):
    return (psum_scatter_p.bind(g, axes=axes, scatter_dimension=axis, tiled=tiled,
                                axis_size=axis_size),)  # fmt: skip


all_gather_p = AxisPrimitive(
    "all_gather", _gather_impl, _gather_shape, axis_batch=_gather_batch, vjp=_gather_vjp,
    linear=(0,),
)  # fmt: skip


def _scatter_shape(x: ShapedArray, *, axes, scatter_dimension, tiled, axis_size):
    s, shape = scatter_dimension, list(x.shape)
    _check_axis("psum_scatter", s, x.ndim, "scatter_dimension")
    if tiled and shape[s] % axis_size:
        raise ValueError(
            f"psum_scatter: with tiled=True the scatter_dimension ({s}) of {x.str_short()} must "
            f"be divisible by the axis size {axis_size}"
        )
    if not tiled and shape[s] != axis_size:
        raise ValueError(
            f"psum_scatter: the scatter_dimension ({s}) of {x.str_short()} must equal the axis "
            f"size {axis_size} (or pass tiled=True to split it into that many blocks)"
        )
    if tiled:
        shape[s] //= axis_size
    else:
        del shape[s]
    return x.update(shape=tuple(shape))


def _scatter_impl(x, *, axes, scatter_dimension, tiled, axis_size):
    (name,) = axes
    blocks = np.moveaxis(x, scatter_dimension, 0)  # block k of the result goes to member k
    if tiled:
        blocks = blocks.reshape(axis_size, blocks.shape[0] // axis_size, *blocks.shape[1:])
    mine = _comm(name, "psum_scatter").reduce_scatter(np.ascontiguousarray(blocks))
    return np.moveaxis(mine, 0, scatter_dimension) if tiled else mine


def _scatter_batch(axis_name, size, vals, dims, *, axes, scatter_dimension, tiled, axis_size):
    (x,), (d,) = vals, dims
    s = scatter_dimension
    if axis_name not in axes:
        x = to_front(x, d, size)
        return psum_scatter_p.bind(x, axes=axes, scatter_dimension=s + 1, tiled=tiled,
                                   axis_size=axis_size), 0  # fmt: skip
    if d is None:
        x = lax.mul(x, lax.convert_element_type(lax.as_array(size), x.dtype))
    else:
        x = lax.reduce_sum(x, (d,))
    # Member k keeps block k of the scatter dimension: that dimension becomes the batch axis.
    return (_split(x, s, size) if tiled else x), s


def _scatter_vjp(g, x, *, out, axes, scatter_dimension, tiled, axis_size):
    return (all_gather_p.bind(g, axes=axes, axis=scatter_dimension, tiled=tiled,
                              axis_size=axis_size),)  # fmt: skip


psum_scatter_p = AxisPrimitive(
    "psum_scatter", _scatter_impl, _scatter_shape, axis_batch=_scatter_batch, vjp=_scatter_vjp,
    linear=(0,),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# all_to_all: block j of member k's split axis goes to member j, and arrives as block k of its
# concat axis.


def _a2a_shape(x: ShapedArray, *, axes, split_axis, concat_axis, tiled, axis_size):
    shape = list(x.shape)
    _check_axis("all_to_all", split_axis, x.ndim, "split_axis")
    _check_axis("all_to_all", concat_axis, x.ndim, "concat_axis")
    if (shape[split_axis] % axis_size) if tiled else (shape[split_axis] != axis_size):
        need = "be divisible by" if tiled else "equal"
        raise ValueError(
            f"all_to_all: the split_axis ({split_axis}) of {x.str_short()} must {need} the axis "
            f"size {axis_size}"
        )
    if tiled:
        shape[split_axis] //= axis_size
        shape[concat_axis] *= axis_size
    else:
        del shape[split_axis]
        shape.insert(concat_axis, axis_size)
    return x.update(shape=tuple(shape))


def _a2a_impl(x, *, axes, split_axis, concat_axis, tiled, axis_size):
    (name,) = axes
    n = axis_size
    blocks = np.moveaxis(x, split_axis, 0)
    if tiled:
        blocks = blocks.reshape(n, blocks.shape[0] // n, *blocks.shape[1:])
    received = _comm(name, "all_to_all").alltoall(np.ascontiguousarray(blocks))
    if not tiled:
        return np.moveaxis(received, 0, concat_axis)
    chunks = np.moveaxis(received, 1, split_axis + 1)  # each block back in x's layout
    out = np.moveaxis(chunks, 0, concat_axis)
    shape = out.shape
    return out.reshape(*shape[:concat_axis], n * shape[concat_axis + 1], *shape[concat_axis + 2 :])


def _a2a_batch(axis_name, size, vals, dims, *, axes, split_axis, concat_axis, tiled, axis_size):
    (x,), (d,) = vals, dims
    x = to_front(x, d, size)
    s, c = split_axis, concat_axis
    if axis_name not in axes:
        return all_to_all_p.bind(x, axes=axes, split_axis=s + 1, concat_axis=c + 1, tiled=tiled,
                                 axis_size=axis_size), 0  # fmt: skip
    # x is (sender j, *member shape). Its split axis indexes the receiver k: bring k to the
    # front, then the senders j to the concat axis.
    if tiled:
        x = _split(x, s + 1, size)
    x = move_axis(x, s + 1, 0)  # (k, j, *block shape)
    x = move_axis(x, 1, 1 + c)
    return (_merge(x, 1 + c) if tiled else x), 0


def _a2a_vjp(g, x, *, out, axes, split_axis, concat_axis, tiled, axis_size):
    return (all_to_all_p.bind(g, axes=axes, split_axis=concat_axis, concat_axis=split_axis,
                              tiled=tiled, axis_size=axis_size),)  # fmt: skip


all_to_all_p = AxisPrimitive(
    "all_to_all", _a2a_impl, _a2a_shape, axis_batch=_a2a_batch, vjp=_a2a_vjp, linear=(0,),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# ppermute: member dst receives member src's value for each (src, dst); the others get zeros.


def _ppermute_impl(x, *, axes, perm):
    (name,) = axes
    return _comm(name, "ppermute").ppermute(x, perm)


def _ppermute_batch(axis_name, size, vals, dims, *, axes, perm):
    (x,), (d,) = vals, dims
    if axis_name not in axes:
        return ppermute_p.bind(x, axes=axes, perm=perm), d
    x = to_front(x, d, size)
    source = {dst: src for src, dst in perm}
    zero = lax.broadcast_in_dim(lax.convert_element_type(lax.as_array(0), x.dtype),
                                (1, *x.shape[1:]), ())  # fmt: skip
    # One slice per member: the permutation is static and members are few.
    pieces = [lax.index_in_dim(x, source[k]) if k in source else zero for k in range(size)]
    return lax.concatenate(pieces, 0), 0


def _ppermute_vjp(g, x, *, out, axes, perm):
    return (ppermute_p.bind(g, axes=axes, perm=tuple((dst, src) for src, dst in perm)),)


ppermute_p = AxisPrimitive(
    "ppermute", _ppermute_impl, _same_shape, axis_batch=_ppermute_batch, vjp=_ppermute_vjp,
    linear=(0,),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# axis_index: which member this is.


def _index_shape(*, axes: tuple) -> ShapedArray:
    return ShapedArray((), np.dtype(np.int32))


def _index_impl(*, axes: tuple) -> np.ndarray:
    (name,) = axes
    return np.asarray(_comm(name, "axis_index").rank, dtype=np.int32)


def _index_batch(axis_name, size, vals, dims, *, axes):
    if axis_name not in axes:  # pragma: no cover - bind sends it to the trace of its axis
        return axis_index_p.bind(axes=axes), None
    return lax.iota(np.int32, size), 0


axis_index_p = AxisPrimitive(
    "axis_index", _index_impl, _index_shape, axis_batch=_index_batch, differentiable=False,
    weak_type=lambda weak, **params: False,
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# The public functions (JAX's signatures). Each takes a pytree and applies to every leaf.


def _frames(axis_name: AxisName, op: str) -> list[AxisFrame]:
    return [lookup(n, op) for n in axis_names(axis_name)]


def _one_axis(axis_name: AxisName, op: str) -> tuple[tuple, int]:
    names = axis_names(axis_name)
    if len(names) != 1:
        raise NotImplementedError(f"{op}: one axis name at a time, got {names!r}")
    return names, lookup(names[0], op).size


def axis_size(axis_name: AxisName) -> int:
    """The number of members of ``axis_name`` (the product over a tuple of names).

    Raises:
        NameError: the axis name is not bound.
    """
    return int(np.prod([f.size for f in _frames(axis_name, "axis_size")], dtype=np.int64))


def psum(x: Any, axis_name: AxisName) -> Any:
    """Sum of ``x`` over the members of ``axis_name`` (every member gets the sum).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.vmap(lambda v: v / vfunc.lax.psum(v, "i"), axis_name="i")(vnp.array([1., 3.]))
        Array([0.25, 0.75], dtype=float32)
    """
    names = axis_names(axis_name)
    _frames(names, "psum")
    return tree.map(lambda leaf: psum_p.bind(lax.as_array(leaf), axes=names), x)


def pmean(x: Any, axis_name: AxisName) -> Any:
    """Mean of ``x`` over the members of ``axis_name``."""
    n = axis_size(axis_name)

    def mean(s: Array) -> Array:
        return lax.div(s, lax.convert_element_type(lax.as_array(n), s.dtype))

    return tree.map(mean, psum(x, axis_name))


def pmax(x: Any, axis_name: AxisName) -> Any:
    """Maximum of ``x`` over the members of ``axis_name`` (not differentiable, as in JAX)."""
    names = axis_names(axis_name)
    _frames(names, "pmax")
    return tree.map(lambda leaf: pmax_p.bind(lax.as_array(leaf), axes=names), x)


def pmin(x: Any, axis_name: AxisName) -> Any:
    """Minimum of ``x`` over the members of ``axis_name`` (not differentiable, as in JAX)."""
    names = axis_names(axis_name)
    _frames(names, "pmin")
    return tree.map(lambda leaf: pmin_p.bind(lax.as_array(leaf), axes=names), x)


def all_gather(x: Any, axis_name: AxisName, *, axis: int = 0, tiled: bool = False) -> Any:
    """Every member's ``x`` stacked along a new axis ``axis`` (concatenated along ``axis``
    when ``tiled``)."""
    names, n = _one_axis(axis_name, "all_gather")

    def gather(leaf: Any) -> Array:
        leaf = lax.as_array(leaf)
        rank = leaf.ndim + (not tiled)
        a = int(axis) % rank if rank else int(axis)
        return all_gather_p.bind(leaf, axes=names, axis=a, tiled=bool(tiled), axis_size=n)

    return tree.map(gather, x)


def psum_scatter(
    x: Any, axis_name: AxisName, *, scatter_dimension: int = 0, tiled: bool = False
) -> Any:
    """``psum`` whose result is split along ``scatter_dimension``: member k keeps index k of it
    (block k of ``axis_size`` blocks when ``tiled``)."""
    names, n = _one_axis(axis_name, "psum_scatter")

    def scatter(leaf: Any) -> Array:
        leaf = lax.as_array(leaf)
        s = int(scatter_dimension) % max(leaf.ndim, 1)
        return psum_scatter_p.bind(leaf, axes=names, scatter_dimension=s, tiled=bool(tiled),
                                   axis_size=n)  # fmt: skip

    return tree.map(scatter, x)


def all_to_all(
    x: Any, axis_name: AxisName, split_axis: int, concat_axis: int, *, tiled: bool = False
) -> Any:
    """Block j of ``split_axis`` goes to member j, which stacks what it receives along
    ``concat_axis`` (concatenates, when ``tiled``), as ``jax.lax.all_to_all``."""
    names, n = _one_axis(axis_name, "all_to_all")

    def exchange(leaf: Any) -> Array:
        leaf = lax.as_array(leaf)
        r = max(leaf.ndim, 1)
        return all_to_all_p.bind(leaf, axes=names, split_axis=int(split_axis) % r,
                                 concat_axis=int(concat_axis) % r, tiled=bool(tiled),
                                 axis_size=n)  # fmt: skip

    return tree.map(exchange, x)


def ppermute(x: Any, axis_name: AxisName, perm: Sequence[tuple[int, int]]) -> Any:
    """Member ``dst`` receives member ``src``'s ``x`` for each ``(src, dst)`` in ``perm``;
    members that receive nothing get zeros.

    Raises:
        ValueError: an index is out of range, or a source or destination repeats.
    """
    names, n = _one_axis(axis_name, "ppermute")
    pairs = tuple((int(s), int(d)) for s, d in perm)
    srcs, dsts = [s for s, _ in pairs], [d for _, d in pairs]
    if len(set(srcs)) != len(srcs) or len(set(dsts)) != len(dsts):
        raise ValueError(f"ppermute: perm {pairs} repeats a source or a destination")
    if any(not 0 <= i < n for i in srcs + dsts):
        raise ValueError(f"ppermute: perm {pairs} has an index outside the axis size {n}")
    return tree.map(lambda leaf: ppermute_p.bind(lax.as_array(leaf), axes=names, perm=pairs), x)


def axis_index(axis_name: AxisName) -> Array:
    """This member's index along ``axis_name`` (int32)."""
    names, _ = _one_axis(axis_name, "axis_index")
    return axis_index_p.bind(axes=names)


__all__ = [
    "AxisPrimitive",
    "uses_axis",
    "all_gather",
    "all_gather_p",
    "all_to_all",
    "all_to_all_p",
    "axis_index",
    "axis_index_p",
    "axis_size",
    "pmax",
    "pmax_p",
    "pmean",
    "pmin",
    "pmin_p",
    "ppermute",
    "ppermute_p",
    "psum",
    "psum_p",
    "psum_scatter",
    "psum_scatter_p",
]
