"""The primitive registry: importing this package declares every primitive.

Each family module declares its primitives once, with impl, shape rule and room for the
differentiation and batching rules; ``vfunc.core.registry`` maps names to them.
"""

from vfunc.core import registry
from vfunc.primitives.kernel_cache import guard_package_kernels

# Before any kernel loads: drop numba's cached kernels if any source of this package changed.
guard_package_kernels()

# The builders first: the family modules use them in their rules (``import ... as lax``, read at
# call time), while the builders need every family's primitives when they load.
from vfunc.primitives import builders  # noqa: E402, F401

# isort: split
from vfunc.primitives import (  # noqa: E402, F401  (importing declares the primitives)
    collectives,
    conv,
    debug,
    decompositions,
    elementwise,
    fft,
    indexing,
    linalg,
    random,
    reduction,
    shape,
    sorting,
    special,
    window,
)

__all__ = ["registry"]
