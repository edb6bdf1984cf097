"""vfunc.io state dicts against files PyTorch wrote, and the declarative key mapping.

Fixtures (tests/fixtures/io, recorded once by scripts/record_fixtures/record_io.py): a small
network's state dict saved by `safetensors.torch.save_file` in float32, bfloat16, float16 and
under DataParallel's "module." prefix, with an input batch, PyTorch's eval-mode output, and
PyTorch's own float32 values of the 16-bit weights. The network is recomputed here in numpy
from what vfunc loaded and must give PyTorch's output.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import io
from vfunc.io import format as fmt

safetensors_numpy = pytest.importorskip("safetensors.numpy")
pytestmark = pytest.mark.usefixtures("x64_off")

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "io")
NET = os.path.join(FIXTURES, "torch_net.safetensors")
DATA_PARALLEL = os.path.join(FIXTURES, "torch_dataparallel.safetensors")
REF = dict(np.load(os.path.join(FIXTURES, "torch_net_io.npz")))
KEYS = sorted(k[4:] for k in REF if k.startswith("f32/"))


def forward(p: dict, x: np.ndarray) -> np.ndarray:
    """Net.forward of the recording script, in numpy, eval mode; weights in PyTorch layout."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    h = x @ p["fc1.weight"].T + p["fc1.bias"]
    h = (h - p["bn.running_mean"]) / np.sqrt(p["bn.running_var"] + 1e-5)
    h = np.maximum(h * p["bn.weight"] + p["bn.bias"], 0)
    if "qkv.weight" in p:
        q, k, v = np.split(h @ p["qkv.weight"].T + p["qkv.bias"], 3, axis=-1)
    else:
        q, k, v = (h @ p[f"{n}.weight"].T + p[f"{n}.bias"] for n in "qkv")
    return (q * k + v) @ p["out.weight"].T + p["out.bias"]


def template(dtype=np.float32) -> dict:
    """A model to fill: a flat state dict of zeros with the fixture's keys and shapes."""
    out = {}
    for key in KEYS:
        ref = REF[f"f32/{key}"]
        out[key] = vnp.zeros(ref.shape, np.int64 if ref.dtype == np.int64 else dtype)
    return out


def test_recomputed_network_matches_torch_with_torch_weights():
    params = {k: REF[f"f32/{k}"] for k in KEYS}
    np.testing.assert_allclose(forward(params, REF["x"]), REF["y"], rtol=1e-5, atol=1e-6)


def test_torch_file_loads_into_a_state_dict_and_gives_torch_outputs():
    model = template()
    loaded = io.load_state_dict(model, NET)
    assert set(loaded) == set(KEYS)
    for key in KEYS:
        np.testing.assert_array_equal(loaded[key], REF[f"f32/{key}"])
    assert loaded["bn.num_batches_tracked"].dtype == np.int32  # I64 without x64
    assert int(loaded["bn.num_batches_tracked"]) == 3
    np.testing.assert_allclose(forward(loaded, REF["x"]), REF["y"], rtol=1e-5, atol=1e-6)


def test_nested_model_layout_loads_with_its_key_paths():
    model = {
        "fc1": {"weight": vnp.zeros((8, 4)), "bias": vnp.zeros(8)},
        "bn": {"weight": vnp.zeros(8), "bias": vnp.zeros(8), "running_mean": vnp.zeros(8),
               "running_var": vnp.zeros(8), "num_batches_tracked": 0},
        "qkv": {"weight": vnp.zeros((24, 8)), "bias": vnp.zeros(24)},
        "out": {"weight": vnp.zeros((3, 8)), "bias": vnp.zeros(3)},
    }  # fmt: skip
    loaded = io.load_state_dict(model, NET)
    assert loaded["bn"]["num_batches_tracked"] == 3
    np.testing.assert_array_equal(loaded["out"]["weight"], REF["f32/out.weight"])


