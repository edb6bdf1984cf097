"""``vfunc.scipy``: JAX's ``jax.scipy`` surface on vfunc primitives (SciPy is not needed)."""

from vfunc.scipy import linalg, special, stats

__all__ = ["linalg", "special", "stats"]
