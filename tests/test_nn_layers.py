"""vfunc.nn layers against PyTorch: the same state dict in, the same outputs and the same
gradients (input and every parameter) of ``sum(out * cotangent)`` out, from fixtures recorded
once by ``scripts/record_fixtures/record_nn.py`` (PyTorch 2.13)."""

from __future__ import annotations

import glob
import inspect
import json
import os

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import nn

FIXTURES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "nn", "*.npz")))
LAYER_FIXTURES = [f for f in FIXTURES if not os.path.basename(f).startswith(
    ("loss_", "dpa_", "init_"))]


def _load(path: str) -> tuple[dict, dict]:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def construct(ctor: str, args: list, kwargs: dict, dtype: str) -> nn.Module:
    """PyTorch's constructor call on the vfunc class; a ``{"module": ...}`` argument (a layer
    passed to a container, as TransformerEncoder's ``encoder_layer``) is built the same way."""
    cls = getattr(nn, ctor)

    def arg(a):
        return construct(a["module"], a["args"], a["kwargs"], dtype) if isinstance(
            a, dict) and "module" in a else a

    args, kwargs = [arg(a) for a in args], {k: arg(v) for k, v in kwargs.items()}
    params = inspect.signature(cls.__init__).parameters
    # Conv and recurrent layers forward their keywords (init, dtype) through **kwargs.
    forwards = ctor.startswith(("Conv", "LSTM", "GRU", "RNN")) and any(
        p.kind is p.VAR_KEYWORD for p in params.values())
    if "init" in params or forwards:
        kwargs["init"] = False
    if dtype == "float64" and ("dtype" in params or forwards):
        kwargs["dtype"] = np.float64
    return cls(*args, **kwargs)


def build(meta: dict, arrays: dict) -> nn.Module:
    """The vfunc layer of a fixture: PyTorch's constructor call, then PyTorch's state dict."""
    model = construct(meta["ctor"], meta["args"], meta["kwargs"], meta["dtype"])
    sd = {k[3:]: v for k, v in arrays.items() if k.startswith("sd.")}
    model = nn.load_state_dict(model, sd)
    return model if meta["train"] else nn.inference_mode(model)


def call(model: nn.Module, meta: dict, arrays: dict, inputs: list) -> list:
    n = meta["n_inputs"]
    args = list(inputs[:n])
    if meta["hx"]:
        hx = inputs[n:n + meta["hx"]]
        args.append(tuple(hx) if meta["hx_nested"] else hx[0])
    kwargs = dict(meta["call_kwargs"])
    for k in meta["tensor_kwargs"]:
        kwargs[k] = vnp.asarray(arrays["kw." + k])
    out = model(*args, **kwargs)
    return [o for o in vfunc.tree.leaves(out)]


def inputs_of(arrays: dict) -> list:
    i, out = 0, []
    while f"in.{i}" in arrays:
        out.append(vnp.asarray(arrays[f"in.{i}"]))
        i += 1
    return out


def tolerances(meta: dict) -> dict:
    return dict(rtol=1e-10, atol=1e-10) if meta["dtype"] == "float64" else dict(rtol=2e-4,
                                                                               atol=2e-5)


@pytest.fixture(params=LAYER_FIXTURES, ids=lambda p: os.path.basename(p)[:-4])
def fixture(request):
    meta, arrays = _load(request.param)
    if meta["dtype"] == "float64":
        previous = vfunc.config.enable_x64
        vfunc.config.update("enable_x64", True)
        try:
            yield meta, arrays
        finally:
            vfunc.config.update("enable_x64", previous)
    else:
        yield meta, arrays


