"""Structured control flow: ``cond``/``switch``, ``while_loop``/``fori_loop`` and
``scan``/``map``, primitives that carry their branches and bodies as closed jaxprs.

This layer sits above the transforms: the rules of these primitives are themselves programs
(the VJP of a scan is a reverse scan over its body's VJP), built with the transforms' public
jaxpr-level API. Users import the functions from the ``vfunc.lax`` facade.

Operands are flat: a sub-jaxpr's closed-over *tracers* (values of an enclosing transformation)
are passed as explicit leading operands, so grad, vmap and jit see them like any other input;
concrete closed-over arrays stay in the sub-jaxpr's consts. The impls run compiled code
(``transforms.compiler.cache``), eagerly and under ``jit`` alike: no iteration re-enters the
tracer.
"""

from vfunc.control_flow.cond import cond, cond_p, switch
from vfunc.control_flow.scan import map, scan, scan_p  # noqa: A004
from vfunc.control_flow.while_loop import fori_loop, while_loop, while_p

__all__ = [
    "cond", "cond_p", "fori_loop", "map", "scan", "scan_p", "switch", "while_loop", "while_p",
]  # fmt: skip
