"""``vfunc.lax``: the primitives with their exact semantics, as ``jax.lax``.

A facade: the builders live beside their primitives (``vfunc.primitives.builders``), structured
control flow in ``vfunc.control_flow`` and the convolution front end in
``vfunc.lax.convolution``. Unlike ``vfunc.numpy``, these functions do not promote dtypes: binary
ops need one dtype on both sides (Python scalars are weakly typed and adopt the other operand's
dtype), and transcendental ops need floating-point input.
"""

from vfunc.control_flow import cond, fori_loop, map, scan, switch, while_loop  # noqa: A004
from vfunc.lax.convolution import (
    ConvDimensionNumbers,
    conv,
    conv_dimension_numbers,
    conv_general_dilated,
    conv_transpose,
    conv_with_general_padding,
    padtype_to_pads,
    reduce_window,
)
from vfunc.primitives.builders import *  # noqa: F403
from vfunc.primitives.builders import __all__ as _builder_names
from vfunc.primitives.collectives import (
    all_gather,
    all_to_all,
    axis_index,
    axis_size,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
)  # fmt: skip

__all__ = [
    *_builder_names,
    "cond",
    "switch",
    "while_loop",
    "fori_loop",
    "scan",
    "map",
    "ConvDimensionNumbers",
    "conv_dimension_numbers",
    "padtype_to_pads",
    "conv_general_dilated",
    "conv",
    "conv_transpose",
    "conv_with_general_padding",
    "reduce_window",
    "psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "all_to_all", "ppermute",
    "axis_index", "axis_size",
]  # fmt: skip
