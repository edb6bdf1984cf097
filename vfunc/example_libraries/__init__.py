"""`jax.example_libraries` on vfunc: `stax` (layers as `(init_fun, apply_fun)` pairs) and
`optimizers` (`(init_fun, update_fun, get_params)` triples), the small libraries JAX's examples
and notebooks use. For new code prefer `vfunc.nn` and `vfunc.optim`."""

from vfunc.example_libraries import optimizers, stax

__all__ = ["optimizers", "stax"]
