"""Automatic differentiation: reverse mode (vjp, grad) and forward mode (jvp), to any order.

Reverse mode is a tape: ``VJPTrace`` evaluates each primitive on the primal values (at the level
below, so an enclosing transformation sees it) and records a node; the backward pass visits the
nodes in reverse creation order and calls each primitive's VJP rule. Rules are written with
vfunc operations, so a backward pass run under an enclosing ``VJPTrace`` is itself recorded:
``grad(grad(f))`` needs nothing more.

Forward mode (``JVPTrace``) uses a primitive's ``jvp`` rule when it has one (elementwise ops get
theirs from their VJP: the Jacobian is diagonal), pushes tangents through primitives declared
``linear``, and otherwise derives the JVP from the VJP rule, which is linear in its cotangent:
``J t`` is the VJP of ``g -> vjp(g)`` applied to ``t``.

Zero cotangents and tangents are symbolic (``None``): unused inputs, integer values and
non-differentiable primitives (comparisons, argmax) allocate nothing.

The jaxpr-level API at the end (``vjp_jaxpr``, ``jvp_jaxpr``, ``partial_eval``) is what rules of
equations carrying sub-jaxprs (control flow, custom rules, checkpoint) build their sub-jaxprs
with. Jacobians and Hessians, which need vmap too, are in ``transforms.jacobians``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import (
    Array,
    ArrayImpl,
    Primitive,
    ShapedArray,
    Trace,
    Tracer,
    new_trace,
    wrap_numpy,
)
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, Var, eval_jaxpr
from vfunc.primitives import elementwise as ew
from vfunc.primitives.builders import as_array
from vfunc.primitives.shape import broadcast_in_dim_p
from vfunc.transforms.staging import trace_flat

# ----------------------------------------------------------------------------------------------
# Helpers on values that may be arrays or tracers of any level


def is_differentiable_dtype(dtype: np.dtype) -> bool:
    """Float and complex values carry derivatives; integers and bools do not."""
    return dtype.kind in "fc"


def zeros_like_aval(aval: ShapedArray) -> Array:
    """A zero array of ``aval``'s shape and dtype (a broadcast scalar: allocates nothing)."""
    scalar = wrap_numpy(np.zeros((), dtype=aval.dtype))
    if not aval.shape:
        return scalar
    return broadcast_in_dim_p.bind(scalar, shape=aval.shape, broadcast_dimensions=())


def add_any(a: Any, b: Any) -> Any:
    """Sum of two cotangents/tangents where ``None`` is a symbolic zero."""
    if a is None:
        return b
    if b is None:
        return a
    return ew.add_p.bind(a, b)


def _match_dtype(ct: Array, like: Any) -> Array:
    """``ct`` converted to the dtype of ``like`` (an aval or an array) if it differs."""
    if type(ct) is ArrayImpl and type(like) is ArrayImpl and ct._value.dtype is like._value.dtype:
        return ct  # the eager common case, without the dtype properties
    if ct.dtype != like.dtype:
        return ew.convert_element_type_p.bind(ct, new_dtype=like.dtype, weak_type=like.weak_type)
    return ct


# ----------------------------------------------------------------------------------------------
# Reverse mode


# A tape entry, one per recorded primitive application: a plain tuple, the cheapest object
# Python builds. ``parents`` are the input tracers (``slot`` None: a constant for this trace).
# An entry of several results is followed by a None per further result, so that the slot of
# result ``i`` is the entry's position plus ``i``; an input's entry is ``_INPUT``.
_INPUT = (None, None, (), (), None)


class VJPTracer(Tracer):
    """A value under reverse-mode differentiation: its primal and the tape slot it came from
    (None for a constant)."""

    # ``dtype`` is stored, not read through: front ends ask for it on every operation.
    __slots__ = ("primal", "slot", "dtype")

    def __init__(self, trace: VJPTrace, primal: Array, slot: int | None, dtype: np.dtype):
        self._trace = trace
        self.primal = primal
        self.slot = slot
        self.dtype = dtype

    # Read through to the primal: most tracers never need an aval object of their own.
    @property
    def aval(self) -> ShapedArray:  # type: ignore[override]
        return self.primal.aval

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.primal.shape

    @property
    def weak_type(self) -> bool:  # type: ignore[override]
        return self.primal.weak_type

    def __repr__(self) -> str:  # JAX's spelling
        return f"GradTracer(primal={self.primal}, typeof(tangent)={self.aval.str_short()})"


