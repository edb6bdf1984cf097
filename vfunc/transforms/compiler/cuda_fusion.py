"""Compiled code on the GPU: a jaxpr run as CuPy calls, each fused elementwise cluster one
CUDA kernel.

The CPU's fusion plan (``vfunc.transforms.compiler.fusion.plan``) groups the optimised jaxpr's
elementwise chains into clusters; here each cluster whose equations all have a CUDA C form
(``_C_FORMS``, the counterpart of the primitives' ``Fusion.expr`` for numba) becomes one
``cupy.ElementwiseKernel``: it reads every input once and writes every output once, where
equation-by-equation evaluation launches one kernel and allocates one temporary per operation.
Clusters of any size are fused: a launch costs microseconds whatever its size, so small
arrays gain most from having fewer.
Every other equation calls its primitive's impl on the buffers directly (the device impls of
``vfunc.backends``), without the Array wrappers and per-call checks of ``eval_jaxpr``: the
types were checked when the jaxpr was traced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from vfunc.core import ArrayImpl, as_buffer
from vfunc.jaxpr import Jaxpr, Literal, Var
from vfunc.transforms.compiler import fusion

_C_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double", np.dtype("bool"): "bool"}

# CUDA C for each fusible primitive, by name: ``{0}``.. the operands, ``{T}`` the C type of the
# result, ``{U}`` that of the first operand. CUDA's math library overloads float and double.
_C_FORMS = {
    "abs": "fabs({0})", "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
    "div": "({0} / {1})", "neg": "(-{0})", "ceil": "ceil({0})", "floor": "floor({0})",
    "cos": "cos({0})", "sin": "sin({0})", "tanh": "tanh({0})", "exp": "exp({0})",
    "expm1": "expm1({0})", "log": "log({0})", "log1p": "log1p({0})", "erf": "erf({0})",
    "sqrt": "sqrt({0})", "rsqrt": "rsqrt({0})", "pow": "pow({0}, {1})",
    "logistic": "({T})1 / (({T})1 + exp(-{0}))",
    "is_finite": "isfinite({0})", "stop_gradient": "{0}",
    "convert_element_type": "(({T}){0})",
    "eq": "({0} == {1})", "ne": "({0} != {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
    "gt": "({0} > {1})", "ge": "({0} >= {1})",
    "and": "({0} && {1})", "or": "({0} || {1})", "not": "(!{0})",
    "select": "({0} ? {1} : {2})",
    # NaN wins, as lax.max/min and the CPU loops
    "max": "(({0} >= {1} || {0} != {0}) ? {0} : {1})",
    "min": "(({0} <= {1} || {0} != {0}) ? {0} : {1})",
}  # fmt: skip


def _literal(var: Literal) -> str | None:
    value = var.value._value
    ctype = _C_TYPES.get(value.dtype)
    item = value.item()
    if ctype is None or (ctype != "bool" and not math.isfinite(item)):
        return None  # inf/nan literals: left to the equation-by-equation path
    if ctype == "bool":
        return "true" if item else "false"
    return f"(({ctype}){float(item)!r})"


def _small_power(var: Any) -> int | None:
    if isinstance(var, Literal):
        v = var.value._value.item()
        if v == int(v) and 0 <= v <= 4:
            return int(v)
    return None


class _FusedKernel:
    """One cluster as one ``cupy.ElementwiseKernel``; ``None`` from ``build`` where a member
    has no CUDA form."""

    def __init__(self, kernel: Any, inputs: list, outputs: list, shape: tuple):
        self.kernel, self.inputs, self.outputs, self.shape = kernel, inputs, outputs, shape

    @staticmethod
    def build(cp: Any, cluster: fusion.Cluster, name: str) -> _FusedKernel | None:
        if any(fusion.is_reduction(e) for e in cluster.eqns):
            return None
        shape = tuple(cluster.shape)
        for v in (*cluster.inputs, *cluster.outputs):
            if v.aval.shape not in (shape, ()) or v.aval.dtype not in _C_TYPES:
                return None
        env = {v: f"in{i}" for i, v in enumerate(cluster.inputs)}
        lines = []
        for k, eqn in enumerate(cluster.eqns):
            form = _C_FORMS.get(eqn.primitive.name)
            out = eqn.outvars[0].aval.dtype
            if form is None or out not in _C_TYPES:
                return None
            args = []
            for v in eqn.invars:
                text = _literal(v) if isinstance(v, Literal) else env.get(v)
                if text is None:
                    return None
                args.append(text)
            declared = eqn.primitive.fusion
            small = declared is not None and declared.small_power
            power = _small_power(eqn.invars[1]) if small else None
            if power is not None:  # x ** 3 as x * x * x, as the CPU loops
                expr = f"(({_C_TYPES[out]})1)" if power == 0 else "(" + " * ".join(
                    [args[0]] * power) + ")"  # fmt: skip
            else:
                first = eqn.invars[0].aval.dtype
                expr = form.format(*args, T=_C_TYPES[out], U=_C_TYPES.get(first, "float"))
            local = f"v{k}"
            lines.append(f"{_C_TYPES[out]} {local} = {expr};")
            env[eqn.outvars[0]] = local
        for i, v in enumerate(cluster.outputs):
            lines.append(f"out{i} = {env[v]};")
        ins = ", ".join(f"{v.aval.dtype.name} in{i}" for i, v in enumerate(cluster.inputs))
        outs = ", ".join(f"{v.aval.dtype.name} out{i}" for i, v in enumerate(cluster.outputs))
        kernel = cp.ElementwiseKernel(ins, outs, "\n".join(lines), name)
        return _FusedKernel(kernel, list(cluster.inputs), list(cluster.outputs), shape)

    def __call__(self, cp: Any, env: dict) -> None:
        args = []
        for v in self.inputs:
            a = env[v]
            if not isinstance(a, cp.ndarray):
                a = np.asarray(a)  # a host input (uncommitted): a scalar argument, or moved
                a = v.aval.dtype.type(a.item()) if a.ndim == 0 else cp.asarray(a)
            args.append(a)
        outs = [cp.empty(self.shape, v.aval.dtype) for v in self.outputs]
        self.kernel(*args, *outs)
        env.update(zip(self.outputs, outs, strict=True))


def _eqn_step(eqn: Any) -> Callable[[dict], None]:
    impl = eqn.primitive.impl
    params = eqn.params
    invars = eqn.invars
    outvars = eqn.outvars
    multiple = eqn.primitive.multiple_results

    dtypes = [v.aval.dtype for v in outvars]

    def step(env: dict) -> None:
        vals = [v.value._value if isinstance(v, Literal) else env[v] for v in invars]
        out = impl(*vals, **params)
        outs = out if multiple else [out]
        for var, o, dtype in zip(outvars, outs, dtypes, strict=True):
            o = as_buffer(o)
            # what bind's eager path guarantees: the traced dtype (numpy scalars promote)
            env[var] = o if o.dtype == dtype else o.astype(dtype)

    return step


def compile_jaxpr(cp: Any, jaxpr: Jaxpr, fuse: bool = True) -> Callable[[list, tuple], list]:
    """``run(consts, values)``: ``jaxpr`` evaluated on device buffers, its fusible clusters as
    one kernel each (with ``fuse``)."""
    steps: list = []
    for k, item in enumerate(fusion.plan(jaxpr, min_size=1) if fuse else jaxpr.eqns):
        if isinstance(item, fusion.Cluster):
            kernel = _FusedKernel.build(cp, item, f"vfunc_fused_{k}")
            if kernel is not None:
                steps.append(lambda env, _k=kernel: _k(cp, env))
            else:
                steps.extend(_eqn_step(e) for e in item.eqns)
        else:
            steps.append(_eqn_step(item))
    constvars, invars, outvars = jaxpr.constvars, jaxpr.invars, jaxpr.outvars

    def run(consts: list, values: tuple) -> list:
        env: dict[Var, Any] = {}
        for v, c in zip(constvars, consts, strict=True):
            env[v] = c._value if isinstance(c, ArrayImpl) else c
        env.update(zip(invars, values, strict=True))
        for step in steps:
            step(env)
        return [v.value._value if isinstance(v, Literal) else env[v] for v in outvars]

    return run


def compile_for_backend(backend: Any, jaxpr: Jaxpr) -> Callable[[list, tuple], list]:
    """``compile_jaxpr`` for a backend's devices (its array module, and its ``fuse`` switch):
    registered for the "gpu" platform by ``vfunc.transforms.compiler.cache``."""
    return compile_jaxpr(backend.xp, jaxpr, fuse=getattr(backend, "fuse", True))