@pytest.mark.parametrize("name", ["bf16", "f16"])
def test_16_bit_files_load_as_float32_with_torch_values(name):
    loaded = io.load_state_dict(template(), os.path.join(FIXTURES, f"torch_net_{name}.safetensors"))
    for key in KEYS:
        assert loaded[key].dtype == (np.int32 if "num_batches" in key else np.float32)
        np.testing.assert_array_equal(loaded[key], REF[f"{name}/{key}"], err_msg=key)
    np.testing.assert_allclose(forward(loaded, REF["x"]), REF["y"], rtol=0.05, atol=0.05)


def test_strip_prefix_of_data_parallel_files():
    model = {"fc1.weight": vnp.zeros((8, 4)), "fc1.bias": vnp.zeros(8)}
    path = DATA_PARALLEL
    with pytest.raises(ValueError, match=r"missing from the file: \['fc1.bias', 'fc1.weight'\]"):
        io.load_state_dict(model, path)
    loaded = io.load_state_dict(model, path, map=[io.StripPrefix("module.")])
    np.testing.assert_array_equal(loaded["fc1.bias"], REF["f32/fc1.bias"])


def test_split_fused_qkv_transpose_rename_and_report():
    # A vfunc-side layout: separate q/k/v projections, weights (in, out), "w"/"b" names.
    model = {k: v for k, v in template().items() if not k.startswith("qkv")}
    model = {k.replace(".weight", ".w").replace(".bias", ".b"): v for k, v in model.items()}
    for key in ("fc1.w", "out.w"):
        model[key] = vnp.zeros(model[key].shape[::-1])
    for n in "qkv":
        model[f"{n}.w"], model[f"{n}.b"] = vnp.zeros((8, 8)), vnp.zeros(8)
    del model["bn.num_batches_tracked"]
    rules = [
        io.Drop(r"num_batches_tracked$"),
        io.Split(r"^qkv\.", ("q.", "k.", "v.")),
        io.Rename(r"\.weight$", ".w"),
        io.Rename(r"\.bias$", ".b"),
        io.Transpose(r"^(fc1|out)\.w$"),
        io.Transpose(r"^[qkv]\.w$"),
        io.Rename(r"^conv\.", "c."),  # matches nothing: reported
    ]
    loaded, report = io.load_state_dict(model, NET, map=rules, return_report=True)
    fused_w = REF["f32/qkv.weight"]
    np.testing.assert_array_equal(loaded["k.w"], fused_w[8:16].T)
    np.testing.assert_array_equal(loaded["v.b"], REF["f32/qkv.bias"][16:])
    back = {
        k.replace(".w", ".weight").replace(".b", ".bias"): np.asarray(v) for k, v in loaded.items()
    }
    for key in ("fc1.weight", "out.weight", "q.weight", "k.weight", "v.weight"):
        back[key] = back[key].T
    np.testing.assert_allclose(forward(back, REF["x"]), REF["y"], rtol=1e-5, atol=1e-6)
    assert report.sources["k.w"] == "qkv.weight" and report.dropped == ["bn.num_batches_tracked"]
    assert report.actions["k.w"] == [
        "split part 1 of 3 on axis 0", "renamed from 'k.weight'", "transpose(1, 0)"
    ]
    assert report.actions["fc1.w"] == ["renamed from 'fc1.weight'", "transpose(1, 0)"]
    assert "bn.running_mean" not in report.actions  # untouched
    assert [repr(r) for r in report.unused_rules] == ["Rename(pattern='^conv\\\\.', repl='c.')"]
    assert report.missing == [] and report.unexpected == []
    text = str(report)
    assert "qkv.weight -> k.w: split part 1 of 3 on axis 0" in text
    assert "dropped: ['bn.num_batches_tracked']" in text