def test_layer_matches_pytorch(fixture):
    meta, arrays = fixture
    model = build(meta, arrays)
    inputs = inputs_of(arrays)
    tol = tolerances(meta)
    outs = call(model, meta, arrays, inputs)
    n_out = sum(k.startswith("out.") for k in arrays)
    assert len(outs) == n_out
    for i, o in enumerate(outs):
        want = arrays[f"out.{i}"].dtype
        if want.kind in "iu":  # PyTorch's int64 indices are the default int (int32 without x64)
            assert o.dtype == vnp.asarray(arrays[f"out.{i}"]).dtype, (i, o.dtype)
        else:
            assert o.dtype == want, (i, o.dtype)
        np.testing.assert_allclose(np.asarray(o), arrays[f"out.{i}"], **tol, err_msg=f"out.{i}")

    float_idx = [i for i, x in enumerate(inputs) if f"gin.{i}" in arrays]

    def objective(model, *float_inputs):
        full = list(inputs)
        for i, x in zip(float_idx, float_inputs, strict=True):
            full[i] = x
        res = call(model, meta, arrays, full)
        return sum(vnp.sum(o * arrays[f"ct.{j}"]) for j, o in enumerate(res))

    grads = vfunc.grad(objective, argnums=tuple(range(1 + len(float_idx))))(
        model, *[inputs[i] for i in float_idx])
    for i, g in zip(float_idx, grads[1:], strict=True):
        np.testing.assert_allclose(np.asarray(g), arrays[f"gin.{i}"], **tol, err_msg=f"gin.{i}")
    gsd = nn.state_dict(grads[0])
    for k, v in arrays.items():
        if k.startswith("gsd."):
            np.testing.assert_allclose(np.asarray(gsd[k[4:]]), v, **tol, err_msg=k)


def test_training_updates_buffers_like_pytorch(fixture):
    meta, arrays = fixture
    new = {k[6:]: v for k, v in arrays.items() if k.startswith("newsd.")}
    if not new:
        pytest.skip("no buffers updated in this fixture")
    model = build(meta, arrays)
    inputs = inputs_of(arrays)
    _, state = nn.call_with_state(model, *inputs[:meta["n_inputs"]])
    updated = nn.state_dict(nn.load_state_dict(model, state, strict=False))
    tol = tolerances(meta)
    for k, v in new.items():
        np.testing.assert_allclose(np.asarray(updated[k]), v, **tol, err_msg=k)
        assert np.asarray(updated[k]).dtype == v.dtype


def test_layer_under_jit_matches_eager(fixture):
    meta, arrays = fixture
    if meta["dtype"] == "float64":
        pytest.skip("one dtype is enough here")
    model = build(meta, arrays)
    inputs = inputs_of(arrays)
    eager = call(model, meta, arrays, inputs)
    jitted = vfunc.jit(lambda m, *xs: call(m, meta, arrays, list(xs)))(model, *inputs)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)


# Layers whose unbatched input is the batched one without axis 0: vmap over that axis must
# reproduce the batched call.
VMAPPABLE = ("Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
             "ConvTranspose3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
             "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
             "LayerNorm", "RMSNorm", "InstanceNorm2d", "Embedding", "PixelShuffle",
             "PixelUnshuffle", "LSTMCell", "GRUCell", "RNNCell", "ReLU", "GELU", "LogSoftmax",
             "Tanh", "SiLU", "Mish", "InstanceNorm3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
             "ZeroPad1d", "ZeroPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d",
             "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
             "CircularPad1d", "CircularPad2d")


def test_layer_under_vmap_matches_batched_call(fixture):
    meta, arrays = fixture
    n_in = meta["n_inputs"]
    x = arrays["in.0"]
    if meta["ctor"] not in VMAPPABLE or meta["dtype"] == "float64" or meta["hx"] or n_in != 1:
        pytest.skip("not a single-input layer with an unbatched form")
    if meta["ctor"] in ("Linear", "LayerNorm", "RMSNorm", "Embedding") and x.ndim < 2:
        pytest.skip("input has no batch axis")
    ctor = meta["ctor"]
    digit = [c for c in ctor if c.isdigit()]
    batched_rank = int(digit[0]) + 2 if digit else (2 if ctor.endswith("Cell") else None)
    if batched_rank is not None and x.ndim != batched_rank:
        pytest.skip("unbatched fixture")
    model = build(meta, arrays)
    xv = vnp.asarray(x)
    batched = model(xv)
    mapped = vfunc.vmap(model)(xv)
    for a, b in zip(vfunc.tree.leaves(batched), vfunc.tree.leaves(mapped), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
