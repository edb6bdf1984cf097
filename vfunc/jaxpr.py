"""The jaxpr IR: variables, literals, equations, (closed) jaxprs, their printer in
``jax.make_jaxpr``'s notation, and ``eval_jaxpr``, the one interpreter every transformation and
rule uses to run a staged program (an equation at a time, binding each primitive so that an
enclosing transformation sees it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vfunc.core import ArrayImpl, ShapedArray
from vfunc.errors import ShapeError

if TYPE_CHECKING:
    from vfunc.core import Primitive


class Var:
    """A jaxpr variable: an identity and an abstract value (named only when printed)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class Literal:
    """A constant scalar written inline in a jaxpr (``2.0:f32[]``)."""

    __slots__ = ("value", "aval")

    def __init__(self, value: ArrayImpl, aval: ShapedArray):
        self.value = value
        self.aval = aval

    def __repr__(self) -> str:
        return f"Literal({self.value._value.item()!r})"


class JaxprEqn:
    """One equation: ``outvars = primitive[params] invars``."""

    __slots__ = ("primitive", "invars", "outvars", "params")

    def __init__(self, primitive: Primitive, invars: list, outvars: list[Var], params: dict):
        self.primitive = primitive
        self.invars = invars
        self.outvars = outvars
        self.params = params

    def __repr__(self) -> str:
        return f"JaxprEqn({self.primitive.name}, {len(self.invars)} in, {len(self.outvars)} out)"


class Jaxpr:
    """A staged program: constant vars, input vars, equations and outputs."""

    __slots__ = ("constvars", "invars", "outvars", "eqns")

    def __init__(self, constvars: list[Var], invars: list[Var], outvars: list, eqns: list):
        self.constvars = constvars
        self.invars = invars
        self.outvars = outvars
        self.eqns = eqns

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.outvars]

    def pretty_print(self) -> str:
        """The program in ``jax.make_jaxpr``'s notation."""
        return _JaxprPrinter().jaxpr(self, indent=0)

    def __str__(self) -> str:
        return self.pretty_print()

    def __repr__(self) -> str:
        return self.pretty_print()


class ClosedJaxpr:
    """A jaxpr together with the values of its constant vars."""

    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr: Jaxpr, consts: list[Any]):
        self.jaxpr = jaxpr
        self.consts = consts

    @property
    def in_avals(self) -> list[ShapedArray]:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list[ShapedArray]:
        return self.jaxpr.out_avals

    @property
    def eqns(self) -> list[JaxprEqn]:
        return self.jaxpr.eqns

    def pretty_print(self) -> str:
        """The program in ``jax.make_jaxpr``'s notation."""
        return self.jaxpr.pretty_print()

    def __str__(self) -> str:
        return self.pretty_print()

    def __repr__(self) -> str:
        return self.pretty_print()


def _var_name(index: int) -> str:
    # a..z, then ba, bb, ... as JAX does: base-26 digits with 'a' as zero.
    letters = []
    index += 1
    while index:
        index, digit = divmod(index - 1, 26)
        letters.append(chr(ord("a") + digit))
    name = "".join(reversed(letters))
    return name if len(name) == 1 else chr(ord(name[0]) + 1) + name[1:]


