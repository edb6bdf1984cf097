"""What JAX's documentation notebooks use beyond the core transformations (issue 17, item 4).

Facts about JAX recorded from jax 0.10.2 on CPU are quoted in each test.
"""

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ConcretizationTypeError


# --------------------------------------------------------------------------------------------
# Devices


def test_array_device_queries_match_jax_on_cpu():
    x = vnp.arange(3.0)
    assert x.block_until_ready() is x
    # JAX: x.devices() == {CpuDevice(id=0)}; x.sharding prints
    # SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device).
    (device,) = x.devices()
    assert repr(device) == "CpuDevice(id=0)" and str(device) == "cpu:0"
    assert (device.platform, device.id, device.device_kind) == ("cpu", 0, "cpu")
    assert x.sharding.device_set == {device}
    assert repr(x.sharding) == "SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)"
    assert vfunc.devices() == vfunc.local_devices() == [device]
    assert vfunc.device_count() == vfunc.local_device_count() == 1


def test_devices_of_another_backend_is_refused():
    with pytest.raises(RuntimeError, match="backend 'gpu' is not available"):
        vfunc.devices("gpu")


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap"])
def test_devices_of_a_tracer_raises_as_in_jax(transform):
    # JAX raises ConcretizationTypeError (a TypeError) under jit, grad and vmap alike.
    def f(x):
        x.devices()
        return x.sum()

    wrapped = getattr(vfunc, transform)(f)
    with pytest.raises(ConcretizationTypeError, match="devices\\(\\) was called on a traced"):
        wrapped(vnp.arange(3.0))
    assert issubclass(ConcretizationTypeError, TypeError)