class VJPTrace(Trace):
    """Records primitives applied to its tracers on a tape for a later backward pass.

    The tape is a list in creation order: the backward pass walks it from the end, which needs
    no search for the entries an output reaches and no sort (entries no output reaches are
    passed over, their cotangent being None).
    """

    def __init__(self, level: int):
        super().__init__(level)
        self.tape: list[tuple | None] = []

    def pure(self, value: Any) -> VJPTracer:
        value = as_array(value)
        return VJPTracer(self, value, None, value.dtype)

    lift = pure

    def new_input(self, primal: Array) -> VJPTracer:
        tape = self.tape
        tape.append(_INPUT)
        return VJPTracer(self, primal, len(tape) - 1, primal.dtype)

    def process_primitive(self, prim: Primitive, tracers: list, params: dict) -> Any:
        primals = [t.primal for t in tracers]
        if prim.differentiable:
            for t in tracers:
                if t.slot is not None:
                    break
            else:  # constants as far as this trace is concerned: symbolic zero gradient
                return prim.bind(*primals, **params)
        else:
            return prim.bind(*primals, **params)
        forward = prim.vjp_forward
        if forward is None:
            if params or len(primals) > 2:
                out = prim.bind(*primals, **params)
            elif len(primals) == 2:  # the elementwise ops: their eager path, without packing
                out = prim.apply2(primals[0], primals[1])
            else:
                out = prim.apply1(primals[0])
        else:
            # The primitive keeps what its VJP needs from this same pass (a scan's carries),
            # instead of the VJP recomputing it; the rule receives it as ``residuals``.
            out, residuals = forward(*primals, **params)
            params = {**params, "residuals": residuals}
        tape = self.tape
        slot = len(tape)
        tape.append((prim, params, tracers, primals, out))
        if prim.multiple_results:
            tape.extend([None] * (len(out) - 1))
            return [self._output(o, slot + i) for i, o in enumerate(out)]
        return self._output(out, slot)

    def _output(self, value: Any, slot: int) -> Any:
        dtype = value.dtype
        if dtype.kind not in "fc":  # integers and bools carry no gradient
            return value
        return VJPTracer(self, value, slot, dtype)

    def concretize(self, tracer: Tracer, fn_name: str) -> np.ndarray:
        # Python control flow on concrete values works under grad, as in JAX.
        primal = tracer.primal
        if isinstance(primal, Tracer):
            return primal._trace.concretize(primal, fn_name)
        return np.asarray(primal)


_ONES: dict[np.dtype, Array] = {}


def _one(dtype: np.dtype) -> Array:
    """The cotangent seed of a scalar output: a strong 1 of its dtype (Arrays are immutable,
    so one per dtype serves every call)."""
    seed = _ONES.get(dtype)
    if seed is None:
        seed = _ONES[dtype] = wrap_numpy(np.ones((), dtype=dtype))
    return seed


def _backward(tape: list, out_slots: list, out_cts: list) -> list:
    """Run VJP rules from the outputs back; return the cotangents by tape slot (None: zero)
    (only the inputs' slots are still filled)."""
    cts: list[Any] = [None] * len(tape)
    for slot, ct in zip(out_slots, out_cts, strict=True):
        if slot is not None and ct is not None:
            cts[slot] = add_any(cts[slot], ct)
    for slot in range(len(tape) - 1, -1, -1):
        entry = tape[slot]
        if entry is None or entry is _INPUT:  # a further result's slot, or an input
            continue
        prim, params, parents, primals, out = entry
        if prim.multiple_results:
            end = slot + len(out)
            gs = cts[slot:end]
            if all(g is None for g in gs):
                continue
            cts[slot:end] = [None] * len(gs)
            g = [zeros_like_aval(o.aval) if gi is None else gi
                 for gi, o in zip(gs, out, strict=True)]  # fmt: skip
        else:
            g = cts[slot]
            if g is None:
                continue
            cts[slot] = None  # its memory can go as soon as the rule has run
        if prim.vjp is None:
            raise NotImplementedError(
                f"reverse-mode differentiation of {prim.name!r} is not implemented"
            )
        if prim.vjp_wants:
            wants = tuple([p.slot is not None for p in parents])
            in_cts = prim.vjp(g, *primals, out=out, wants=wants, **params)
        else:
            in_cts = prim.vjp(g, *primals, out=out, **params)
        for parent, ct, primal in zip(parents, in_cts, primals, strict=True):
            if ct is None:
                continue
            target = parent.slot
            if target is None:
                continue
            ct = _match_dtype(ct, primal)
            old = cts[target]
            cts[target] = ct if old is None else ew.add_p.apply2(old, ct)
    return cts


