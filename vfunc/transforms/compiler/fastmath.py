"""The vectorizable transcendentals the fused kernels call, by their compiler-side name.

They live below the primitive layer, in ``vfunc.primitives.scalar_math``, because primitive
kernels (``random_kernels``' erf_inv) use them too; this module re-exports them.
"""

from vfunc.primitives.scalar_math import *  # noqa: F403
from vfunc.primitives.scalar_math import __all__  # noqa: F401
