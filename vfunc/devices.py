"""Devices, shardings and the buffers arrays live in: the bottom of vfunc's device support.

JAX code asks where its arrays live (``x.devices()``, ``x.sharding``, ``jax.devices()``) to print
it, to pick a device for ``device_put`` or to count devices for ``pmap``. vfunc computes with
numpy on the host, ``cpu:0``, and, with the optional CUDA backend (``pip install vfunc[cuda]``,
``vfunc.backends``), with CuPy on NVIDIA GPUs, ``cuda:0``, ``cuda:1``, ...

This module sits below ``vfunc.core``: it knows devices and how to ask a buffer where it lives,
but nothing about GPUs. A backend registers its buffer type here (``register_buffer_type``)
when it loads, so that core keeps such buffers as they are instead of converting them to numpy,
and ``device_of``/``to_host`` answer for them. With no backend loaded, every buffer is a numpy
array and nothing here costs more than a dict lookup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = [
    "BufferKind",
    "array_module",
    "Device",
    "SingleDeviceSharding",
    "device_count",
    "devices",
    "local_device_count",
    "local_devices",
]


@dataclasses.dataclass(frozen=True)
class Device:
    """A device arrays live on: the host CPU (``cpu:0``) or a CUDA GPU (``cuda:0``, ...).

    Attributes:
        id: the device's number among ``devices(platform)``.
        platform: ``"cpu"`` or ``"gpu"``, as JAX names them.
        device_kind: ``"cpu"``, or the GPU's name as CUDA reports it (``"NVIDIA H100 80GB HBM3"``).
        process_index: the process that owns the device (always 0: vfunc is single-process).

    Example:
        >>> d = devices()[0]
        >>> d, d.platform, d.id, str(d)
        (CpuDevice(id=0), 'cpu', 0, 'cpu:0')
    """

    id: int = 0
    platform: str = "cpu"
    device_kind: str = "cpu"
    process_index: int = 0

    def __repr__(self) -> str:
        return f"{'Cpu' if self.platform == 'cpu' else 'Cuda'}Device(id={self.id})"

    def __str__(self) -> str:
        # JAX prints GPUs by their CUDA name, cuda:0, though their platform is "gpu".
        return f"{'cpu' if self.platform == 'cpu' else 'cuda'}:{self.id}"


CPU = Device()
"""The host CPU, where arrays live unless placed elsewhere."""


@dataclasses.dataclass(frozen=True)
class SingleDeviceSharding:
    """The layout of an array held whole on one device (JAX's ``SingleDeviceSharding``).

    Attributes:
        device: where the array lives.
        memory_kind: ``"device"``, as JAX reports for host arrays on its CPU backend.

    Example:
        >>> s = SingleDeviceSharding(CPU)
        >>> s.device_set, s.is_fully_replicated
        ({CpuDevice(id=0)}, True)
    """

    device: Device = CPU
    memory_kind: str = "device"

    @property
    def device_set(self) -> set[Device]:
        """The set of devices holding some part of the array: here the one device."""
        return {self.device}

    @property
    def is_fully_replicated(self) -> bool:
        """Whether every device holds the whole array (trivially so with one device)."""
        return True

    @property
    def is_fully_addressable(self) -> bool:
        """Whether this process can address every device of the sharding (always)."""
        return True

    def __repr__(self) -> str:
        return f"SingleDeviceSharding(device={self.device!r}, memory_kind={self.memory_kind})"


# --------------------------------------------------------------------------------------------
# Buffers: what an Array's value is. numpy arrays live on the CPU; a backend registers its own
# array type (cupy.ndarray) with a BufferKind that says where each buffer lives.


class BufferKind(Protocol):
    """What vfunc needs to know of a backend's array type (see ``register_buffer_type``)."""

    xp: Any  # the array module creating such buffers (cupy)

    def device_of(self, buffer: Any) -> Device:
        """The device holding ``buffer``."""
        ...

    def to_host(self, buffer: Any) -> np.ndarray:
        """A numpy copy of ``buffer`` (waits for the work producing it)."""
        ...

    def synchronize(self, buffer: Any) -> None:
        """Wait until the work producing ``buffer`` has finished."""
        ...


_BUFFER_KINDS: dict[type, BufferKind] = {}


def register_buffer_type(array_type: type, kind: BufferKind) -> None:
    """Make ``array_type`` a buffer vfunc Arrays may hold as they are (a backend's array)."""
    _BUFFER_KINDS[array_type] = kind


def device_backends_loaded() -> bool:
    """Whether any device backend has registered its buffers (else every buffer is numpy)."""
    return bool(_BUFFER_KINDS)


def buffer_kind(value: Any) -> BufferKind | None:
    """The registered kind of a device buffer, or None for numpy arrays and anything else."""
    return _BUFFER_KINDS.get(type(value))


def array_module(*values: Any) -> Any:
    """The array module (``numpy``, ``cupy``) of the first device buffer among ``values``.

    Impls that create arrays (``np.empty``, ``np.zeros``, ``np.arange``) create them with this
    module, beside their operands; numpy's functions and ufuncs applied to the operands
    dispatch to the buffers' own module by themselves.

    Example:
        >>> array_module(np.ones(3)) is np
        True
    """
    for v in values:
        kind = _BUFFER_KINDS.get(type(v))
        if kind is not None:
            return kind.xp
    return np


def as_buffer(value: Any) -> Any:
    """``value`` itself if it is a registered device buffer, else ``np.asarray(value)``.

    Core calls this where it used to call ``np.asarray`` on an impl's result (numpy scalars
    from reductions), so that device buffers are never copied to the host behind one's back.
    """
    if type(value) in _BUFFER_KINDS:
        return value
    return np.asarray(value)


def to_host(value: Any) -> np.ndarray:
    """``value`` as a numpy array: device buffers are copied to the host, the rest as is."""
    kind = _BUFFER_KINDS.get(type(value))
    return np.asarray(value) if kind is None else kind.to_host(value)


def device_of(value: Any) -> Device:
    """The device holding a buffer: the CPU for numpy arrays."""
    kind = _BUFFER_KINDS.get(type(value))
    return CPU if kind is None else kind.device_of(value)


def synchronize(value: Any) -> None:
    """Wait for the work producing ``value`` (a no-op for numpy arrays, computed already)."""
    kind = _BUFFER_KINDS.get(type(value))
    if kind is not None:
        kind.synchronize(value)


class _Hooks:
    """What ``vfunc.backends`` installs for core to call (core never imports upward)."""

    __slots__ = ("place_new",)

    def __init__(self) -> None:
        # While a default device other than the CPU may be active: ``place_new(host_array)``
        # moves a newly created array there (``core.wrap_numpy`` calls it); else None.
        self.place_new: Callable[[np.ndarray], Any] | None = None


hooks = _Hooks()

_platform_loader: Callable[[str], list[Device]] | None = None


def set_platform_loader(loader: Callable[[str], list[Device]]) -> None:
    """Install ``loader(platform) -> devices`` (``vfunc.backends`` does, on import): the devices
    of a platform other than the CPU, loading its backend or raising RuntimeError."""
    global _platform_loader
    _platform_loader = loader


_PLATFORM_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}


