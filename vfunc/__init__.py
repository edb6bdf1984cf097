"""vfunc: composable transformations of NumPy programs (grad, jit, vmap), JAX-style, on CPU.

This module only re-exports the public API; nothing is defined here.
"""

import os

# numba's OpenMP workers busy-wait after every parallel kernel by default, taking both cores
# from the BLAS call that usually comes next (a 0.5 ms matmul took 20 ms). Waiting passively
# costs microseconds per kernel launch. A user's own setting wins; it must be in place before
# numba starts its thread pool, hence here, first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vfunc import (  # noqa: F401
    debug,
    distributed,
    dtypes,
    errors,
    example_libraries,
    io,
    lax,
    losses,
    nn,
    numpy,
    optim,
    random,
    scipy,
    testing,
    tree,
    tree_util,
)
from vfunc.backends import default_device, device_put, use_environment_default
from vfunc.config import config
from vfunc.core import Array, ShapeDtypeStruct
from vfunc.devices import device_count, devices, local_device_count, local_devices
from vfunc.transforms.ad import grad, jvp, linearize, value_and_grad, vjp
from vfunc.transforms.batching import vmap
from vfunc.transforms.custom import checkpoint, custom_jvp, custom_vjp, remat
from vfunc.transforms.jacobians import hessian, jacfwd, jacrev
from vfunc.transforms.jacobians import jacrev as jacobian  # JAX's jacobian is reverse mode too
from vfunc.transforms.jit import block_until_ready, disable_jit, jit
from vfunc.transforms.staging import eval_shape, make_jaxpr

__version__ = "0.1.0"

__all__ = [
    "Array", "ShapeDtypeStruct", "block_until_ready", "checkpoint", "config", "custom_jvp",
    "custom_vjp", "debug", "default_device", "device_count", "device_put", "devices",
    "disable_jit", "dtypes", "errors", "eval_shape", "example_libraries", "grad", "hessian",
    "io", "jacfwd", "jacobian", "jacrev", "jit", "jvp", "lax", "linearize",
    "local_device_count", "local_devices", "losses", "make_jaxpr", "nn", "numpy", "optim",
    "random", "remat", "testing", "tree", "tree_util", "value_and_grad", "vjp", "vmap",
]  # fmt: skip

use_environment_default()  # VFUNC_DEFAULT_DEVICE=gpu: every primitive is registered by now
