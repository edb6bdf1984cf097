"""Random small vfunc programs for the transformation fuzzer (``test_transformations.py``).

A program is a tree of statements over values of one working shape ``S``: elementwise
primitives discovered in the registry (each through a domain map that keeps it finite and
smooth), structural templates (one or more per non-elementwise primitive: reductions,
movement, indexing, contractions, windows, sorting, convolution, ...), custom rules, and
control flow (``scan``, ``fori_loop``, ``while_loop``, ``cond``, ``switch``, ``lax.map``) whose
bodies are random blocks that close over traced values of the enclosing scope.

Every program renders to Python source in two forms: ``structured`` (the ``lax`` constructs)
and ``unrolled`` (the same bodies driven by Python ``for``/``while``/``if``). Both forms run in
``NAMESPACE``; a failing example prints both sources and the seed of its inputs, so it can be
pasted into a regression test as is.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import numpy as np
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
import vfunc.random
import vfunc.scipy.linalg
from vfunc import lax
from vfunc.core import ShapedArray, registry

# ----------------------------------------------------------------------------------------------
# The namespace programs run in


def bind(name: str, *args: Any, **params: Any) -> Any:
    """Apply registry primitive ``name`` (the fuzzer calls primitives by their registry name)."""
    return registry[name].bind(*args, **params)


@vfunc.custom_jvp
def softplus_cj(x):
    """log(1 + exp(x)) with its derivative given by a custom JVP rule."""
    return vnp.log1p(vnp.exp(-vnp.abs(x))) + vnp.maximum(x, 0.0)


@softplus_cj.defjvp
def _softplus_cj_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus_cj(x), t * lax.logistic(x)


@vfunc.custom_vjp
def sin_cv(x):
    """sin(x) with its derivative given by a custom VJP rule (residual: cos x)."""
    return vnp.sin(x)


def _sin_cv_fwd(x):
    return vnp.sin(x), vnp.cos(x)


def _sin_cv_bwd(cos_x, g):
    return (g * cos_x,)


sin_cv.defvjp(_sin_cv_fwd, _sin_cv_bwd)


# Rules that deliberately differ from the primal's own derivative: a rule that staging or a
# control-flow body silently drops changes the gradient (the unrolled program keeps it).
@vfunc.custom_jvp
def double_tangent_cj(x):
    """x, whose custom JVP doubles the tangent (so its gradient is 2)."""
    return x * 1.0


double_tangent_cj.defjvp(lambda primals, tangents: (double_tangent_cj(primals[0]),
                                                    tangents[0] * 2.0))  # fmt: skip


@vfunc.custom_vjp
def half_cotangent_cv(x):
    """x, whose custom VJP halves the cotangent (so its gradient is 0.5)."""
    return x * 1.0


half_cotangent_cv.defvjp(lambda x: (x * 1.0, None), lambda _, g: (g * 0.5,))

NAMESPACE: dict[str, Any] = {
    "np": np, "vnp": vnp, "lax": lax, "vfunc": vfunc, "bind": bind,
    "softplus_cj": softplus_cj, "sin_cv": sin_cv, "double_tangent_cj": double_tangent_cj,
    "half_cotangent_cv": half_cotangent_cv,
}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Elementwise primitives: discovered in the registry, each with a domain map

# How each elementwise float primitive's operands are mapped into a safe domain (finite values,
# away from poles, moderate magnitude so float64 finite differences stay accurate). ``{}`` is an
# operand expression. ``test_every_registry_primitive_is_generated`` fails for a new primitive
# that has no entry here or in TEMPLATES.
ANY, BOUNDED, POSITIVE = "{}", "(lax.tanh({}) * 2.0)", "({0} * {0} + 0.5)"
UNIT = "(lax.tanh({}) * 0.9)"
_CONST = "(lax.stop_gradient({{}}) * 0.0 + {})"
DOMAINS: dict[str, tuple[str, ...]] = {
    "neg": (ANY,), "abs": (ANY,), "sign": (ANY,), "exp": (BOUNDED,), "log": (POSITIVE,),
    "log1p": (POSITIVE,), "expm1": (BOUNDED,), "sin": (ANY,), "cos": (ANY,),
    "tan": ("(lax.tanh({}) * 1.2)",), "tanh": (ANY,), "sinh": (BOUNDED,), "cosh": (BOUNDED,),
    "asin": (UNIT,), "acos": (UNIT,), "atan": (ANY,), "sqrt": (POSITIVE,), "rsqrt": (POSITIVE,),
    "logistic": (ANY,), "erf": (ANY,), "floor": (ANY,), "ceil": (ANY,),
    "add": (ANY, ANY), "sub": (ANY, ANY), "mul": (ANY, ANY), "div": (ANY, POSITIVE),
    "rem": (ANY, "({0} * {0} + 1.0)"), "pow": (POSITIVE, BOUNDED), "max": (ANY, ANY),
    "min": (ANY, ANY), "atan2": (ANY, ANY), "stop_gradient": (ANY,), "erf_inv": (UNIT,),
    "nextafter": (ANY, ANY), "random_gamma_grad": (POSITIVE, POSITIVE),
    "lgamma": (POSITIVE,), "digamma": (POSITIVE,), "erfc": (ANY,), "i0e": (POSITIVE,),
    "i1e": (POSITIVE,), "ndtri": ("(lax.logistic({}) * 0.9 + 0.05)",), "log_ndtr": (ANY,),
    "asinh": (ANY,), "acosh": ("({0} * {0} + 1.5)",), "atanh": (UNIT,),
    # order and shape parameters are constants: their derivatives are refused (as in JAX)
    "zeta": (_CONST.format(2.5), POSITIVE), "igamma": (_CONST.format(1.5), POSITIVE),
    "igammac": (_CONST.format(1.5), POSITIVE),
}  # fmt: skip
# Elementwise primitives whose derivative is zero almost everywhere (jumps at isolated points).
PIECEWISE_CONSTANT = {"sign", "floor", "ceil"}
# Primitives whose gradient deliberately differs from finite differences: nextafter(x, y) moves
# x by one ulp, its derivative defined as zero (as in JAX); random_gamma_grad (d sample / d a
# of random_gamma's VJP) has no derivative of its own.
STOPS = {"stop_gradient", "nextafter", "random_gamma_grad"}


def _elementwise_float_primitives() -> dict[str, int]:
    """name -> arity of every registry primitive that is elementwise on float64 operands of
    one shape and returns float64 of that shape without params."""
    f = ShapedArray((2,), np.dtype("float64"))
    found = {}
    for name, prim in registry.items():
        if not prim.elementwise or prim.multiple_results:
            continue
        for arity in (1, 2):
            try:
                out = prim.shape_rule(*([f] * arity))
            except TypeError:
                continue  # wrong arity, or params needed
            except Exception:  # noqa: BLE001 - a dtype error: not a float op
                break
            if out.shape == f.shape and out.dtype == f.dtype:
                found[name] = arity
            break
    return found


ELEMENTWISE = _elementwise_float_primitives()

# ----------------------------------------------------------------------------------------------
# Templates: the non-elementwise primitives, each as expressions of shape S from shape-S values

# A template is (primitive names it binds, condition on S ("any", "1d", "2d", "square"), flags,
# source with {a} {b} {c} operands, {S} the shape, {n} the last side, {k} a shift 0..n-1).
# Flags: "stop" (the gradient deliberately differs from finite differences).
TEMPLATES: list[tuple[tuple[str, ...], str, tuple[str, ...], str]] = [
    (("reduce_sum", "broadcast_in_dim"), "any", (),
     "vnp.broadcast_to(vnp.sum({a}, axis=-1, keepdims=True), {S})"),
    (("reduce_sum",), "any", (), "{a} * vnp.sum({b})"),
    (("reduce_prod",), "any", (), "vnp.broadcast_to(vnp.prod(lax.tanh({a}) + 1.5, axis=0), {S})"),
    (("reduce_max",), "any", (), "{a} - vnp.max({a}, axis=-1, keepdims=True)"),
    (("reduce_min",), "any", (), "{a} * vnp.min({b}, axis=0)"),
    (("argmax", "convert_element_type"), "any", (),
     "{a} + lax.convert_element_type(vnp.argmax({b}, axis=-1), vnp.float64)[..., None]"),
    (("argmin",), "any", (),
     "{a} * lax.convert_element_type(vnp.argmin({b}, axis=0), vnp.float64)"),
    (("dot_general",), "1d", (), "vnp.dot({a}, {b}) * {c} * 0.3"),
    (("dot_general",), "1d", (), "vnp.outer({a}, {b}) @ {c} * 0.3"),
    (("dot_general", "transpose"), "2d", (), "({a} @ {b}.T) @ {c} * 0.3"),
    (("dot_general",), "2d", (), "vnp.einsum('ij,ij->i', {a}, {b})[:, None] * {c} * 0.3"),
    (("dot_general",), "square", (), "{a} @ {b} * 0.5"),
    (("dot_general",), "any", (), "{a} @ {m}"),
    (("dot_general",), "1d", (), "{m} @ {a}"),
    (("dot_general", "add", "tanh"), "any", (), "lax.tanh({a} @ {m} + {b})"),  # a dense layer
    (("dot_general", "transpose"), "2d", (), "({m} @ {a}.T).T"),
    (("transpose",), "square", (), "{a}.T"),
    (("transpose", "reshape"), "any", (), "lax.transpose({a}.reshape(-1, 1), (1, 0)).reshape({S})"),
    (("reshape",), "2d", (), "({a}.reshape(-1) * {b}.reshape(-1)[::-1]).reshape({S})"),
    (("rev",), "any", (), "lax.rev({a}, (0,))"),
    (("slice", "concatenate"), "any", (),
     "vnp.concatenate([{a}[..., {k}:], {b}[..., :{k}]], axis=-1)"),
    (("split", "concatenate"), "any", (),
     "vnp.concatenate(lax.split({a}, ({k}, {n} - {k}), -1)[::-1], axis=-1) * {b}"),
    (("pad", "slice"), "any", (),
     "lax.pad({a}[..., 1:], vnp.sum({b}) * 0.1, " "[(0, 0, 0)] * ({nd} - 1) + [(0, 1, 0)])"),
    (("pad",), "1d", (), "lax.pad({a}, 0.5, [(1, -1, 0)])"),
    (("pad", "slice"), "1d", (), "lax.pad({a}, vnp.mean({c}), [(0, -1, 1)])[:{n}] + 0.0 * {a}"),
    (("squeeze", "expand_dims"), "any", (), "vnp.squeeze(vnp.expand_dims({a}, 0), 0) * {b}"),
    (("iota",), "any", (), "{a} * lax.iota(vnp.float64, {n})"),
    (("dynamic_slice", "concatenate"), "1d", (),
     "lax.dynamic_slice(vnp.concatenate([{a}, {b}]), ({k},), ({n},))"),
    (("dynamic_update_slice",), "1d", (), "lax.dynamic_update_slice({a}, {b}[:1] * 2.0, ({k},))"),
    (("gather",), "any", (), "{a}[..., vnp.asarray({perm})]"),
    (("scatter_add",), "any", (), "{a}.at[..., vnp.asarray({dup})].add({b}[..., :{ndup}])"),
    (("scatter",), "any", (), "{a}.at[..., {k}].set({b}[..., 0] * 1.5)"),
    (("scatter_mul",), "any", (),
     "{a}.at[..., vnp.asarray({dup})].multiply(lax.tanh({b}[..., :{ndup}]) + 1.5)"),
    (("scatter_min",), "any", (), "{a}.at[..., vnp.asarray({dup})].min({b}[..., :{ndup}])"),
    (("scatter_max",), "any", (), "{a}.at[..., vnp.asarray({dup})].max({b}[..., :{ndup}])"),
    (("sort",), "any", (), "vnp.sort({a}, axis=-1) * {b}"),
    (("cumsum",), "any", (), "lax.cumsum({a}, axis=0, reverse={rev})"),
    (("cumprod",), "any", (), "lax.cumprod(lax.tanh({a}) + 1.5, axis=-1, reverse={rev})"),
    (("cummax",), "any", (), "lax.cummax({a}, axis=-1, reverse={rev})"),
    (("cummin",), "any", (), "lax.cummin({a}, axis=0, reverse={rev})"),
    (("select", "lt"), "any", (), "vnp.where(bind('lt', {a}, {b}), {a}, {b})"),
    (("select", "ge"), "any", (), "vnp.where(bind('ge', {a}, {b}), {a} * {c}, {b} * {c})"),
    (("select", "gt", "le"), "any", (),
     "vnp.where(bind('gt', {a}, 0.0) & bind('le', {b}, 1.0), {a} * {b}, {c})"),
    (("select", "eq", "ne"), "any", (),
     "vnp.where(bind('eq', {a}, {a}), {b}, {c}) + vnp.where(bind('ne', {a}, {a}), {c}, 0.0)"),
    (("select", "is_finite"), "any", (), "vnp.where(vnp.isfinite({a}), {a}, 0.0)"),
    (("convert_element_type", "round"), "any", (),
     "{a} + vnp.round({b} * 2.0) + lax.round({c}, lax.ROUND_AWAY_FROM_ZERO)"),
    (("and", "or", "xor", "not"), "any", (),
     "vnp.where(((({a} > 0) | ({b} > 0)) ^ ~({c} > 0.5)) & ({a} < 3.0), {a}, {b})"),
    (("shift_left", "shift_right_arithmetic", "shift_right_logical", "convert_element_type"),
     "any", (),
     "{a} + lax.convert_element_type("
     "lax.shift_left(lax.convert_element_type({b} * 4.0, vnp.int32), 1)"
     " + lax.shift_right_arithmetic(lax.convert_element_type({c} * 8.0, vnp.int32), 2)"
     " + lax.shift_right_logical(vnp.abs(lax.convert_element_type({b} * 8.0, vnp.int32)), 1),"
     " vnp.float64)"),
    (("reduce_window_sum",), "any", (),
     "lax.reduce_window({a}, 0.0, lax.add, {win}, {ones}, [(0, 0)] * ({nd} - 1) + [(1, 0)])"),
    (("reduce_window_max",), "any", (),
     "lax.reduce_window({a}, -vnp.inf, lax.max, {win}, {ones}, [(0, 0)] * ({nd} - 1) + [(0, 1)])"),
    (("conv_general_dilated",), "any", (),
     "lax.conv({a}.reshape(1, 1, -1), {b}.reshape(1, 1, -1)[..., :2], (1,), [(1, 0)])"
     ".reshape({S})"),
    (("fma",), "any", (), "bind('fma', {a}, {b}, {c})"),
    (("betainc",), "any", (), "bind('betainc', lax.stop_gradient({a}) * 0.0 + 2.0, "
     "lax.stop_gradient({a}) * 0.0 + 1.5, lax.logistic({b}) * 0.8 + 0.1)"),
    # linear algebra, each on a well-conditioned matrix (distinct eigen/singular values, a
    # dominant diagonal) so its derivative exists and finite differences stay accurate
    (("cholesky",), "square", (), "vnp.linalg.cholesky({a} @ {a}.T * 0.1 + vnp.eye({n})) * {b}"),
    (("solve",), "square", (), "vnp.linalg.solve({a} * 0.1 + 2.0 * vnp.eye({n}), {b})"),
    (("solve",), "any", (),
     "vnp.linalg.solve({m} * 0.3 + 2.0 * vnp.eye({n}), {a}[..., None])[..., 0]"),
    (("eigh",), "square", (),
     "vnp.linalg.eigh({a} @ {a}.T * 0.1 + vnp.diag(vnp.arange({n}) * 1.0))[0] * {b}"),
    (("eigh",), "square", (),  # squared eigenvectors: free of the sign convention
     "vnp.linalg.eigh({a} + {a}.T * 0.05 + vnp.diag(vnp.arange({n}) * 1.0))[1] ** 2 * {b}"),
    (("svd",), "square", (),
     "vnp.linalg.svd({a} * 0.1 + vnp.diag(vnp.arange({n}) + 1.0), compute_uv=False) * {b}"),
    (("slogdet",), "square", (), "vnp.linalg.slogdet({a} * 0.1 + 2.0 * vnp.eye({n}))[1] * {b}"),
    (("det",), "square", (), "vnp.linalg.det({a} * 0.1 + vnp.eye({n})) * {b}"),
    (("qr",), "square", (),  # of a tall matrix: R, and Q's top block
     "vnp.linalg.qr(vnp.concatenate([{a}, 2.0 * vnp.eye({n})]))[1] * {b}"),
    (("qr",), "square", (),
     "vnp.linalg.qr(vnp.concatenate([{a}, 2.0 * vnp.eye({n})]))[0][:{n}] * {b}"),
    (("lu", "lu_pivots_to_permutation", "triangular_solve"), "square", (),
     "vfunc.scipy.linalg.lu_solve("
     "vfunc.scipy.linalg.lu_factor({a} * 0.1 + 2.0 * vnp.eye({n})), {b})"),
    (("triangular_solve",), "square", (),
     "vfunc.scipy.linalg.solve_triangular(vnp.tril({a}) * 0.1 + 2.0 * vnp.eye({n}), {b}, "
     "lower=True)"),
    # complex values inside real programs: FFTs and the complex parts (JAX's conventions)
    (("fft", "real", "imag"), "any", (),
     "vnp.real(vnp.fft.fft({a})) * 0.3 + vnp.imag(vnp.fft.ifft({b} * 1j + {c}))"),
    (("fft", "conj"), "any", (),
     "vnp.fft.irfft(vnp.conj(vnp.fft.rfft({a})) * {b}[..., :1], n={n})"),
    (("fft", "real", "conj"), "2d", (), "vnp.real(vnp.fft.fft2({a} + 1j * {b}) * vnp.conj("
     "vnp.fft.fftn({c}))) * 0.1"),
    # random samplers on fixed keys: constants in x, used additively or as factors
    (("random_seed", "random_normal"), "any", (),
     "{a} + 0.1 * vfunc.random.normal(vfunc.random.key(1), {S})"),
    (("random_bits",), "any", (),
     "{a} + lax.convert_element_type(vfunc.random.bits(vfunc.random.key(2), {S}) % 7, "
     "vnp.float64)"),
    (("random_split", "random_fold_in", "random_bits", "fma"), "any", (),
     "{a} * vfunc.random.uniform("
     "vfunc.random.fold_in(vfunc.random.split(vfunc.random.key(3))[0], 5), {S})"),
    (("random_discrete",), "any", (),
     "{a} + vfunc.random.poisson(vfunc.random.key(5), 3.0, {S}) * 0.1"),
    (("haar_orthogonal",), "any", (), "{a} @ vfunc.random.orthogonal(vfunc.random.key(6), {n})"),
    (("mvn_factor",), "any", (),
     "vfunc.random.multivariate_normal(vfunc.random.key(7), {a}, vnp.eye({n}) * 0.5 + 0.1)"),
    # differentiable in the shape by implicit reparameterisation (as JAX): not the derivative
    # of the sample with its random bits held fixed, so no finite differences ("stop")
    (("random_gamma",), "any", ("stop",),
     "vfunc.random.gamma(vfunc.random.key(4), {a} * {a} + 0.5)"),
]  # fmt: skip
# Registry primitives reached without a template of their own: control flow (program nodes),
# and rules that only exist inside VJPs/JVPs of others (reached by differentiating them).
REACHED_OTHERWISE = {
    "cond": "Cond/Switch nodes", "while": "While node", "scan": "Scan/Fori/Map nodes",
    # eig has no derivative and eigvals only a first one (it needs eig's vectors), as in JAX,
    # while every program here is also differentiated twice: checked against JAX in
    # tests/test_linalg_complex.py instead
    "eig": "tests/test_linalg_complex.py", "eigvals": "tests/test_linalg_complex.py",
    "conv_input_grad": "VJP of conv_general_dilated",
    "conv_weight_grad": "VJP of conv_general_dilated",
    "reduce_window_sum_transpose": "VJP of reduce_window_sum",
    "select_and_scatter_add": "VJP of reduce_window_max",
    "select_and_gather_add": "JVP of reduce_window_max",
    # bound by the custom functions and the Checkpoint node (checked on their jaxprs by
    # test_custom_rules_and_checkpoint_bind_their_primitives)
    "custom_jvp_call": "softplus_cj, double_tangent_cj",
    "custom_vjp_call": "sin_cv, half_cotangent_cv",
    "checkpoint": "Checkpoint node",
    # a jitted function under a transformation: the grad(jit), jvp(jit) and vmap(jit)
    # compositions of test_transformations.py
    "jit": "compositions of jit",
    # no outputs, only an effect (printing): tests/test_jax_compat.py runs it under every
    # transformation, inside scan and cond, and through the compiler passes
    "debug_callback": "tests/test_jax_compat.py",
    # collectives need a bound axis name: tests/test_collectives.py, tests/test_distributed.py
    **{name: "named vmap / spmd" for name in ("psum", "pmax", "pmin", "all_gather",
                                               "psum_scatter", "all_to_all", "ppermute",
                                               "axis_index")},
}


def _fits(cond: str, shape: tuple[int, ...]) -> bool:
    if cond == "any":
        return True
    if cond == "1d":
        return len(shape) == 1
    if cond == "2d":
        return len(shape) == 2
    return len(shape) == 2 and shape[0] == shape[1]  # square


# ----------------------------------------------------------------------------------------------
# Program nodes


@dataclasses.dataclass
class Let:
    name: str
    expr: str

    def render(self, unrolled: bool) -> list[str]:
        return [f"{self.name} = {self.expr}"]


@dataclasses.dataclass
class Def:
    """A nested function: ``def name(args): body; return ret``."""

    name: str
    args: str
    body: list
    ret: str

    def render(self, unrolled: bool) -> list[str]:
        lines = [f"def {self.name}({self.args}):"]
        for stmt in self.body:
            lines += ["    " + line for line in stmt.render(unrolled)]
        return lines + [f"    return {self.ret}"]


@dataclasses.dataclass
class Control:
    """A control-flow statement: its helper defs, then one line per form."""

    defs: list
    structured: list[str]
    unrolled: list[str]

    def render(self, unrolled: bool) -> list[str]:
        lines = [line for d in self.defs for line in d.render(unrolled)]
        return lines + (self.unrolled if unrolled else self.structured)


@dataclasses.dataclass(frozen=True)
class Features:
    """What the generator may emit; switch off a construct with a known bug to keep CI green.

    ``scan_closures`` caps how many traced values of the enclosing scope a loop body reads.
    """

    scan: bool = True
    fori: bool = True
    while_loop: bool = True
    cond: bool = True
    switch: bool = True
    map: bool = True
    custom: bool = True
    custom_in_control_flow: bool = True
    checkpoint: bool = True
    templates: bool = True
    scan_closures: int = 4
    checkpoint_closures: bool = True  # checkpointed functions may read traced outer values
    max_depth: int = 2
    max_stmts: int = 5


class Program:
    """A generated program ``f(x, p) -> (y, z)``: ``x`` has shape ``shape``; ``p`` is
    ``{"w": S, "ws": [S, S], "seq": (length, *S), "m": (n, n)}`` (``n`` the last side of
    ``S``). Its repr is its source (both forms)."""

    def __init__(self, shape: tuple[int, ...], length: int, body: list, outs: tuple[str, str],
                 seed: int, flags: frozenset = frozenset(),
                 prims: frozenset = frozenset()):  # fmt: skip
        self.shape, self.length, self.body, self.outs = shape, length, body, outs
        self.seed, self.flags, self.prims = seed, flags, prims

    def source(self, unrolled: bool = False) -> str:
        lines = ["def f(x, p):"]
        for stmt in self.body:
            lines += ["    " + line for line in stmt.render(unrolled)]
        lines.append(f"    return ({self.outs[0]}, {self.outs[1]})")
        return "\n".join(lines)

    def function(self, unrolled: bool = False):
        """The program as a Python function (compiled from its source)."""
        scope = dict(NAMESPACE)
        label = f"<fuzz program {'unrolled' if unrolled else 'structured'}>"
        exec(compile(self.source(unrolled), label, "exec"), scope)  # noqa: S102
        return scope["f"]

    def inputs(self, batch: int | None = None) -> tuple[Any, Any]:
        """The float64 inputs ``(x, p)`` from ``seed`` (with a leading batch axis if asked)."""
        rng = np.random.default_rng(self.seed)
        lead = () if batch is None else (batch,)

        def draw(*shape):
            return vnp.asarray(rng.uniform(-1.5, 1.5, lead + shape))

        s = self.shape
        n = s[-1]
        return draw(*s), {"w": draw(*s), "ws": [draw(*s), draw(*s)], "seq": draw(self.length, *s),
                          "m": vnp.asarray(np.asarray(draw(n, n)) / n)}  # fmt: skip

    @property
    def has_control_flow(self) -> bool:
        return bool(self.flags & {"scan", "fori", "while", "cond", "switch", "map"})

    def __repr__(self) -> str:
        text = self.source(False)
        if self.has_control_flow:
            text += "\n# unrolled:\n" + self.source(True)
        return (f"Program(shape={self.shape}, length={self.length}, seed={self.seed}, "
                f"flags={sorted(self.flags)}):\n{textwrap.indent(text, '  ')}")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The generator


class _Gen:
    def __init__(self, draw, features: Features, shape: tuple[int, ...], length: int):
        self.draw, self.f, self.shape, self.length = draw, features, shape, length
        self.count = 0
        self.in_remat = False
        self.flags: set[str] = set()
        self.prims: set[str] = set()
        self.templates = [t for t in TEMPLATES if _fits(t[1], shape)]

    def fresh(self, prefix: str = "v") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def pick(self, pool: list[str]) -> str:
        return self.draw(st.sampled_from(pool))

    # expressions ------------------------------------------------------------------------------

    def expr(self, pool: list[str], in_cf: bool) -> str:
        kinds = ["unary", "binary"] + (["template"] if self.f.templates else [])
        if self.f.custom and (not in_cf or self.f.custom_in_control_flow):
            kinds.append("custom")
        kind = self.draw(st.sampled_from(kinds))
        if kind == "custom":
            a = self.pick(pool)
            # custom_vjp has no forward mode (as in JAX): never with while_loop (reverse-less)
            vjps = [] if "while" in self.flags else ["sin_cv", "half_cotangent_cv"]
            choice = self.draw(st.sampled_from(["softplus_cj", "double_tangent_cj", *vjps]))
            self.flags.add("custom_in_cf" if in_cf else "custom")
            if choice in vjps:
                self.flags.add("custom_vjp")
            if choice in ("double_tangent_cj", "half_cotangent_cv"):
                self.flags.add("stop")  # not the primal's derivative: no finite differences
            return f"{choice}({a})"
        if kind == "template":
            templates = self.templates
            if (in_cf and self.f.scan_closures < 2) or (
                self.in_remat and not self.f.checkpoint_closures
            ):
                # a loop body reading the weight matrix and a closure: two loop invariants;
                # a checkpointed function reading it: a traced closure
                templates = [t for t in templates if "{m}" not in t[3]]
            prims, _, flags, text = self.draw(st.sampled_from(templates))
            self.prims.update(prims)
            self.flags.update(flags)
            n = self.shape[-1]
            k = self.draw(st.integers(0, n - 1))
            perm = self.draw(st.permutations(list(range(n))))
            dup = self.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))
            nd = len(self.shape)
            return text.format(
                a=self.pick(pool), b=self.pick(pool), c=self.pick(pool), m='p["m"]', S=self.shape,
                n=n, k=k,
                nd=nd, perm=list(perm), dup=dup, ndup=len(dup),
                rev=self.draw(st.booleans()), win=(1,) * (nd - 1) + (2,), ones=(1,) * nd,
            )  # fmt: skip
        arity = 1 if kind == "unary" else 2
        names = sorted(n for n, a in ELEMENTWISE.items() if a == arity)
        name = self.draw(st.sampled_from(names))
        self.prims.add(name)
        if name in PIECEWISE_CONSTANT:
            self.flags.add("piecewise")
        if name in STOPS:
            self.flags.add("stop")
        args = [dom.format(self.pick(pool)) for dom in DOMAINS[name]]
        return f"bind({name!r}, {', '.join(args)})"

    # blocks -----------------------------------------------------------------------------------

    def block(self, pool: list[str], depth: int, in_cf: bool) -> tuple[list, list[str]]:
        """Statements appending new values to a copy of ``pool``."""
        pool = list(pool)
        body = []
        for _ in range(self.draw(st.integers(1, self.f.max_stmts))):
            kinds = ["let", "let", "let"]
            if depth < self.f.max_depth:
                # no while_loop once a custom_vjp function is in: neither mode would apply
                while_ok = self.f.while_loop and "custom_vjp" not in self.flags
                allowed = {"scan": self.f.scan, "fori": self.f.fori, "while": while_ok,
                           "cond": self.f.cond, "switch": self.f.switch, "map": self.f.map}
                kinds += [k for k, on in allowed.items() if on]
                if self.f.checkpoint and (not in_cf or self.f.custom_in_control_flow):
                    kinds.append("checkpoint")
            kind = self.draw(st.sampled_from(kinds))
            if kind == "let":
                name = self.fresh()
                body.append(Let(name, self.expr(pool, in_cf)))
                pool.append(name)
            else:
                stmts, new = getattr(self, "_" + kind)(pool, depth)
                body += stmts
                pool += new
        return body, pool

    def closure_pool(self, pool: list[str]) -> list[str]:
        """The outer values a loop body may read (at most ``scan_closures`` of them)."""
        k = self.draw(st.integers(0, min(self.f.scan_closures, len(pool))))
        if k == 0:
            return []
        return list(self.draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k, unique=True)))

    def fn(self, args: list[str], pool: list[str], depth: int, nret: int, tag: str):
        """A nested def over ``args`` (which join the pool) returning ``nret`` new values."""
        body, inner = self.block(pool + args, depth + 1, in_cf=True)
        rets = [self.pick(inner[-3:] + args) for _ in range(nret)]
        return body, rets

    def xs(self, pool: list[str]) -> str:
        if self.draw(st.booleans()):
            return 'p["seq"]'
        return "vnp.stack([" + ", ".join(self.pick(pool) for _ in range(self.length)) + "])"

    def _scan(self, pool, depth):
        self.flags.add("scan")
        t = self.fresh("scan")
        ncarry = self.draw(st.integers(1, 2))
        init = [self.pick(pool) for _ in range(ncarry)]
        cs = [f"{t}_c{i}" for i in range(ncarry)]
        body, rets = self.fn(cs + [f"{t}_x"], self.closure_pool(pool), depth, ncarry + 1, t)
        body = [Let(", ".join(cs) + ",", "carry")] + body
        d = Def(f"{t}_body", f"carry, {t}_x", body, f"({', '.join(rets[:-1])},), {rets[-1]}")
        xs = self.xs(pool)
        rev = self.draw(st.booleans())
        unroll = self.draw(st.sampled_from([1, 1, 2]))
        outs = [self.fresh() for _ in range(ncarry)]
        ys, red = self.fresh("ys"), self.fresh()
        order = f"range({self.length} - 1, -1, -1)" if rev else f"range({self.length})"
        lhs = f"({', '.join(outs)},), {ys}"
        inits = ", ".join(init)
        structured = [f"{lhs} = lax.scan({t}_body, ({inits},), {xs}, reverse={rev}, "
                      f"unroll={unroll})"]
        unrolled = [f"{t}_carry, {t}_xs, {t}_ys = ({inits},), {xs}, [None] * {self.length}",
                    f"for {t}_i in {order}:",
                    f"    {t}_carry, {t}_ys[{t}_i] = {t}_body({t}_carry, {t}_xs[{t}_i])",
                    f"{lhs} = {t}_carry, vnp.stack({t}_ys)"]  # fmt: skip
        summed = self.draw(st.booleans())
        reduce = Let(red, f"vnp.sum({ys}, axis=0)" if summed else f"{ys}[-1] * {ys}[0]")
        return [Control([d], structured, unrolled), reduce], outs + [red]

    def _fori(self, pool, depth):
        self.flags.add("fori")
        t = self.fresh("fori")
        init = self.pick(pool)
        iv = f"{t}_i"
        body_pool = self.closure_pool(pool)
        extra = [Let(f"{t}_fi", f"lax.convert_element_type({iv}, vnp.float64) * 0.25 + {t}_c"),
                 Let(f"{t}_row", f'p["seq"][{iv}] * {t}_c')]  # fmt: skip
        body, rets = self.fn([f"{t}_c", f"{t}_fi", f"{t}_row"], body_pool, depth, 1, t)
        d = Def(f"{t}_body", f"{iv}, {t}_c", extra + body, rets[0])
        out = self.fresh()
        structured = [f"{out} = lax.fori_loop(0, {self.length}, {t}_body, {init})"]
        unrolled = [f"{out} = {init}", f"for {t}_k in range({self.length}):",
                    f"    {out} = {t}_body({t}_k, {out})"]  # fmt: skip
        return [Control([d], structured, unrolled)], [out]

    def _while(self, pool, depth):
        self.flags.add("while")
        t = self.fresh("while")
        init = self.pick(pool)
        body, rets = self.fn([f"{t}_c"], self.closure_pool(pool), depth, 1, t)
        body = [Let(f"{t}_k, {t}_c", "carry")] + body
        d_cond = Def(f"{t}_cond", "carry", [], f"carry[0] < {self.length}")
        d_body = Def(f"{t}_body", "carry", body, f"({t}_k + 1, {rets[0]})")
        out = self.fresh()
        structured = [f"_, {out} = lax.while_loop({t}_cond, {t}_body, (0, {init}))"]
        unrolled = [f"{t}_carry = (0, {init})", f"while {t}_cond({t}_carry):",
                    f"    {t}_carry = {t}_body({t}_carry)", f"_, {out} = {t}_carry"]  # fmt: skip
        return [Control([d_cond, d_body], structured, unrolled)], [out]

    def _branches(self, pool, depth, n):
        t = self.fresh("br")
        ops = [self.pick(pool) for _ in range(self.draw(st.integers(1, 2)))]
        args = [f"{t}_a{i}" for i in range(len(ops))]
        defs = []
        for b in range(n):
            body, rets = self.fn(args, pool, depth, 1, t)
            defs.append(Def(f"{t}_{b}", ", ".join(args), body, rets[0]))
        return t, ops, defs

    def _cond(self, pool, depth):
        self.flags.add("cond")
        t, ops, defs = self._branches(pool, depth, 2)
        pred = f"vnp.sum({self.pick(pool)}) > {self.draw(st.sampled_from([-0.5, 0.0, 0.5]))}"
        out = self.fresh()
        o = ", ".join(ops)
        structured = [f"{out} = lax.cond({pred}, {t}_0, {t}_1, {o})"]
        unrolled = [f"{out} = {t}_0({o}) if {pred} else {t}_1({o})"]
        return [Control(defs, structured, unrolled)], [out]

    def _switch(self, pool, depth):
        self.flags.add("switch")
        n = self.draw(st.integers(2, 3))
        t, ops, defs = self._branches(pool, depth, n)
        idx = (f"vnp.clip(lax.convert_element_type(vnp.floor(vnp.sum({self.pick(pool)}) + 1.0), "
               f"vnp.int32), 0, {n - 1})")  # fmt: skip
        out = self.fresh()
        o = ", ".join(ops)
        names = ", ".join(d.name for d in defs)
        structured = [f"{out} = lax.switch({idx}, [{names}], {o})"]
        unrolled = [f"{out} = [{names}][int({idx})]({o})"]
        return [Control(defs, structured, unrolled)], [out]

    def _map(self, pool, depth):
        self.flags.add("map")
        t = self.fresh("map")
        body, rets = self.fn([f"{t}_x"], self.closure_pool(pool), depth, 1, t)
        d = Def(f"{t}_fn", f"{t}_x", body, rets[0])
        xs = self.xs(pool)
        ys, red = self.fresh("ys"), self.fresh()
        structured = [f"{ys} = lax.map({t}_fn, {xs})"]
        unrolled = [f"{t}_xs = {xs}",
                    f"{ys} = vnp.stack([{t}_fn({t}_xs[i]) for i in range({self.length})])"]
        return [Control([d], structured, unrolled), Let(red, f"vnp.sum({ys}, axis=0)")], [red]

    def _checkpoint(self, pool, depth):
        self.flags.add("checkpoint")
        t = self.fresh("remat")
        ops = [self.pick(pool) for _ in range(self.draw(st.integers(1, 2)))]
        args = [f"{t}_a{i}" for i in range(len(ops))]
        outer, self.in_remat = self.in_remat, True
        body, _ = self.block(args, self.f.max_depth, in_cf=True)
        self.in_remat = outer
        ret = body[-1].name if isinstance(body[-1], Let) else args[0]
        d = Def(f"{t}_fn", ", ".join(args), body, ret)
        out = self.fresh()
        line = [f"{out} = vfunc.checkpoint({t}_fn)({', '.join(ops)})"]
        return [Control([d], line, line)], [out]


@st.composite
def programs(draw, features: Features = Features()) -> Program:
    """A random program (see the module docstring) with float64 inputs drawn from its seed."""
    shape = draw(st.sampled_from([(3,), (4,), (2, 3), (3, 3), (2, 2)]))
    length = draw(st.integers(1, 3))
    gen = _Gen(draw, features, shape, length)
    pool = ["x", 'p["w"]', 'p["ws"][0]', 'p["ws"][1]']
    body, pool = gen.block(pool, 0, in_cf=False)
    new = pool[4:] or pool
    outs = (new[-1], draw(st.sampled_from(pool)))
    seed = draw(st.integers(0, 2**32 - 1))
    return Program(shape, length, body, outs, seed, frozenset(gen.flags), frozenset(gen.prims))