def test_reshape_cast_and_dict_shorthand():
    model = template()
    model["fc1.weight"] = vnp.zeros((2, 4, 4))
    model["out.bias"] = vnp.zeros(3, np.float16)
    model = {k.replace("bn.", "norm."): v for k, v in model.items()}
    rules = [
        io.Rename(r"^bn\.", "norm."),
        io.Reshape(r"fc1\.weight", (2, -1, 4)),
        io.Cast(r"out\.bias", np.float16),
    ]
    loaded = io.load_state_dict(model, NET, map=rules)
    np.testing.assert_array_equal(loaded["fc1.weight"], REF["f32/fc1.weight"].reshape(2, 4, 4))
    assert loaded["out.bias"].dtype == np.float16
    np.testing.assert_array_equal(loaded["out.bias"], REF["f32/out.bias"].astype(np.float16))
    assert int(loaded["norm.num_batches_tracked"]) == 3
    # {pattern: replacement} is shorthand for renames.
    renamed = {k.replace("bn.", "norm."): v for k, v in template().items()}
    loaded = io.load_state_dict(renamed, NET, map={r"^bn\.": "norm."})
    np.testing.assert_array_equal(loaded["norm.running_var"], REF["f32/bn.running_var"])


def test_non_strict_keeps_missing_and_ignores_unexpected_without_reading_them(monkeypatch):
    model = {"fc1.weight": vnp.ones((8, 4)), "extra.weight": vnp.ones(5)}
    read = []
    original = fmt.iter_arrays
    monkeypatch.setattr(fmt, "iter_arrays", lambda h, n: read.extend(n) or original(h, n))
    loaded, report = io.load_state_dict(model, NET, strict=False, return_report=True)
    assert read == ["fc1.weight"]
    assert loaded["extra.weight"] is model["extra.weight"]
    np.testing.assert_array_equal(loaded["fc1.weight"], REF["f32/fc1.weight"])
    assert report.missing == ["extra.weight"]
    assert sorted(report.unexpected) == sorted(k for k in KEYS if k != "fc1.weight")
    assert "missing (kept as they were): ['extra.weight']" in str(report)


def test_mismatches_are_listed_together_even_when_not_strict():
    model = template()
    model["fc1.weight"] = vnp.zeros((4, 8))
    model["bn.weight"] = vnp.zeros(8, np.int32)
    with pytest.raises(ValueError) as info:
        io.load_state_dict(model, NET, strict=False)
    message = str(info.value)
    assert "the file does not fit the model (2 problems)" in message
    assert "'fc1.weight': float32[8, 4] in the file, the model wants float32[4, 8]" in message
    assert "'bn.weight': float32[8] in the file, the model wants int32[8]" in message


@pytest.mark.parametrize(
    "rules, error, match",
    [
        ([io.Rename(r"\.(weight|bias)$", "")], ValueError, "maps both 'bn.bias' and 'bn.weight'"),
        ([io.Split(r"fc1\.weight", ("a", "b", "c"))], ValueError, "axis 0 does not split in 3"),
        ([io.Split(r"fc1\.weight", ("a", "b"), sizes=(1, 2))], ValueError, r"\(1, 2\) must be 2"),
        ([io.Split(r"fc1\.weight", ("a", "b"), axis=2)], ValueError, "axis 2 is out of range"),
        ([io.Transpose(r"fc1\.bias", (1, 0))], ValueError, r"on 'fc1.bias' \(shape \(8,\)\)"),
        ([io.Transpose(r"fc1\.weight", (0, 0))], ValueError, "axes must permute 0..1"),
        ([io.Reshape(r"fc1\.weight", (5, -1))], ValueError, "cannot hold its 32 elements"),
        ([lambda k: k], TypeError, "is not a rule"),
    ],
)
def test_bad_rules(rules, error, match):
    with pytest.raises(error, match=match):
        io.load_state_dict(template(), NET, map=rules)


