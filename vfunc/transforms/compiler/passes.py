"""Optimisation passes over closed jaxprs, each a pure function ``ClosedJaxpr -> ClosedJaxpr``.

``optimize`` runs them to a fixed point: algebraic simplification (only rewrites that are exact
in IEEE arithmetic: ``x * 1``, ``x - 0``, ``x + -0.0``, double transposes, reshape chains,
no-op converts and broadcasts, ``-(-x)``, ``floor(floor(x))``), constant folding of small
values, common-subexpression elimination and dead-code elimination. All primitives are pure, so
an equation whose outputs nobody reads can go. The identities are declared with each primitive
(``Primitive.identities``); no pass knows a primitive by its name.

Calls of a function given as a jaxpr (custom rules, a forward ``checkpoint``) are inlined
first, so fusion and CSE see through them; a ``checkpoint`` recomputation in a backward pass
(``prevent_cse``) is never inlined, so no pass can merge it into the forward pass and keep
the intermediates alive that rematerialization exists to free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfunc.core import ArrayImpl
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var

# Constant folding evaluates equations at compile time; beyond this many elements a folded
# constant would cost more memory (kept alive by the compiled function) than it saves.
FOLD_MAX_SIZE = 1 << 12


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Inline calls, then simplify, fold, deduplicate and prune until nothing changes (at
    most a few rounds). Only for programs that are about to run: after inlining, a custom
    rule's call is an ordinary computation that no transformation can see any more."""
    closed = inline_calls(closed)
    for _ in range(8):
        before = _signature(closed)
        closed = dead_code_elimination(
            common_subexpression_elimination(fold_constants(simplify(closed)))
        )
        if _signature(closed) == before:
            break
    return closed


def _signature(closed: ClosedJaxpr) -> tuple:
    return (len(closed.jaxpr.eqns), len(closed.consts), tuple(map(id, closed.jaxpr.outvars)))


class _Renamer:
    """Substitutes variables as equations are rewritten (a union of replaced -> replacement)."""

    def __init__(self) -> None:
        self.subst: dict[Any, Any] = {}

    def __call__(self, var: Any) -> Any:
        while not isinstance(var, Literal) and var in self.subst:
            var = self.subst[var]
        return var


def _rebuild(closed: ClosedJaxpr, eqns: list, rename: _Renamer, consts=None) -> ClosedJaxpr:
    jaxpr = closed.jaxpr
    constvars, constvals = list(jaxpr.constvars), list(closed.consts)
    if consts:
        for var, value in consts:
            constvars.append(var)
            constvals.append(value)
    new = Jaxpr(constvars, list(jaxpr.invars), [rename(v) for v in jaxpr.outvars], eqns)
    return ClosedJaxpr(new, constvals)


# ----------------------------------------------------------------------------------------------
# Inlining