def _check_differentiable_inputs(
    fun_name: str, args: Any, what: str, holomorphic: bool = False
) -> None:
    if holomorphic:
        _check_complex_inputs(fun_name, args, what)
        return
    leaves = tree.leaves(args)
    for leaf in leaves:
        dtype = leaf.dtype if isinstance(leaf, Array) else as_array(leaf).dtype
        if dtype.kind not in "fc":
            break
    else:
        return
    # Only now pay for paths, to name the offending argument.
    for path, leaf in tree.flatten_with_path(args)[0]:
        dtype = leaf.dtype if isinstance(leaf, Array) else as_array(leaf).dtype
        if not is_differentiable_dtype(dtype):
            raise TypeError(
                f"{fun_name} requires real- or complex-valued inputs, but {what}"
                f"{tree.keystr(path)} has dtype {dtype}. Differentiate with respect to float "
                "arguments only (use argnums to pick them), or convert with .astype(float)."
            )


def _check_complex_inputs(fun_name: str, args: Any, what: str) -> None:
    for path, leaf in tree.flatten_with_path(args)[0]:
        dtype = leaf.dtype if isinstance(leaf, Array) else as_array(leaf).dtype
        if dtype.kind != "c":
            raise TypeError(
                f"{fun_name} with holomorphic=True requires inputs with complex dtype, but "
                f"{what}{tree.keystr(path)} has dtype {dtype}. Convert it with "
                ".astype(complex)."
            )


_TREES: dict[str, Any] = {}


def _tree_of(kind: str) -> Any:
    """The tree structure of one Array (``"leaf"``) or of a 1-tuple of one (``"single"``):
    ``grad(f)(x)`` of one array needs no flattening."""
    treedef = _TREES.get(kind)
    if treedef is None:
        leaf = wrap_numpy(np.zeros(()))
        treedef = _TREES[kind] = tree.flatten(leaf if kind == "leaf" else (leaf,))[1]
    return treedef


