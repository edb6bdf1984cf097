"""Devices and shardings, as far as a CPU-only library has them: one CPU device.

JAX code asks where its arrays live (``x.devices()``, ``x.sharding``, ``jax.devices()``) to print
it, to pick a device for ``device_put`` or to count devices for ``pmap``. vfunc computes with
numpy on the host, so every array lives on the one ``Device`` here, ``cpu:0``; these objects let
that code run and print what JAX prints on a CPU-only machine.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "Device",
    "SingleDeviceSharding",
    "device_count",
    "devices",
    "local_device_count",
    "local_devices",
]


@dataclasses.dataclass(frozen=True)
class Device:
    """A device arrays live on. vfunc has one: the host CPU, ``id`` 0.

    Attributes:
        id: the device's number among ``devices()``.
        platform: ``"cpu"``, as JAX names the host platform.
        device_kind: ``"cpu"``, as JAX's CPU client reports it.
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
        return f"CpuDevice(id={self.id})"

    def __str__(self) -> str:
        return f"{self.platform}:{self.id}"


CPU = Device()
"""The host CPU, where every vfunc array lives."""


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


def devices(backend: str | None = None) -> list[Device]:
    """The devices of ``backend`` (default and only one: ``"cpu"``), as ``jax.devices``.

    Args:
        backend: ``None`` or ``"cpu"``.

    Returns:
        ``[CpuDevice(id=0)]``.

    Raises:
        RuntimeError: for any other backend (``"gpu"``, ``"tpu"``): vfunc runs on the CPU only.

    Example:
        >>> devices()
        [CpuDevice(id=0)]
    """
    if backend not in (None, "cpu"):
        raise RuntimeError(
            f"devices: backend {backend!r} is not available; vfunc computes on the CPU only "
            "(backend=None or 'cpu')."
        )
    return [CPU]


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