def devices(backend: str | None = None) -> list[Device]:
    """The devices of ``backend``, as ``jax.devices``.

    Args:
        backend: ``None`` or ``"cpu"`` (the default backend is the CPU), or ``"gpu"``/``"cuda"``
            for NVIDIA GPUs through CuPy (``pip install vfunc[cuda]``).

    Returns:
        The devices, ordered by id.

    Raises:
        RuntimeError: for a backend that is not available here (``"tpu"``; ``"gpu"`` without
            CuPy or without a GPU), saying what is missing.

    Differs from JAX: the default backend is the CPU even where a GPU is available; place
    arrays on a GPU with ``device_put`` or ``default_device``.

    Example:
        >>> devices()
        [CpuDevice(id=0)]
    """
    platform = _PLATFORM_ALIASES.get(backend or "cpu")
    if platform == "cpu":
        return [CPU]
    if platform is None or _platform_loader is None:
        raise RuntimeError(
            f"devices: backend {backend!r} is not available; vfunc computes on 'cpu', or on "
            "'gpu' (alias 'cuda') with CuPy installed (pip install vfunc[cuda])."
        )
    return _platform_loader(platform)


def local_devices(process_index: int | None = None, backend: str | None = None) -> list[Device]:
    """The devices this process addresses, as ``jax.local_devices``: ``[CpuDevice(id=0)]``.

    Example:
        >>> local_devices()
        [CpuDevice(id=0)]
    """
    del process_index  # one process: every device is local
    return devices(backend)


def device_count(backend: str | None = None) -> int:
    """How many devices there are, as ``jax.device_count``: 1.

    Example:
        >>> device_count()
        1
    """
    return len(devices(backend))


def local_device_count(backend: str | None = None) -> int:
    """How many devices this process addresses, as ``jax.local_device_count``: 1."""
    return len(local_devices(backend=backend))