def test_save_state_dict_is_read_by_safetensors_with_pt_format(tmp_path):
    model = {"fc": {"weight": vnp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
                    "bias": vnp.zeros(2)}, "steps": np.array(5, np.int64)}  # fmt: skip
    path = str(tmp_path / "sd.safetensors")
    report = io.save_state_dict(path, model, metadata={"arch": "mlp"}, map=[io.Transpose("weight")])
    assert report.actions == {"fc.weight": ["transpose(1, 0)"]}
    with safetensors_numpy.safe_open(path, "np") as f:
        assert f.metadata() == {"format": "pt", "arch": "mlp"}
    theirs = safetensors_numpy.load_file(path)
    np.testing.assert_array_equal(theirs["fc.weight"], np.arange(6).reshape(2, 3).T)
    assert theirs["steps"].dtype == np.int64  # 64-bit kept on the way out (PyTorch's dtype)
    # and back, with the inverse rule
    loaded = io.load_state_dict(model, path, map=[io.Transpose("weight")])
    np.testing.assert_array_equal(loaded["fc"]["weight"], model["fc"]["weight"])


def test_split_with_unequal_sizes_on_a_later_axis(tmp_path):
    path = str(tmp_path / "fused.safetensors")
    w = np.arange(4 * 10, dtype=np.float32).reshape(4, 10)
    io.save_state_dict(path, {"fused.weight": w})
    model = {"a.weight": vnp.zeros((4, 2)), "b.weight": vnp.zeros((4, 8))}
    loaded = io.load_state_dict(
        model, path, map=[io.Split(r"^fused", ("a", "b"), axis=-1, sizes=(2, 8))]
    )
    np.testing.assert_array_equal(loaded["a.weight"], w[:, :2])
    np.testing.assert_array_equal(loaded["b.weight"], w[:, 2:])


nn = pytest.importorskip("vfunc.nn")
requires_nn = pytest.mark.skipif(
    not all(hasattr(nn, n) for n in ("Module", "state_dict", "load_state_dict", "Linear")),
    reason="vfunc.nn has no Module/state_dict/load_state_dict yet (branch nn not merged)",
)


def torch_like_net():
    """The recording script's Net as a vfunc.nn Module, zero-initialised."""

    class Net(nn.Module):
        fc1: nn.Linear
        bn: nn.BatchNorm1d
        qkv: nn.Linear
        out: nn.Linear

    return Net(
        fc1=nn.Linear(4, 8, init=False), bn=nn.BatchNorm1d(8),
        qkv=nn.Linear(8, 24, init=False), out=nn.Linear(8, 3, init=False),
    )  # fmt: skip


@requires_nn
def test_torch_file_loads_into_the_equivalent_nn_module():
    model = torch_like_net()
    loaded = io.load_state_dict(model, NET)
    assert type(loaded) is type(model)
    sd = nn.state_dict(loaded)
    assert sorted(sd) == KEYS
    for key in KEYS:
        np.testing.assert_array_equal(np.asarray(sd[key]), REF[f"f32/{key}"], err_msg=key)
    np.testing.assert_allclose(forward(sd, REF["x"]), REF["y"], rtol=1e-5, atol=1e-6)
    x = REF["x"]
    np.testing.assert_allclose(
        vfunc.vmap(loaded.fc1)(vnp.asarray(x)), x @ REF["f32/fc1.weight"].T + REF["f32/fc1.bias"],
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


@requires_nn
def test_nn_module_round_trip_through_a_file(tmp_path):
    model = io.load_state_dict(torch_like_net(), NET)
    path = str(tmp_path / "net.safetensors")
    io.save_state_dict(path, model)
    theirs = safetensors_numpy.load_file(path)
    assert sorted(theirs) == KEYS and theirs["bn.num_batches_tracked"].dtype == np.int64
    again, report = io.load_state_dict(torch_like_net(), path, return_report=True)
    for key, value in nn.state_dict(again).items():
        np.testing.assert_array_equal(np.asarray(value), REF[f"f32/{key}"], err_msg=key)
    assert report.missing == [] and report.unexpected == []
    with pytest.raises(ValueError, match="missing from the file"):
        io.load_state_dict(torch_like_net(), DATA_PARALLEL)