class _JaxprPrinter:
    """Names variables in order of appearance; nested jaxprs continue the same naming."""

    def __init__(self) -> None:
        self.names: dict[Var, str] = {}
        self.counter = itertools.count()

    def name(self, var: Any) -> str:
        if isinstance(var, Literal):
            return f"{_format_scalar(var.value._value)}:{var.aval.str_short()}"
        if var not in self.names:
            self.names[var] = _var_name(next(self.counter))
        return self.names[var]

    def binder(self, var: Var) -> str:
        return f"{self.name(var)}:{var.aval.str_short()}"

    def param(self, value: Any, indent: int) -> str:
        # ``indent`` is the column the parameter starts at; nested jaxprs continue below it.
        if isinstance(value, (Jaxpr, ClosedJaxpr)):
            jaxpr = value.jaxpr if isinstance(value, ClosedJaxpr) else value
            return self.jaxpr(jaxpr, indent)
        if isinstance(value, (tuple, list)) and any(isinstance(v, _JAXPRS) for v in value):
            pad = " " * (indent + 2)
            items = "".join(f"{pad}{self.param(v, indent + 2)}\n" for v in value)
            return f"(\n{items}{' ' * indent})"
        if isinstance(value, np.dtype):
            return value.name
        return repr(value)

    def eqn(self, eqn: JaxprEqn, indent: int) -> str:
        lhs = " ".join(self.binder(v) for v in eqn.outvars) if eqn.outvars else "_"
        params = ""
        nested = any(
            isinstance(v, _JAXPRS)
            or (isinstance(v, (tuple, list)) and any(isinstance(x, _JAXPRS) for x in v))
            for v in eqn.params.values()
        )
        if nested:  # as JAX: one parameter per line, sub-jaxprs indented below the equation
            inner = indent + 6
            items = "".join(
                f"{' ' * inner}{k}={self.param(v, inner)}\n" for k, v in sorted(eqn.params.items())
            )
            params = f"[\n{items}{' ' * (indent + 4)}]"
        elif eqn.params:
            items = " ".join(f"{k}={self.param(v, indent)}" for k, v in sorted(eqn.params.items()))
            params = f"[{items}]"
        args = " ".join(self.name(v) for v in eqn.invars)
        return f"{lhs} = {eqn.primitive.name}{params}{' ' + args if args else ''}"

    def jaxpr(self, jaxpr: Jaxpr, indent: int) -> str:
        consts = " ".join(self.binder(v) for v in jaxpr.constvars)
        invars = " ".join(self.binder(v) for v in jaxpr.invars)
        head = f"{{ lambda {consts}; {invars}. let"
        body = [self.eqn(e, indent) for e in jaxpr.eqns]
        names = [self.name(v) for v in jaxpr.outvars]
        outs = "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
        one_line = f"{head} {' '.join(body)} in {outs} }}" if body else f"{head} in {outs} }}"
        if len(body) <= 1 and "\n" not in one_line and len(one_line) + indent <= 100:
            return one_line
        pad = " " * indent
        lines = [head] + [f"{pad}    {line}" for line in body] + [f"{pad}  in {outs} }}"]
        return "\n".join(lines)


_JAXPRS = (Jaxpr, ClosedJaxpr)


def _format_scalar(value: np.ndarray) -> str:
    item = value.item()
    if isinstance(item, bool):
        return str(item)
    if isinstance(item, float):
        return repr(float(item)) if np.isfinite(item) else str(item)
    return str(item)


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args: Any, release: bool = False) -> list[Any]:
    """Evaluate ``jaxpr`` by binding each equation's primitive (so it can itself be traced).

    With ``release``, each value is dropped from the environment after its last use instead of
    living until the end: what keeps a rematerialized (checkpointed) computation, run as a
    backward pass, within the memory it promises.
    """
    env: dict[Var, Any] = {}

    def read(var: Any) -> Any:
        return var.value if isinstance(var, Literal) else env[var]

    if len(args) != len(jaxpr.invars):
        raise TypeError(f"eval_jaxpr: jaxpr takes {len(jaxpr.invars)} inputs, got {len(args)}")
    env.update(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    last_use = _last_uses(jaxpr) if release else {}
    for k, eqn in enumerate(jaxpr.eqns):
        outs = eqn.primitive.bind(*[read(v) for v in eqn.invars], **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        env.update(zip(eqn.outvars, outs, strict=True))
        if release:
            for v in eqn.invars:
                if last_use.get(v) == k:
                    env.pop(v, None)
    return [read(v) for v in jaxpr.outvars]


def _last_uses(jaxpr: Jaxpr) -> dict[Var, int]:
    """For each variable an equation reads, the index of the last such equation; the jaxpr's
    outputs are never released."""
    last: dict[Var, int] = {}
    for k, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if isinstance(v, Var):
                last[v] = k
    for v in jaxpr.outvars:
        last.pop(v, None)
    return last


def jaxpr_as_fun(closed: ClosedJaxpr) -> Callable[..., list[Any]]:
    """A function that evaluates ``closed`` on flat arguments and returns flat outputs."""

    def fun(*args: Any) -> list[Any]:
        return eval_jaxpr(closed.jaxpr, closed.consts, *args)

    return fun


def types_str(avals: Sequence[Any]) -> str:
    """Avals as a parenthesised list of short types, ``(f32[3], i32[])``, for error messages."""
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def check_avals(op: str, what: str, got: Sequence[Any], want: Sequence[Any]) -> None:
    """Raise ShapeError unless ``got`` and ``want`` are the same types, one for one: how the
    shape rule of an equation carrying a sub-jaxpr checks its operands against the jaxpr's
    inputs. Weak types may differ (a weakly typed 0.0 carry and a float32 update are one
    type)."""
    same = len(got) == len(want) and all(
        a.shape == b.shape and a.dtype == b.dtype for a, b in zip(got, want, strict=True)
    )
    if not same:
        raise ShapeError(f"{op}: {what}: got {types_str(got)}, expected {types_str(want)}")
