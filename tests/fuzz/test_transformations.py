"""The transformation fuzzer: identities every program must satisfy, on random programs.

Programs come from ``fuzzgen.programs`` (random compositions of registry primitives, custom
rules and control flow over a pytree of traced float64 inputs; see ``fuzzgen``). For each one:

* ``grad`` equals float64 central finite differences (two random directions), and equals
  ``grad`` of the same program with every ``scan``/``fori_loop``/``while_loop``/``cond``/
  ``switch``/``map`` replaced by its Python equivalent; values of both forms agree;
* ``<J u, v> == <u, J^T v>`` (``jvp`` against ``vjp``); ``jacfwd == jacrev``; the ``hessian``
  is symmetric; ``jvp(grad)`` (forward over reverse) equals ``grad`` of a ``jvp``;
* ``jit(f) == f``; ``vmap(f)`` equals a stacked Python loop (batched ``x`` only, and every
  input batched); ``eval_jaxpr(make_jaxpr(f))`` equals ``f``;
* compositions of two of grad/jit/vmap/jvp equal their eager forms: ``jit(grad)``,
  ``grad(jit)``, ``vmap(grad)``, ``grad(vmap)``, ``jit(vmap(grad))``, ``jit(jvp)``,
  ``jvp(jit)``, ``vmap(jvp)``, ``jvp(vmap)``, ``vmap(jit)``, ``jit(vmap)``.

Programs with a ``while_loop`` skip the reverse-mode identities (``while_loop`` is forward-only
by design), programs with a ``custom_vjp`` function the forward-mode ones (as in JAX), and
programs with ``stop_gradient`` the finite-difference comparison.

How to run
----------
CI (the default): a bounded, derandomized profile, well under two minutes on one core::

    python -m pytest tests/fuzz -q

Hunting (the ``deep`` profile): random (not derandomized) and as many programs as asked;
``VFUNC_FUZZ_EXAMPLES`` is per test (default 2000), ``VFUNC_FUZZ_BUGS=all`` (or a comma list
of ``KNOWN_BUGS`` keys) switches features with known open bugs back on (none today),
``VFUNC_FUZZ_STATS=path`` appends how many programs each test checked and for how long::

    VFUNC_FUZZ=deep VFUNC_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz -q -x

A failure prints the program (both forms) and its input seed: ``Program.function()`` rebuilds
it; paste it into ``test_regressions.py`` as a named test.
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
from vfunc import tree
from vfunc.core import registry
from vfunc.jaxpr import eval_jaxpr
from vfunc.testing.gradients import enable_x64

import fuzzgen

DEEP = os.environ.get("VFUNC_FUZZ", "ci") == "deep"
# Features switched off in CI while their bugs are being fixed elsewhere: each entry
# (``Features`` field -> its off value) is reproduced by an xfail(strict) test in
# test_regressions.py. Empty: issue 11's (scan bodies reading several traced outer values,
# custom rules and checkpoint inside control flow, checkpoint closures) are fixed.
KNOWN_BUGS: dict[str, object] = {}
# VFUNC_FUZZ_BUGS (deep only): "all", or a comma list of KNOWN_BUGS keys to switch back on
_BUGS_ON = os.environ.get("VFUNC_FUZZ_BUGS", "") if DEEP else ""
FEATURES = fuzzgen.Features(**{k: v for k, v in KNOWN_BUGS.items()
                               if _BUGS_ON != "all" and k not in _BUGS_ON.split(",")})  # fmt: skip

settings.register_profile(
    "vfunc-fuzz-ci", max_examples=40, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)  # fmt: skip
settings.register_profile(
    "vfunc-fuzz-deep", max_examples=int(os.environ.get("VFUNC_FUZZ_EXAMPLES", "2000")),
    derandomize=False, deadline=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
PROFILE = settings.get_profile("vfunc-fuzz-deep" if DEEP else "vfunc-fuzz-ci")

_STATS: dict[str, list[float]] = {}


@pytest.fixture(autouse=True, scope="module")
def _report_stats():
    yield
    path = os.environ.get("VFUNC_FUZZ_STATS")
    if path:
        with open(path, "a") as fh:
            for name, (count, seconds) in _STATS.items():
                fh.write(f"{name} programs={int(count)} seconds={seconds:.1f}\n")


def _fuzzed(name: str):
    """Run a fuzz test's body in float64, counting its programs and time under ``name``."""

    def wrap(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            started = time.perf_counter()
            with enable_x64():
                test(*args, **kwargs)
            entry = _STATS.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

        return run

    return wrap


# ----------------------------------------------------------------------------------------------
# Helpers


def _np(tree_: object) -> list[np.ndarray]:
    return [np.asarray(leaf, np.float64) for leaf in tree.leaves(tree_)]


def assert_trees_close(got, want, what: str, rtol: float = 1e-6) -> None:
    """Leaves agree to ``rtol`` relative to the largest magnitude of ``want`` (float64 results
    of the same math, summed in another order)."""
    got_l, want_l = _np(got), _np(want)
    assert len(got_l) == len(want_l), f"{what}: {len(got_l)} leaves, expected {len(want_l)}"
    scale = 1.0 + max((float(np.abs(w).max()) for w in want_l if w.size), default=0.0)
    for i, (g, w) in enumerate(zip(got_l, want_l, strict=True)):
        assert g.shape == w.shape, f"{what}: leaf {i} has shape {g.shape}, expected {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{what}: leaf {i} differs")  # fmt: skip


