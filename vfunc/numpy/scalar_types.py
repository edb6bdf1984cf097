"""``jax.numpy``-style scalar types: ``vnp.float32`` is a dtype name that also casts.

As in ``jax.numpy``, ``vnp.float32(x)`` returns an Array of ``x`` converted to float32 (a tracer
stays traced, so it works under ``grad``/``jit``/``vmap``), while the name still works wherever
NumPy takes a dtype.
"""

from __future__ import annotations

import numpy as np

from vfunc.numpy.creation import asarray


class _ScalarMeta(type):
    """The metaclass of ``vnp.float32`` and friends: a dtype name that also casts when called.

    As in ``jax.numpy``, ``vnp.float32(x)`` returns an Array of ``x`` converted to float32 (a
    tracer stays traced, so it works under ``grad``/``jit``/``vmap``), while the name still works
    wherever NumPy takes a dtype: ``vnp.zeros(3, vnp.float32)``, ``np.dtype(vnp.float32)`` (through
    the ``dtype`` attribute), ``vnp.float32 == np.float32``, ``vnp.issubdtype(vnp.float32,
    vnp.floating)`` and ``isinstance(np.float32(1), vnp.float32)``.
    """

    dtype: np.dtype

    def __call__(cls, x=0):
        return asarray(x, dtype=cls.dtype)

    def __eq__(cls, other: object) -> bool:
        return cls is other or cls.dtype.type == other

    def __ne__(cls, other: object) -> bool:
        return not cls == other

    def __hash__(cls) -> int:
        return hash(cls.dtype.type)

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, cls.dtype.type)


def scalar_type(name: str, np_type: type | np.dtype) -> type:
    """A ``jax.numpy``-style scalar type ``name`` for the NumPy scalar type ``np_type``."""
    return _ScalarMeta(name, (object,), {"dtype": np.dtype(np_type), "__module__": "vfunc.numpy"})