class _Recording:
    """A forward pass under a ``VJPTrace``: the outputs and how to run the tape backward."""

    __slots__ = ("in_tree", "in_values", "tape", "in_slots", "out_tree", "out_slots",
                 "out_primals", "aux")  # fmt: skip

    def __init__(self, fun: Callable, primals: tuple, has_aux: bool, name: str):
        self.aux = None
        single = len(primals) == 1 and isinstance(primals[0], Array)
        if single:
            in_leaves, self.in_tree = primals, _tree_of("single")
        else:
            in_leaves, self.in_tree = tree.flatten(primals)
        self.in_values = [x if isinstance(x, Array) else as_array(x) for x in in_leaves]
        with new_trace(VJPTrace) as trace:
            in_tracers = [trace.new_input(v) for v in self.in_values]
            if single:
                out = fun(in_tracers[0])
            else:
                out = fun(*tree.unflatten(self.in_tree, in_tracers))
            if has_aux:
                out, aux = _split_aux(out, name)
            if isinstance(out, Array):
                out_leaves, self.out_tree = (out,), _tree_of("leaf")
            else:
                out_leaves, self.out_tree = tree.flatten(out)
            self.out_slots, self.out_primals = [], []
            for leaf in out_leaves:
                if isinstance(leaf, VJPTracer) and leaf._trace is trace:
                    self.out_slots.append(leaf.slot)
                    self.out_primals.append(leaf.primal)
                else:
                    self.out_slots.append(None)
                    self.out_primals.append(leaf)
            if has_aux:
                self.aux = tree.map(lambda a: a.primal if isinstance(a, VJPTracer)
                                    and a._trace is trace else a, aux)  # fmt: skip
        self.tape = trace.tape
        self.in_slots = [t.slot for t in in_tracers]

    def outputs(self) -> Any:
        if len(self.out_primals) == 1 and self.out_tree is _TREES.get("leaf"):
            return self.out_primals[0]
        return tree.unflatten(self.out_tree, self.out_primals)

    def pullback(self, cts: list) -> list:
        """Input cotangents (flat, as the inputs) from output cotangents (flat; None = zero)."""
        reached = _backward(self.tape, self.out_slots, cts)
        in_cts = []
        for slot, value in zip(self.in_slots, self.in_values, strict=True):
            ct = reached[slot]
            if ct is None:
                ct = zeros_like_aval(value.aval)
            elif ct.weak_type != value.weak_type:  # as JAX: the gradient has the input's type
                ct = ew.convert_element_type_p.bind(
                    ct, new_dtype=value.dtype, weak_type=value.weak_type
                )
            in_cts.append(ct)
        return in_cts


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Evaluate ``fun(*primals)`` and return its output with a function computing VJPs.

    Args:
        fun: a function of arrays / pytrees of arrays.
        *primals: the point at which to differentiate.
        has_aux: ``fun`` returns ``(output, aux)``; aux is returned as a third value, undiffed.

    Returns:
        ``(primals_out, vjp_fn)`` or ``(primals_out, vjp_fn, aux)``. ``vjp_fn(cotangent)`` takes a
        cotangent shaped like ``primals_out`` and returns a tuple with one cotangent per primal.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> y, f_vjp = vfunc.vjp(vnp.sin, vnp.zeros(()))
        >>> f_vjp(vnp.array(1.0))
        (Array(1., dtype=float32),)
    """
    rec = _Recording(fun, primals, has_aux, "vjp")
    out_avals = [as_array(p).aval for p in rec.out_primals]

    def vjp_fn(cotangent: Any) -> tuple:
        ct_leaves, ct_tree = tree.flatten(cotangent)
        if ct_tree != rec.out_tree:
            raise ValueError(
                f"vjp_fn: the cotangent must have the structure of the output, {rec.out_tree}, "
                f"but got {ct_tree}"
            )
        cts = []
        for ct, aval in zip(ct_leaves, out_avals, strict=True):
            ct = as_array(ct)
            if ct.shape != aval.shape:
                raise ValueError(
                    f"vjp_fn: cotangent of shape {ct.shape} given for an output of shape "
                    f"{aval.shape}"
                )
            cts.append(_match_dtype(ct, aval) if is_differentiable_dtype(aval.dtype) else None)
        return tuple(tree.unflatten(rec.in_tree, rec.pullback(cts)))

    if has_aux:
        return rec.outputs(), vjp_fn, rec.aux
    return rec.outputs(), vjp_fn


def _split_aux(out: Any, name: str) -> tuple[Any, Any]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            f"{name} with has_aux=True requires the function to return a pair (output, aux), "
            f"got {type(out).__name__}"
        )
    return out[0], out[1]


def _argnums_tuple(argnums: int | Sequence[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """A function returning ``(fun(*args), gradient)``; see ``grad``.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.value_and_grad(lambda x: (x ** 2).sum())(vnp.array([1.0, 2.0]))
        (Array(5., dtype=float32), Array([2., 4.], dtype=float32))
    """
    nums = _argnums_tuple(argnums)
    name = getattr(fun, "__name__", "function")
    fused = _jitted_transformation(fun, nums, value_and_grad, (argnums, has_aux, holomorphic))
    if fused is not None:
        return fused

    only_first = nums in ((0,), (-1,))

    @functools.wraps(fun)
    def value_and_grad_fun(*args: Any, **kwargs: Any) -> Any:
        if only_first and len(args) == 1 and not kwargs:
            # grad(f)(x): the one argument is the differentiated one
            diff_args, partial_fun = args, fun
            if holomorphic or not (
                type(args[0]) is ArrayImpl and args[0]._value.dtype.kind in "fc"
            ):
                _check_differentiable_inputs("grad", diff_args, "argument ", holomorphic)
        else:
            n = len(args)
            for i in nums:
                if not -n <= i < n:
                    raise ValueError(
                        f"grad: argnums {argnums} out of range for {n} positional arguments"
                    )
            nums_pos = tuple(i % n for i in nums)
            diff_args = tuple(args[i] for i in nums_pos)
            _check_differentiable_inputs("grad", diff_args, "argument ", holomorphic)

            def partial_fun(*diff: Any) -> Any:
                full = list(args)
                for i, d in zip(nums_pos, diff, strict=True):
                    full[i] = d
                return fun(*full, **kwargs)

        rec = _Recording(partial_fun, diff_args, has_aux, "grad")
        out = rec.outputs()
        if not holomorphic and type(out) is ArrayImpl and out.ndim == 0 and out.dtype.kind == "f":
            seed = _one(out.dtype)  # the common case, checked without conversions
        else:
            _check_scalar_output(name, out, holomorphic)
            seed = _one(as_array(rec.out_primals[0]).dtype)
        flat_grads = rec.pullback([seed])
        if isinstance(argnums, int):
            grads = flat_grads[0] if rec.in_tree is _TREES.get("single") else (
                tree.unflatten(rec.in_tree, flat_grads)[0])  # fmt: skip
        else:
            grads = tree.unflatten(rec.in_tree, flat_grads)
        if has_aux:
            return (out, rec.aux), grads
        return out, grads

    return value_and_grad_fun


def _jitted_transformation(
    fun: Callable, nums: tuple[int, ...], transform: Callable, options: tuple
) -> Any:
    """For a jitted ``fun``: ``jit(transform(fun.fun, *options))``, made once per
    function (None otherwise, or where a static argument is differentiated: that call's own
    error is the one to raise). ``grad(jit(f))`` then runs one compiled program, as
    ``jit(grad(f))`` does, rather than a compiled forward call, the tape and a compiled
    backward call; under a transformation it is one ``jit`` equation of the gradient."""
    make = getattr(type(fun), "_vf_transformed", None)
    if make is None:
        return None
    statics = fun.static_argnums
    if statics and (any(i < 0 for i in nums) or set(nums) & set(statics)):
        return None
    return make(fun, transform, options)


def _check_scalar_output(name: str, out: Any, holomorphic: bool = False) -> None:
    if not isinstance(out, (Array, float, int, complex, np.ndarray, np.generic)):
        raise TypeError(
            f"grad requires {name} to return a real scalar array, got a "
            f"{type(out).__name__}. Use vjp or jacrev for non-scalar or pytree outputs."
        )
    value = as_array(out)
    if value.shape != ():
        raise TypeError(
            f"grad requires {name} to return a {'complex' if holomorphic else 'real'} scalar "
            f"(shape ()), but it returned "
            f"{value.aval.str_short()}. Sum or index it to a scalar first, or use vjp or jacrev "
            "for non-scalar outputs."
        )
    check_output_dtype("grad", value.dtype, holomorphic)


def check_output_dtype(fun_name: str, dtype: np.dtype, holomorphic: bool) -> None:
    """Raise JAX's TypeError unless a differentiated output's dtype suits ``holomorphic``:
    complex with it, real float without it (grad and jacrev)."""
    if holomorphic:
        if dtype.kind != "c":
            raise TypeError(
                f"{fun_name} with holomorphic=True requires outputs with complex dtype, but "
                f"got {dtype}."
            )
    elif dtype.kind != "f":
        fix = (
            "For holomorphic differentiation, pass holomorphic=True. For differentiation of "
            "non-holomorphic functions involving complex outputs, use vfunc.vjp directly."
            if dtype.kind == "c"
            else "Convert the output to float, or differentiate a float output instead."
        )
        raise TypeError(
            f"{fun_name} requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {dtype}. {fix}"
        )


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The gradient of a real scalar function with respect to argument(s) ``argnums``.

    Complex inputs follow JAX's convention: for a real-valued ``fun`` of complex ``z`` the
    result is ``df/dx - 1j * df/dy`` (``grad(lambda z: abs(z) ** 2)(z)`` is ``2 * conj(z)``).
    A complex-valued ``fun`` raises TypeError unless ``holomorphic=True``, which then
    returns the complex derivative ``f'(z)``.

    Args:
        fun: returns a real scalar (or ``(scalar, aux)`` with ``has_aux``); a complex one
            with ``holomorphic``.
        argnums: an int, or a tuple of ints for a tuple of gradients.
        has_aux: return ``(gradient, aux)``.
        holomorphic: ``fun`` is holomorphic in complex inputs and has a complex output.

    Returns:
        A function with ``fun``'s signature returning gradients shaped like the chosen
        arguments (pytrees included).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.grad(vnp.sin)(0.0)
        Array(1., dtype=float32, weak_type=True)
    """
    options = (argnums, has_aux, holomorphic)
    fused = _jitted_transformation(fun, _argnums_tuple(argnums), grad, options)
    if fused is not None:
        return fused
    value_and_grad_fun = value_and_grad(fun, argnums, has_aux, holomorphic)

    @functools.wraps(fun)
    def grad_fun(*args: Any, **kwargs: Any) -> Any:
        value, grads = value_and_grad_fun(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return grad_fun


# ----------------------------------------------------------------------------------------------
# Forward mode


class JVPTracer(Tracer):
    """A value under forward-mode differentiation: primal and tangent (None = zero)."""

    __slots__ = ("primal", "tangent")

    def __init__(self, trace: JVPTrace, primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self.aval = primal.aval if isinstance(primal, Array) else as_array(primal).aval

    def __repr__(self) -> str:  # JAX's spelling
        tangent = "0" if self.tangent is None else str(self.tangent)
        return f"JVPTracer(primal={self.primal}, tangent={tangent})"


class JVPTrace(Trace):
    """Pushes tangents forward alongside primals."""

    def pure(self, value: Any) -> JVPTracer:
        return JVPTracer(self, as_array(value), None)

    lift = pure

    def process_primitive(self, prim: Primitive, tracers: list, params: dict) -> Any:
        primals = [t.primal for t in tracers]
        tangents = [t.tangent for t in tracers]
        if not prim.differentiable or all(t is None for t in tangents):
            return prim.bind(*primals, **params)
        if prim.jvp_full is not None:  # the rule computes the output too (custom_jvp)
            out, out_tangent = prim.jvp_full(primals, tangents, **params)
        else:
            out = prim.bind(*primals, **params)
            out_tangent = jvp_of(prim, primals, tangents, out, params)
        if prim.multiple_results:
            return [self._output(o, t) for o, t in zip(out, out_tangent, strict=True)]
        return self._output(out, out_tangent)

    def _output(self, value: Any, tangent: Any) -> Any:
        if tangent is None or not is_differentiable_dtype(value.dtype):
            return value
        return JVPTracer(self, value, _match_dtype(tangent, value.aval))

    def concretize(self, tracer: Tracer, fn_name: str) -> np.ndarray:
        primal = tracer.primal
        if isinstance(primal, Tracer):
            return primal._trace.concretize(primal, fn_name)
        return np.asarray(primal)


def jvp_of(prim: Primitive, primals: list, tangents: list, out: Any, params: dict) -> Any:
    """The output tangent of ``prim`` at ``primals`` along ``tangents`` (None = zero)."""
    if prim.jvp is not None:
        return prim.jvp(primals, tangents, out=out, **params)
    if prim.linear is not None:
        if all(tangents[i] is None for i in prim.linear):
            return None
        args = [
            (zeros_like_aval(p.aval) if t is None else t) if i in prim.linear else p
            for i, (p, t) in enumerate(zip(primals, tangents, strict=True))
        ]
        return prim.bind(*args, **params)
    return _jvp_from_vjp(prim, primals, tangents, out, params)


def _jvp_from_vjp(prim: Primitive, primals: list, tangents: list, out: Any, params: dict) -> Any:
    # The VJP rule is linear in its cotangent g: g -> J^T g. Its own VJP, applied to the
    # tangents, is J t. The point g0 at which we linearize is irrelevant; zeros cost nothing.
    if prim.vjp is None:
        raise NotImplementedError(f"forward-mode differentiation of {prim.name!r}")
    outs = out if prim.multiple_results else [out]
    g0 = [zeros_like_aval(o.aval) for o in outs]
    wanted = [i for i, t in enumerate(tangents) if t is not None]

    def transpose(*g: Any) -> tuple:
        cts = prim.vjp(list(g) if prim.multiple_results else g[0], *primals, out=out, **params)
        return tuple(zeros_like_aval(primals[i].aval) if cts[i] is None else cts[i] for i in wanted)

    _, transpose_vjp = vjp(transpose, *g0)
    result = transpose_vjp(tuple(tangents[i] for i in wanted))
    return list(result) if prim.multiple_results else result[0]


def _split_jvp_outputs(trace: JVPTrace, outs: Sequence[Any]) -> tuple[list, list]:
    """The primal values and tangents (None: zero) of ``outs``, results computed under
    ``trace``; an output that is not its tracer does not depend on the tangents."""
    primals, tangents = [], []
    for o in outs:
        if isinstance(o, JVPTracer) and o._trace is trace:
            primals.append(o.primal)
            tangents.append(o.tangent)
        else:
            primals.append(as_array(o))
            tangents.append(None)
    return primals, tangents


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False):
    """Evaluate ``fun`` and its directional derivative along ``tangents`` (forward mode).

    Args:
        fun: a function of arrays / pytrees of arrays.
        primals: a tuple (or list) of arguments.
        tangents: a tuple with the structure, shapes and dtypes of ``primals``.
        has_aux: ``fun`` returns ``(output, aux)``.

    Returns:
        ``(primals_out, tangents_out)`` (plus ``aux`` with has_aux).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.jvp(vnp.sin, (0.0,), (2.0,))
        (Array(0., dtype=float32, weak_type=True), Array(2., dtype=float32, weak_type=True))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples or lists of arguments")
    p_leaves, p_tree = tree.flatten(tuple(primals))
    t_leaves, t_tree = tree.flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(
            f"jvp: primals and tangents must share a structure, got {p_tree} and {t_tree}"
        )
    p_values = [as_array(p) for p in p_leaves]
    t_values = []
    for p, t in zip(p_values, t_leaves, strict=True):
        t = as_array(t)
        if t.shape != p.shape:
            raise ValueError(
                f"jvp: tangent of shape {t.shape} given for a primal of shape {p.shape}"
            )
        t_values.append(_match_dtype(t, p.aval) if is_differentiable_dtype(p.dtype) else None)
    with new_trace(JVPTrace) as trace:
        in_tracers = [JVPTracer(trace, p, t) for p, t in zip(p_values, t_values, strict=True)]
        out = fun(*tree.unflatten(p_tree, in_tracers))
        if has_aux:
            out, aux = _split_aux(out, "jvp")
        out_leaves, out_tree = tree.flatten(out)
        primals_out, tangents_out = _split_jvp_outputs(trace, out_leaves)
        if has_aux:
            aux = tree.map(lambda a: a.primal if isinstance(a, JVPTracer) and a._trace is trace
                           else a, aux)  # fmt: skip
    tangents_out = [zeros_like_aval(p.aval) if t is None else t
                    for p, t in zip(primals_out, tangents_out, strict=True)]  # fmt: skip
    result = (tree.unflatten(out_tree, primals_out), tree.unflatten(out_tree, tangents_out))
    return result + (aux,) if has_aux else result


def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Evaluate ``fun`` once and return ``(output, f_jvp)`` with ``f_jvp(*tangents)`` the JVP.

    ``f_jvp`` reuses the recorded evaluation (it transposes the reverse-mode tape), so calling
    it does not recompute ``fun``.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> y, f_jvp = vfunc.linearize(vnp.sin, vnp.array(0.0))
        >>> f_jvp(vnp.array(3.0))
        Array(3., dtype=float32)
    """
    out, vjp_fn = vjp(fun, *primals)
    out_leaves, out_tree = tree.flatten(out)
    zero_cts = tree.unflatten(out_tree, [zeros_like_aval(as_array(o).aval) for o in out_leaves])
    _, transpose_fn = vjp(vjp_fn, zero_cts)

    def f_jvp(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise TypeError(f"f_jvp takes {len(primals)} tangents, got {len(tangents)}")
        return transpose_fn(tuple(tangents))[0]

    return out, f_jvp


# ----------------------------------------------------------------------------------------------
# Jaxpr-level transformations: what rules of equations carrying sub-jaxprs (control flow,
# custom rules, checkpoint) use to build the sub-jaxprs of the equations they emit.


def _is_float(aval: Any) -> bool:
    return aval.dtype.kind in "fc"


def vjp_jaxpr(closed: ClosedJaxpr, diff: Sequence[bool]) -> ClosedJaxpr:
    """The reverse-mode derivative of ``closed`` as a jaxpr.

    Maps ``(*primals, *cotangents of the float outputs)`` to the cotangents of the inputs
    marked ``diff``, in order. The result is an ordinary program (it recomputes the primal
    values it needs), so it can be staged into a loop body, compiled, or differentiated again.
    """
    in_avals, out_avals = closed.in_avals, closed.out_avals
    n = len(in_avals)
    float_outs = [k for k, a in enumerate(out_avals) if _is_float(a)]
    wanted = [i for i, d in enumerate(diff) if d]

    def fun(*args: Any) -> list:
        primals, cts = list(args[:n]), list(args[n:])

        def partial(*d: Any) -> list:
            full = list(primals)
            for i, v in zip(wanted, d, strict=True):
                full[i] = v
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *full)
            return [outs[k] for k in float_outs]

        _, pullback = vjp(partial, *[primals[i] for i in wanted])
        return list(pullback(cts))

    return trace_flat(fun, list(in_avals) + [out_avals[k] for k in float_outs])


def jvp_jaxpr(closed: ClosedJaxpr, nonzero: Sequence[bool], primals_out: bool) -> ClosedJaxpr:
    """The forward-mode derivative of ``closed`` as a jaxpr.

    Maps ``(*primals, *tangents of the inputs marked nonzero)`` to ``(*outputs, *tangents of
    the float outputs)`` (the outputs only if ``primals_out``). Tangents of float outputs that
    depend on no nonzero tangent are explicit zeros, so every branch of a cond or iteration of
    a loop yields the same types.
    """
    in_avals, out_avals = closed.in_avals, closed.out_avals
    n = len(in_avals)

    def fun(*args: Any) -> list:
        primals, tangents = args[:n], iter(args[n:])
        with new_trace(JVPTrace) as trace:
            ins = [
                JVPTracer(trace, p, next(tangents)) if nz else p
                for p, nz in zip(primals, nonzero, strict=True)
            ]
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *ins)
            values, tans = _split_jvp_outputs(trace, outs)
        out_tans = [
            zeros_like_aval(a.update(weak_type=False)) if t is None else t
            for t, a in zip(tans, out_avals, strict=True)
            if _is_float(a)
        ]
        return (values if primals_out else []) + out_tans

    tangent_avals = [a for a, nz in zip(in_avals, nonzero, strict=True) if nz]
    return trace_flat(fun, list(in_avals) + tangent_avals)