def _setup(prog: fuzzgen.Program):
    """(f, loss, x, p): ``loss`` is a scalar of f's two outputs with fixed random weights."""
    note(repr(prog))
    f = prog.function()
    x, p = prog.inputs()
    out = f(x, p)
    vals = _np(out)
    # Domain maps keep most programs finite; reject the rest (overflow is not what we test).
    assume(all(np.isfinite(v).all() and np.abs(v).max(initial=0) < 1e6 for v in vals))
    rng = np.random.default_rng(prog.seed + 1)
    weights = [vnp.asarray(rng.standard_normal(prog.shape)) for _ in range(2)]

    def make_loss(fn):
        def loss(x, p):
            y, z = fn(x, p)
            return vnp.sum(y * weights[0]) + vnp.sum(z * weights[1])

        return loss

    return f, make_loss, x, p


def _modes(prog: fuzzgen.Program) -> tuple[bool, bool]:
    """(forward mode applies, reverse mode applies)."""
    return "custom_vjp" not in prog.flags, "while" not in prog.flags


def _random_like(rng: np.random.Generator, t):
    return tree.map(lambda leaf: vnp.asarray(rng.standard_normal(np.shape(leaf))), t)


def _axpy(h: float, t, x):
    return tree.map(lambda xi, ti: vnp.asarray(np.asarray(xi) + h * np.asarray(ti)), x, t)


def _inner(a, b) -> float:
    return float(sum(np.vdot(u, v) for u, v in zip(_np(a), _np(b), strict=True)))


def _central(loss, args, tangents, h: float) -> float:
    plus = float(loss(*_axpy(h, tangents, args)))
    minus = float(loss(*_axpy(-h, tangents, args)))
    return (plus - minus) / (2 * h)


def _check_directional(what: str, loss, args, tangents, derivative: float) -> None:
    """``derivative`` (the AD directional derivative) equals central differences. Points where
    two step sizes disagree lie near a kink or jump of the program: rejected, not failed."""
    fine, coarse = _central(loss, args, tangents, 1e-6), _central(loss, args, tangents, 1e-5)
    tol = 1e-5 * (1.0 + abs(fine))
    assume(abs(fine - coarse) < tol)
    assert abs(derivative - fine) <= tol, (
        f"{what}: AD gives {derivative!r}, central differences {fine!r} (h=1e-6) / {coarse!r}")


def _stacked(fn, batched_args, in_axes, size):
    """``fn`` applied per example (a Python loop), results stacked: vmap's reference."""
    outs = []
    for i in range(size):
        args = [tree.map(lambda leaf, i=i: leaf[i], a) if ax == 0 else a
                for a, ax in zip(batched_args, in_axes, strict=True)]  # fmt: skip
        outs.append(fn(*args))
    return tree.map(lambda *leaves: vnp.stack(list(leaves)), *outs)


# ----------------------------------------------------------------------------------------------
# The identities


@PROFILE
@given(prog=fuzzgen.programs(FEATURES))
@_fuzzed("grad")
def test_grad_matches_finite_differences_and_unrolled_program(prog):
    f, make_loss, x, p = _setup(prog)
    loss = make_loss(f)
    unrolled = prog.function(unrolled=True)
    loss_u = make_loss(unrolled)
    if prog.has_control_flow:
        assert_trees_close(unrolled(x, p), f(x, p), "value of the unrolled program")
    rng = np.random.default_rng(prog.seed + 2)
    directions = [_random_like(rng, (x, p)) for _ in range(2)]
    if not _modes(prog)[1]:  # forward mode only
        for t in directions:
            _, d = vfunc.jvp(loss, (x, p), t)
            if prog.has_control_flow:
                _, du = vfunc.jvp(loss_u, (x, p), t)
                assert_trees_close(d, du, "jvp of the program vs its unrolled form")
            if "stop" not in prog.flags:
                _check_directional("jvp", loss, (x, p), t, float(d))
    else:
        g = vfunc.grad(loss, argnums=(0, 1))(x, p)
        if prog.has_control_flow:
            gu = vfunc.grad(loss_u, argnums=(0, 1))(x, p)
            assert_trees_close(g, gu, "grad of the program vs grad of its unrolled form")
        if "stop" not in prog.flags:
            for t in directions:
                _check_directional("grad", loss, (x, p), t, _inner(g, t))