def inline_calls(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Replace every equation whose primitive allows it (``compiler_inline``) by the equations
    of the jaxpr it applies, with fresh variables (one jaxpr may be inlined several times)."""
    jaxpr = closed.jaxpr
    if not any(_inlinable(e) for e in jaxpr.eqns):
        return closed
    rename = _Renamer()
    new_consts: list = []
    eqns: list = []

    def expand(eqn: JaxprEqn, env: dict) -> None:
        def read(v: Any) -> Any:
            return rename(env.get(v, v)) if isinstance(v, Var) else v

        invars = [read(v) for v in eqn.invars]
        if not _inlinable(eqn):
            eqns.append(JaxprEqn(eqn.primitive, invars, eqn.outvars, eqn.params))
            return
        sub = eqn.params[eqn.primitive.call_jaxpr_param]
        inner: dict = dict(zip(sub.jaxpr.invars, invars, strict=True))
        for var, value in zip(sub.jaxpr.constvars, sub.consts, strict=True):
            inner[var] = fresh = Var(var.aval)
            new_consts.append((fresh, value))
        for sub_eqn in sub.jaxpr.eqns:
            outs = [Var(v.aval) for v in sub_eqn.outvars]
            copied = JaxprEqn(sub_eqn.primitive, sub_eqn.invars, outs, sub_eqn.params)
            for old, new in zip(sub_eqn.outvars, outs, strict=True):
                inner[old] = new
            expand(copied, inner)
        for out, value in zip(eqn.outvars, sub.jaxpr.outvars, strict=True):
            rename.subst[out] = inner.get(value, value) if isinstance(value, Var) else value

    for eqn in jaxpr.eqns:
        expand(eqn, {})
    return _rebuild(closed, eqns, rename, new_consts)


def _inlinable(eqn: JaxprEqn) -> bool:
    allow = eqn.primitive.compiler_inline
    return allow is not None and allow(eqn.params)


# ----------------------------------------------------------------------------------------------
# Dead code and common subexpressions


def _sub_jaxprs(value: Any) -> list[Jaxpr]:
    if isinstance(value, ClosedJaxpr):
        return [value.jaxpr]
    if isinstance(value, Jaxpr):
        return [value]
    if isinstance(value, (tuple, list)):
        return [j for v in value for j in _sub_jaxprs(v)]
    return []


def has_effect(eqn: JaxprEqn) -> bool:
    """Whether ``eqn`` must run even when nothing reads its outputs: an effectful primitive, or
    one whose sub-jaxprs hold one (a ``debug.print`` or ``debug.breakpoint`` inside a
    ``lax.cond`` branch or a loop body, whose results may be unused or absent)."""
    if eqn.primitive.effectful:
        return True
    return any(
        has_effect(inner) for v in eqn.params.values() for j in _sub_jaxprs(v) for inner in j.eqns
    )


def dead_code_elimination(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop equations whose outputs are never read, and constants nobody uses."""
    jaxpr = closed.jaxpr
    live = {v for v in jaxpr.outvars if isinstance(v, Var)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars) or has_effect(eqn):
            kept.append(eqn)
            live.update(v for v in eqn.invars if isinstance(v, Var))
    kept.reverse()
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts, strict=True) if v in live]
    new = Jaxpr([v for v, _ in pairs], list(jaxpr.invars), list(jaxpr.outvars), kept)
    return ClosedJaxpr(new, [c for _, c in pairs])


def _operand_key(var: Any) -> Any:
    if isinstance(var, Literal):
        value = var.value._value
        return ("lit", value.dtype.str, value.tobytes(), var.aval.weak_type)
    return var


