"""The CUDA backend: NVIDIA GPUs through CuPy (``pip install vfunc[cuda]``).

Imported only when a GPU is asked for (``vfunc.devices("gpu")``, ``device_put``,
``default_device``); it never loads on the CPU install. CuPy buffers are the arrays' values:
primitives whose impls are written with numpy's functions and ufuncs run on them unchanged
(CuPy implements NumPy's dispatch protocols); ``xp_impls`` replaces those that call numba
kernels, written against the array module, and the compiler's ``cuda_fusion`` compiles jitted
jaxprs (each fused elementwise cluster one ``cupy.ElementwiseKernel``). CUDA-only impls (a raw
kernel, cuDNN) register here with ``vfunc.backends.register_impl("gpu", prim)``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from vfunc.backends import Backend, xp_impls
from vfunc.devices import Device

try:
    import cupy as cp
except ImportError:  # pragma: no cover - reported by load()
    cp = None


class CudaBackend(Backend):
    """NVIDIA GPUs: CuPy arrays, one ``Device`` per visible GPU."""

    platform = "gpu"

    def __init__(self) -> None:
        super().__init__()
        self.xp = cp
        self.array_type = cp.ndarray
        count = cp.cuda.runtime.getDeviceCount()
        self.devices = [Device(i, "gpu", _name(i)) for i in range(count)]
        self._single = count == 1

    # Whether jit fuses elementwise clusters into one kernel each (the compiler's cuda_fusion);
    # False runs the same compiled steps one primitive at a time (for comparison).
    fuse = True

    def device_of(self, buffer: Any) -> Device:
        return self.devices[buffer.device.id]

    def to_host(self, buffer: Any) -> np.ndarray:
        return cp.asnumpy(buffer)

    def synchronize(self, buffer: Any) -> None:
        with buffer.device:
            cp.cuda.get_current_stream().synchronize()

    def put(self, value: Any, device: Device) -> Any:
        with cp.cuda.Device(device.id):
            if isinstance(value, cp.ndarray):
                if value.device.id == device.id:
                    return value
                return cp.array(value, copy=True)  # from another GPU
            return cp.asarray(value)

    def scope(self, device: Device) -> contextlib.AbstractContextManager:
        if self._single:  # one GPU: it is current already, and entering costs a microsecond
            return contextlib.nullcontext()
        return cp.cuda.Device(device.id)


def _name(i: int) -> str:
    name = cp.cuda.runtime.getDeviceProperties(i)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def load() -> CudaBackend:
    """The backend, or RuntimeError saying what is missing (CuPy, a GPU)."""
    if cp is None:
        raise RuntimeError(
            "backend 'gpu' is not available: CuPy is not installed. Install the CUDA extra, "
            "pip install vfunc[cuda] (CuPy for CUDA 13), on a machine with an NVIDIA GPU."
        )
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as err:  # cupy raises CUDARuntimeError without a driver
        raise RuntimeError(f"backend 'gpu' is not available: CUDA reports {err}") from None
    if count == 0:
        raise RuntimeError("backend 'gpu' is not available: CUDA sees no GPU")
    backend = CudaBackend()
    xp_impls.register(backend)  # threefry, the normal sampler, conv: numba on the CPU
    import cupyx.scipy.special

    xp_impls.register_special(backend, cupyx.scipy.special)
    return backend
