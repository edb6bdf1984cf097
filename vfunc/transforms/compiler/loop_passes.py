"""Compiler passes over the body of a loop (a scan), on jaxprs.

``hoist_loop_invariants`` splits off the body's work that reads no carry and runs it once,
batched over all steps, before the loop. ``lift_step_sums`` turns a per-step value summed over
the steps (a weight gradient ``acc += h_t^T @ g_t``) into one contraction of the stacked
per-step operands after the loop. Both take a body jaxpr and return jaxprs: what runs before or
after the loop, and the body that remains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from vfunc.core import Array
from vfunc.jaxpr import ClosedJaxpr, Jaxpr, Literal, Var
from vfunc.transforms.batching import batch_jaxpr
from vfunc.transforms.compiler.cache import JaxprCache
from vfunc.transforms.staging import trace_flat

# ----------------------------------------------------------------------------------------------
# Hoisting the carry-independent work out of the loop


class Hoisted(NamedTuple):
    """A loop body split by ``hoist_loop_invariants``.

    ``pre`` maps ``(*consts, *xs)`` to the hoisted values, stacked along the scan axis where
    ``batched`` (else loop-invariant); ``body`` reads them as extra inputs:
    ``(*consts, *invariant values, *carry, *xs, *stacked values)``.
    """

    pre: ClosedJaxpr
    batched: list[bool]
    body: ClosedJaxpr


_HOISTED = JaxprCache()


def hoist_loop_invariants(
    body: ClosedJaxpr, num_consts: int, num_carry: int, length: int
) -> Hoisted | None:
    """Split off the body's equations that read no carry (only consts and xs), or None when
    there are none (or no steps).

    They do not depend on the loop, so they run once, batched over all steps: ``x_t @ W`` for
    every t is one large matrix product instead of ``length`` small ones. Cached per body.
    """
    return _HOISTED.get(
        body, num_consts, num_carry, length,
        make=lambda: _hoist(body, num_consts, num_carry, length),
    )  # fmt: skip


def _hoist(closed: ClosedJaxpr, num_consts: int, num_carry: int, length: int) -> Hoisted | None:
    jx = closed.jaxpr
    consts_v = jx.invars[:num_consts]
    carry_v = jx.invars[num_consts : num_consts + num_carry]
    xs_v = jx.invars[num_consts + num_carry :]
    known = set(consts_v) | set(xs_v) | set(jx.constvars)
    hoisted, rest = [], []
    for eqn in jx.eqns:
        if all(isinstance(v, Literal) or v in known for v in eqn.invars):
            hoisted.append(eqn)
            known.update(eqn.outvars)
        else:
            rest.append(eqn)
    if not hoisted or length == 0:
        return None
    produced = {v for e in hoisted for v in e.outvars}
    reads = [v for e in rest for v in e.invars] + list(jx.outvars)
    boundary = list(dict.fromkeys(v for v in reads if isinstance(v, Var) and v in produced))
    pre = ClosedJaxpr(Jaxpr(jx.constvars, consts_v + xs_v, boundary, hoisted), closed.consts)
    pre, batched = batch_jaxpr(pre, length, [False] * len(consts_v) + [True] * len(xs_v))
    invariant = [v for v, b in zip(boundary, batched, strict=True) if not b]
    stacked = [v for v, b in zip(boundary, batched, strict=True) if b]
    body = Jaxpr(jx.constvars, consts_v + invariant + carry_v + xs_v + stacked, jx.outvars, rest)
    return Hoisted(pre, batched, ClosedJaxpr(body, closed.consts))


# ----------------------------------------------------------------------------------------------
# Lifting sums over the steps out of the loop


class LiftedSums(NamedTuple):
    """The result of ``lift_step_sums``.

    ``lifted[k]`` says whether sum ``k`` is computed after the loop; the others stay
    accumulated in the loop. ``leaves`` are the step's variables the loop must stack (as extra
    per-step outputs) for ``after``, which maps ``(*the stacked inputs marked available,
    *stacked leaves)`` to the lifted sums, in order.
    """

    lifted: list[bool]
    leaves: list[Var]
    after: ClosedJaxpr | None


class _SumLifter:
    """Walks back from a per-step value through producers whose primitive declares
    ``sum_over_steps`` (the ``steps`` argument of that rule)."""

    def __init__(self, step: Jaxpr, num_consts: int, available: Sequence[bool]):
        self.producer = {v: e for e in step.eqns for v in e.outvars}
        self.inputs = [v for v, a in zip(step.invars, available, strict=True) if a]
        # Values that change from step to step; a loop-invariant operand stacked once per step
        # would cost a copy per step and ``length`` times its memory, so those sums stay carried.
        self.varying = set(step.invars[num_consts:])
        for e in step.eqns:
            if any(isinstance(v, Var) and v in self.varying for v in e.invars):
                self.varying.update(e.outvars)
        self.leaves: list[Var] = []

    def stacked(self, v: Any) -> Callable[[dict], Any] | None:
        """A reader of per-step ``v`` stacked over the steps, or None if ``v`` is invariant."""
        if not isinstance(v, Var) or v not in self.varying:
            return None
        if v not in self.inputs and v not in self.leaves:
            self.leaves.append(v)
        return lambda stacks: stacks[v]

    def lift(self, v: Any) -> Callable[[dict], Any] | None:
        """How to sum ``v`` over the steps after the loop, or None."""
        eqn = self.producer.get(v) if isinstance(v, Var) else None
        rule = eqn.primitive.sum_over_steps if eqn is not None else None
        return None if rule is None else rule(self, *eqn.invars, **eqn.params)


def lift_step_sums(
    step: ClosedJaxpr, num_consts: int, available: Sequence[bool], sums: Sequence[int],
    length: int,
) -> LiftedSums:  # fmt: skip
    """Which of ``step``'s outputs ``sums`` (per-step values to be summed over ``length``
    steps) can be summed after the loop instead of accumulated in it, and how.

    A weight gradient accumulated as ``acc += h_t^T @ g_t`` costs one small matrix product per
    step; summed after the loop it is one large contraction over (steps, batch) of the stacked
    ``h`` and ``g``, which BLAS runs several times faster. ``step``'s first ``num_consts``
    inputs are the same at every step; the others are per-step values, of which those marked
    ``available`` are at hand stacked after the loop (the loop's scanned-over operands).
    """
    jx = step.jaxpr
    lifter = _SumLifter(jx, num_consts, available)
    builds = [lifter.lift(jx.outvars[k]) for k in sums]
    lifted = [b is not None for b in builds]
    if not any(lifted):
        return LiftedSums(lifted, [], None)
    stacks = lifter.inputs + lifter.leaves
    avals = [v.aval.update(shape=(length, *v.aval.shape)) for v in stacks]

    def after(*values: Array) -> list:
        env = dict(zip(stacks, values, strict=True))
        return [b(env) for b in builds if b is not None]

    return LiftedSums(lifted, list(lifter.leaves), trace_flat(after, avals))