def common_subexpression_elimination(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Reuse the result of an identical earlier equation (same primitive, operands, params)."""
    rename = _Renamer()
    seen: dict[Any, JaxprEqn] = {}
    eqns = []
    for eqn in closed.jaxpr.eqns:
        invars = [rename(v) for v in eqn.invars]
        try:
            if has_effect(eqn):  # each one must run: never merged with its twin
                raise TypeError
            key = (
                eqn.primitive,
                tuple(_operand_key(v) for v in invars),
                tuple(sorted(eqn.params.items())),
            )
            hash(key)
        except TypeError:  # unhashable params: never merged, always correct
            key = None
        earlier = seen.get(key) if key is not None else None
        if earlier is not None:
            for old, new in zip(eqn.outvars, earlier.outvars, strict=True):
                rename.subst[old] = new
            continue
        new_eqn = JaxprEqn(eqn.primitive, invars, eqn.outvars, eqn.params)
        if key is not None:
            seen[key] = new_eqn
        eqns.append(new_eqn)
    return _rebuild(closed, eqns, rename)


# ----------------------------------------------------------------------------------------------
# Constant folding


def fold_constants(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Evaluate equations whose operands are all known (constants, literals) and small."""
    jaxpr = closed.jaxpr
    known: dict[Var, Any] = {}
    for var, value in zip(jaxpr.constvars, closed.consts, strict=True):
        if isinstance(value, ArrayImpl) and value.size <= FOLD_MAX_SIZE:
            known[var] = value
    rename = _Renamer()
    new_consts: list = []
    eqns = []
    for eqn in jaxpr.eqns:
        invars = [rename(v) for v in eqn.invars]
        out_small = all(v.aval.size <= FOLD_MAX_SIZE for v in eqn.outvars)
        foldable = out_small and not has_effect(eqn)  # an effect happens at run time
        if foldable and all(isinstance(v, Literal) or v in known for v in invars):
            args = [v.value if isinstance(v, Literal) else known[v] for v in invars]
            outs = eqn.primitive.bind(*args, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            for var, value in zip(eqn.outvars, outs, strict=True):
                if value.ndim == 0:
                    rename.subst[var] = Literal(value, var.aval)
                else:
                    new_var = Var(var.aval)
                    rename.subst[var] = new_var
                    known[new_var] = value
                    new_consts.append((new_var, value))
            continue
        eqns.append(JaxprEqn(eqn.primitive, invars, eqn.outvars, eqn.params))
    return _rebuild(closed, eqns, rename, new_consts)


# ----------------------------------------------------------------------------------------------
# Algebraic simplification


def _literal_equals(var: Any, value: float) -> bool:
    if not isinstance(var, Literal):
        return False
    scalar = var.value._value
    if scalar.dtype.kind not in "iufc" or scalar != value:
        return False
    if value == 0 and scalar.dtype.kind in "fc":
        return bool(np.signbit(np.real(scalar))) == bool(np.signbit(value))
    return True


def _passthrough(eqn: JaxprEqn, invars: list) -> Any:
    """The operand an equation provably returns unchanged (same aval), or None."""
    out = eqn.outvars[0] if len(eqn.outvars) == 1 else None
    if out is None or not invars:
        return None
    rules = eqn.primitive.identities

    def same(var: Any) -> bool:
        return not isinstance(var, Literal) and var.aval == out.aval

    if rules.unit is not None and len(invars) == 2:
        for at in rules.unit_at:
            other = invars[1 - at]
            if _literal_equals(invars[at], rules.unit) and same(other):
                return other
    if rules.noop is not None and rules.noop(**eqn.params) and same(invars[0]):
        return invars[0]
    return None


def _absorbed_permutation(eqn: JaxprEqn, src: JaxprEqn | None, uses: dict) -> JaxprEqn | None:
    """An axis permutation of a result its producer can compute permuted itself (a transposed
    matrix product is the product of the swapped operands: BLAS reads transposed operands for
    free, while the transpose would be copied later), as one equation; or None."""
    permutation = eqn.primitive.identities.permutation
    if permutation is None or src is None or uses.get(src.outvars[0], 0) != 1:
        return None
    absorb = src.primitive.identities.absorb_permutation
    if absorb is None:
        return None
    avals = [v.aval for v in src.invars]
    found = absorb(src.params, avals, tuple(permutation(**eqn.params)))
    if found is None:
        return None
    order, params = found
    return JaxprEqn(src.primitive, [src.invars[i] for i in order], eqn.outvars, params)


def _repeated(eqn: JaxprEqn, src: JaxprEqn | None) -> Any:
    """For ``op(op(x))`` of an involution, ``x``; of an idempotent op, ``op(x)``; else None."""
    rules = eqn.primitive.identities
    if not (rules.involution or rules.idempotent):
        return None
    if src is None or src.primitive is not eqn.primitive or src.params != eqn.params:
        return None
    return src.invars[0] if rules.involution else src.outvars[0]


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Remove no-op equations and repeated involutions or idempotent ops, merge pairs of one
    primitive that compose (transpose/transpose, reshape/reshape), and let a producer absorb
    an axis permutation of its result (a transposed matrix product)."""
    rename = _Renamer()
    producer: dict[Var, JaxprEqn] = {}
    uses: dict[Var, int] = {}
    for e in closed.jaxpr.eqns:
        for v in e.invars:
            if isinstance(v, Var):
                uses[v] = uses.get(v, 0) + 1
    for v in closed.jaxpr.outvars:
        if isinstance(v, Var):
            uses[v] = uses.get(v, 0) + 1
    eqns = []
    for eqn in closed.jaxpr.eqns:
        invars = [rename(v) for v in eqn.invars]
        through = _passthrough(eqn, invars)
        if through is not None:
            rename.subst[eqn.outvars[0]] = through
            continue
        params = eqn.params
        src = producer.get(invars[0]) if invars and isinstance(invars[0], Var) else None
        repeated = _repeated(eqn, src)
        if repeated is not None:
            rename.subst[eqn.outvars[0]] = repeated
            continue
        absorbed = _absorbed_permutation(eqn, src, uses)
        if absorbed is not None:
            eqns.remove(src)
            for v in eqn.outvars:
                producer[v] = absorbed
            eqns.append(absorbed)
            continue
        compose = eqn.primitive.identities.compose
        if src is not None and src.primitive is eqn.primitive and compose is not None:
            params = compose(src.params, params)
            invars = [src.invars[0]] + invars[1:]
        new_eqn = JaxprEqn(eqn.primitive, invars, eqn.outvars, params)
        through = _passthrough(new_eqn, invars)
        if through is not None:  # the merged pair may cancel out entirely
            rename.subst[eqn.outvars[0]] = through
            continue
        for v in eqn.outvars:
            producer[v] = new_eqn
        eqns.append(new_eqn)
    return _rebuild(closed, eqns, rename)