def partial_eval(
    closed: ClosedJaxpr, unknown: Sequence[bool], recompute: Sequence[bool]
) -> tuple[ClosedJaxpr, ClosedJaxpr]:
    """Split ``closed`` into what can run now and what must wait for the ``unknown`` inputs.

    An equation reading, directly or not, an input marked ``unknown`` is *unknown*. Of the
    others, those reading an input that is neither unknown nor marked ``recompute`` are
    *known*: they run early, in ``known``. The rest read only ``recompute`` inputs and
    constants: both sides compute those they need (cheap work, or work a later pass hoists,
    not worth storing as a residual).

    Returns ``(known, rest)``. ``known`` maps the known inputs (in order) to the *residuals*:
    the values of known equations (or known inputs) that ``rest`` reads. ``rest`` maps
    ``(*recompute inputs, *unknown inputs, *residuals)`` to all of ``closed``'s outputs. Dead
    equations are dropped from both.

    This is how a scan's VJP runs the carry-dependent part of its backward step in the
    forward loop, stacking residuals, instead of recomputing the cell in the backward loop.
    """
    jx = closed.jaxpr
    unknown_vars = {v for v, u in zip(jx.invars, unknown, strict=True) if u}
    known_vars = {
        v for v, u, r in zip(jx.invars, unknown, recompute, strict=True) if not u and not r
    }
    known_eqns, rest_eqns = [], []
    for eqn in jx.eqns:
        ins = [v for v in eqn.invars if isinstance(v, Var)]
        if any(v in unknown_vars for v in ins):
            unknown_vars.update(eqn.outvars)
            rest_eqns.append(eqn)
        elif any(v in known_vars for v in ins):
            known_vars.update(eqn.outvars)
            known_eqns.append(eqn)
        else:  # cheap to rebuild: on both sides, each keeping those it needs
            known_eqns.append(eqn)
            rest_eqns.append(eqn)
    rest_eqns = _live(rest_eqns, jx.outvars)
    reads = [v for e in rest_eqns for v in e.invars] + list(jx.outvars)
    residuals = list(dict.fromkeys(v for v in reads if isinstance(v, Var) and v in known_vars))
    known_invars = [v for v, u in zip(jx.invars, unknown, strict=True) if not u]
    known = Jaxpr(jx.constvars, known_invars, residuals, _live(known_eqns, residuals))
    rest_invars = [v for v, u, r in zip(jx.invars, unknown, recompute, strict=True) if r and not u]
    rest_invars += [v for v, u in zip(jx.invars, unknown, strict=True) if u]
    rest = Jaxpr(jx.constvars, rest_invars + residuals, jx.outvars, rest_eqns)
    return ClosedJaxpr(known, closed.consts), ClosedJaxpr(rest, closed.consts)


def _live(eqns: Sequence[Any], outvars: Sequence[Any]) -> list:
    """The equations of ``eqns`` whose results reach ``outvars`` (all primitives are pure)."""
    needed = {v for v in outvars if isinstance(v, Var)}
    kept = []
    for eqn in reversed(eqns):
        if any(v in needed for v in eqn.outvars):
            kept.append(eqn)
            needed.update(v for v in eqn.invars if isinstance(v, Var))
    return kept[::-1]