@PROFILE
@given(prog=fuzzgen.programs(FEATURES))
@_fuzzed("jacobians")
def test_jvp_vjp_jacobians_and_hessian_agree(prog):
    f, make_loss, x, p = _setup(prog)
    fwd, rev = _modes(prog)
    rng = np.random.default_rng(prog.seed + 3)
    u = _random_like(rng, (x, p))
    out = f(x, p)
    v = _random_like(rng, out)
    if fwd and rev:
        _, ju = vfunc.jvp(f, (x, p), u)
        _, pull = vfunc.vjp(f, x, p)
        lhs, rhs = _inner(ju, v), _inner(u, pull(v))
        assert abs(lhs - rhs) <= 1e-7 * (1 + abs(lhs)), f"<J u, v> = {lhs}, <u, J^T v> = {rhs}"
        assert_trees_close(vfunc.jacfwd(f)(x, p), vfunc.jacrev(f)(x, p), "jacfwd vs jacrev")
    if rev:
        loss = make_loss(f)
        second = vfunc.hessian if fwd else lambda fn: vfunc.jacrev(vfunc.jacrev(fn))
        h = np.asarray(second(loss)(x, p))
        h = h.reshape(x.size, x.size)
        assert_trees_close(h, h.T, "hessian vs its transpose")
    if fwd and rev:  # forward over reverse and reverse over forward: both are H u
        ux = u[0]
        _, hvp_fwd = vfunc.jvp(lambda a: vfunc.grad(loss)(a, p), (x,), (ux,))
        hvp_rev = vfunc.grad(lambda a: vfunc.jvp(lambda b: loss(b, p), (a,), (ux,))[1])(x)
        assert_trees_close(hvp_fwd, hvp_rev, "jvp(grad) vs grad(jvp)")
        assert_trees_close(np.asarray(hvp_fwd).reshape(-1), h @ np.asarray(ux).reshape(-1),
                           "jvp(grad) vs hessian @ u")  # fmt: skip


@PROFILE
@given(prog=fuzzgen.programs(FEATURES))
@_fuzzed("jit_vmap_jaxpr")
def test_jit_vmap_and_make_jaxpr_agree_with_eager(prog):
    f, _, x, p = _setup(prog)
    want = f(x, p)
    assert_trees_close(vfunc.jit(f)(x, p), want, "jit(f)")
    closed = vfunc.make_jaxpr(f)(x, p)
    got = eval_jaxpr(closed.jaxpr, closed.consts, *tree.leaves((x, p)))
    assert_trees_close(got, tree.leaves(want), "eval_jaxpr(make_jaxpr(f))")
    xb, pb = prog.inputs(batch=2)
    for in_axes, args in [((0, None), (xb, p)), ((0, 0), (xb, pb))]:
        want = _stacked(f, args, in_axes, 2)
        assert_trees_close(vfunc.vmap(f, in_axes=in_axes)(*args), want, f"vmap {in_axes}")


COMPOSITIONS = ["jit(grad)", "grad(jit)", "vmap(grad)", "grad(vmap)", "jit(vmap(grad))",
                "jit(jvp)", "jvp(jit)", "vmap(jvp)", "jvp(vmap)", "vmap(jit)",
                "jit(vmap)"]  # fmt: skip


@PROFILE
@given(prog=fuzzgen.programs(FEATURES), which=st.lists(st.sampled_from(COMPOSITIONS), min_size=3,
                                                     max_size=6, unique=True))  # fmt: skip
