"""``vfunc.scipy``: JAX's ``jax.scipy`` surface on vfunc primitives (SciPy is not needed)."""

from vfunc.scipy import linalg

__all__ = ["linalg"]