@_fuzzed("compositions")
def test_compositions_of_two_transformations_agree_with_eager(prog, which):
    f, make_loss, x, p = _setup(prog)
    loss = make_loss(f)
    xb, _ = prog.inputs(batch=2)
    rng = np.random.default_rng(prog.seed + 4)
    t = _random_like(rng, (x, p))
    tb = _random_like(rng, xb)
    fwd, rev = _modes(prog)
    grad = vfunc.grad(loss, argnums=(0, 1))
    for name in which:
        if ("grad" in name and not rev) or ("jvp" in name and not fwd):
            continue
        note(f"checking {name}")
        if name == "jit(grad)":
            got, want = vfunc.jit(grad)(x, p), grad(x, p)
        elif name == "grad(jit)":
            got, want = vfunc.grad(vfunc.jit(loss), argnums=(0, 1))(x, p), grad(x, p)
        elif name == "vmap(grad)":
            got = vfunc.vmap(grad, in_axes=(0, None))(xb, p)
            want = _stacked(grad, (xb, p), (0, None), 2)
        elif name == "grad(vmap)":
            lb = vfunc.vmap(loss, in_axes=(0, None))
            batched = lambda a, q: vnp.sum(lb(a, q))  # noqa: E731
            got = vfunc.grad(batched, argnums=(0, 1))(xb, p)
            per = _stacked(grad, (xb, p), (0, None), 2)
            want = (per[0], tree.map(lambda leaf: vnp.sum(leaf, axis=0), per[1]))
        elif name == "jit(vmap(grad))":
            got = vfunc.jit(vfunc.vmap(grad, in_axes=(0, None)))(xb, p)
            want = _stacked(grad, (xb, p), (0, None), 2)
        elif name == "jit(jvp)":
            got = vfunc.jit(lambda a, q: vfunc.jvp(f, (a, q), t))(x, p)
            want = vfunc.jvp(f, (x, p), t)
        elif name == "jvp(jit)":
            got, want = vfunc.jvp(vfunc.jit(f), (x, p), t), vfunc.jvp(f, (x, p), t)
        elif name == "vmap(jvp)":
            fj = lambda a, ta: vfunc.jvp(lambda b: f(b, p), (a,), (ta,))  # noqa: E731
            got = vfunc.vmap(fj)(xb, tb)
            want = _stacked(fj, (xb, tb), (0, 0), 2)
        elif name == "jvp(vmap)":
            fv = vfunc.vmap(f, in_axes=(0, None))
            got = vfunc.jvp(lambda a: fv(a, p), (xb,), (tb,))
            want = _stacked(lambda a, ta: vfunc.jvp(lambda b: f(b, p), (a,), (ta,)),
                            (xb, tb), (0, 0), 2)  # fmt: skip
        elif name == "vmap(jit)":
            got = vfunc.vmap(vfunc.jit(f), in_axes=(0, None))(xb, p)
            want = _stacked(f, (xb, p), (0, None), 2)
        else:  # jit(vmap)
            got = vfunc.jit(vfunc.vmap(f, in_axes=(0, None)))(xb, p)
            want = _stacked(f, (xb, p), (0, None), 2)
        assert_trees_close(got, want, name)


# ----------------------------------------------------------------------------------------------
# The generator itself


def test_every_registry_primitive_is_generated():
    """A primitive added to the registry must reach the fuzzer: as a discovered elementwise op
    with a domain, a template, or a named other route."""
    templated = {name for prims, *_ in fuzzgen.TEMPLATES for name in prims}
    covered = set(fuzzgen.ELEMENTWISE) | templated | set(fuzzgen.REACHED_OTHERWISE)
    ours = {n for n, p in registry.items()
            if getattr(p.shape_rule, "__module__", "").startswith("vfunc.")}  # fmt: skip
    missing = sorted(ours - covered)
    assert not missing, f"add these primitives to tests/fuzz/fuzzgen.py: {missing}"
    assert set(fuzzgen.ELEMENTWISE) <= set(fuzzgen.DOMAINS), "every elementwise op needs a domain"
    assert templated <= set(registry), sorted(templated - set(registry))


def _bound_names(jaxpr, found: set[str]) -> set[str]:
    """Names of the primitives ``jaxpr`` binds, in nested jaxprs (control flow, rules) too."""
    for eqn in jaxpr.eqns:
        found.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _bound_names(inner, found)
    return found


def test_custom_rules_and_checkpoint_bind_their_primitives():
    """The routes REACHED_OTHERWISE names for the custom-rule and checkpoint primitives bind
    them: the jaxpr of a program using the generator's custom functions and a checkpoint."""

    def f(x):
        y = fuzzgen.softplus_cj(x) + fuzzgen.double_tangent_cj(x)
        y = y + fuzzgen.sin_cv(x) + fuzzgen.half_cotangent_cv(x)
        return vfunc.checkpoint(lambda a: vnp.sin(a) * y)(x)

    names = _bound_names(vfunc.make_jaxpr(f)(vnp.ones(3)).jaxpr, set())
    assert {"custom_jvp_call", "custom_vjp_call", "checkpoint"} <= names, sorted(names)


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(prog=fuzzgen.programs(fuzzgen.Features(max_depth=3)))
def test_programs_render_and_both_forms_run(prog):
    """Every generated program compiles in both forms, and its repr shows the source."""
    text = repr(prog)
    assert "def f(x, p):" in text and f"seed={prog.seed}" in text
    with enable_x64():
        x, p = prog.inputs()
        y, z = prog.function()(x, p)
        yu, _ = prog.function(unrolled=True)(x, p)
        assert y.shape == z.shape == yu.shape == prog.shape
