"""vfunc.io: pytrees as safetensors files, the validated reader, atomic writes, fuzzing.

Independent checks: files written by `safetensors.numpy.save_file` are read by vfunc, files
written by vfunc are read by `safetensors.numpy.load_file`, and malformed files are built byte
by byte from the format's definition.
"""

from __future__ import annotations

import ast
import json
import os
import struct
import sys
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vfunc
import vfunc.numpy as vnp
from vfunc import io
from vfunc.io import format as fmt

safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.usefixtures("x64_off")


class Adam(NamedTuple):
    mu: dict
    nu: dict
    count: object


def raw_file(header: object, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A safetensors file from a header (JSON-encoded unless bytes) and data, byte by byte."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def write(tmp_path, content: bytes, name: str = "f.safetensors") -> str:
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(content)
    return path


# --------------------------------------------------------------------------------------------
# Round trips and keys


def test_round_trip_with_like_keeps_structure_dtypes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    state = {
        "layers": [
            {"weight": vnp.asarray(rng.standard_normal((3, 4), dtype=np.float32)), "bias": None},
            {"weight": vnp.asarray(rng.standard_normal((4, 2), dtype=np.float32))},
        ],
        "opt": Adam(mu={"w": vnp.zeros((2,))}, nu={"w": vnp.ones((2,))}, count=vnp.asarray(7)),
        "mask": vnp.asarray(np.array([True, False])),
        "bytes": vnp.asarray(np.arange(5, dtype=np.uint8)),
        "empty": vnp.zeros((0, 3)),
        "half": vnp.asarray(np.array([0.5, -2.0], np.float16)),
        "step": 12,
        "lr": 0.1,
    }
    path = str(tmp_path / "s.safetensors")
    io.save(path, state, metadata={"note": "hi"})
    out = io.load(path, like=state)
    assert vfunc.tree.structure(out) == vfunc.tree.structure(state)
    for (p, a), (_, b) in zip(
        vfunc.tree.leaves_with_path(out), vfunc.tree.leaves_with_path(state), strict=True
    ):
        if isinstance(b, int | float):
            assert type(a) is type(b) and a == b, vfunc.tree.keystr(p)
        else:
            assert isinstance(a, vfunc.Array)
            assert a.dtype == b.dtype and a.shape == b.shape, vfunc.tree.keystr(p)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert io.read_metadata(path) == {"note": "hi"}


def test_keys_are_paths_joined_with_dots_and_safetensors_reads_them(tmp_path):
    state = {"layers": [{"weight": vnp.ones((2, 2))}], "opt": Adam({"w": vnp.zeros(1)}, {}, 3)}
    path = str(tmp_path / "k.safetensors")
    io.save(path, state)
    theirs = safetensors_numpy.load_file(path)
    assert sorted(theirs) == ["layers.0.weight", "opt.count", "opt.mu.w"]
    np.testing.assert_array_equal(theirs["layers.0.weight"], np.ones((2, 2), np.float32))
    assert theirs["opt.count"].dtype == np.int64 and theirs["opt.count"] == 3


def test_without_like_gives_nested_dicts_or_flat(tmp_path):
    path = str(tmp_path / "n.safetensors")
    safetensors_numpy.save_file(
        {"a.b": np.ones(2, np.float32), "a.c": np.arange(3, dtype=np.int32), "d": np.zeros(())},
        path,
    )
    nested = io.load(path)
    assert set(nested) == {"a", "d"} and set(nested["a"]) == {"b", "c"}
    np.testing.assert_array_equal(nested["a"]["c"], [0, 1, 2])
    assert nested["d"].dtype == np.float32  # F64 narrows without x64, as vnp.asarray does
    flat = io.load(path, flat=True)
    assert sorted(flat) == ["a.b", "a.c", "d"]


def test_nesting_conflict_names_the_keys(tmp_path):
    path = str(tmp_path / "c.safetensors")
    safetensors_numpy.save_file({"a": np.ones(1), "a.b": np.ones(1)}, path)
    with pytest.raises(ValueError, match="'a' is a tensor and also the prefix of 'a.b'"):
        io.load(path)
    assert sorted(io.load(path, flat=True)) == ["a", "a.b"]


def test_x64_keeps_64_bit_dtypes(tmp_path, x64):
    path = str(tmp_path / "x.safetensors")
    safetensors_numpy.save_file({"i": np.array([2**40]), "f": np.array([0.1])}, path)
    out = io.load(path)
    assert out["i"].dtype == np.int64 and int(out["i"][0]) == 2**40
    assert out["f"].dtype == np.float64 and float(out["f"][0]) == 0.1


def test_int64_that_does_not_fit_int32_raises(tmp_path):
    path = str(tmp_path / "big.safetensors")
    safetensors_numpy.save_file({"i": np.array([1, 2**40])}, path)
    with pytest.raises(ValueError, match=r"'i' holds int64 values in \[1, 1099511627776\].*x64"):
        io.load(path)


def test_bfloat16_and_float16_load_as_float32(tmp_path):
    # bfloat16 bits of 1.0, -2.5 and 3.140625 (the top halves of their float32 bits).
    bits = np.array([0x3F80, 0xC020, 0x4049], "<u2")
    header = {
        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
        "h": {"dtype": "F16", "shape": [2], "data_offsets": [6, 10]},
    }
    data = bits.tobytes() + np.array([0.5, 65504.0], "<f2").tobytes()
    path = write(tmp_path, raw_file(header, data))
    out = io.load(path)
    assert out["b"].dtype == np.float32 and out["h"].dtype == np.float32
    np.testing.assert_array_equal(out["b"], [1.0, -2.5, 3.140625])
    np.testing.assert_array_equal(out["h"], [0.5, 65504.0])
    # A float16 template gets float16 exactly; a bfloat16 tensor cannot fill one.
    like = {"b": vnp.zeros(3), "h": vnp.zeros(2, np.float16)}
    assert io.load(path, like=like)["h"].dtype == np.float16
    with pytest.raises(ValueError, match=r"'b': BF16 as float32\[3\] in the file, like wants"):
        io.load(path, like={"b": vnp.zeros(3, np.float16), "h": vnp.zeros(2)})


def test_like_mismatch_lists_every_problem_and_loads_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "m.safetensors")
    io.save(path, {"w": vnp.ones((2, 3)), "b": vnp.zeros(3), "n": vnp.asarray(1), "x": 1.0})
    read = []
    monkeypatch.setattr(fmt, "iter_arrays", lambda h, names: read.extend(names) or iter(()))
    like = {"w": vnp.zeros((3, 2)), "b": vnp.zeros(3, np.int32), "n": vnp.asarray(1), "y": 1.0}
    with pytest.raises(ValueError) as info:
        io.load(path, like=like)
    message = str(info.value)
    assert "4 problems" in message and path in message
    assert "'w': float32[2, 3] in the file, like wants float32[3, 2]" in message
    assert "'b': float32[3] in the file, like wants int32[3]" in message
    assert "missing from the file: ['y']" in message
    assert "in the file but not in like: ['x']" in message
    assert read == []


def test_like_accepts_shape_dtype_structs_and_numpy(tmp_path):
    path = str(tmp_path / "s.safetensors")
    io.save(path, {"a": vnp.ones((2,)), "b": np.arange(3, dtype=np.int32)})
    like = {"a": vfunc.ShapeDtypeStruct((2,), np.float32), "b": np.zeros(3, np.int64)}
    out = io.load(path, like=like)  # int64 is int32 without x64
    assert out["b"].dtype == np.int32 and isinstance(out["a"], vfunc.Array)
    with pytest.raises(ValueError, match=r"'b': int32\[3\] in the file, like wants float32\[3\]"):
        io.load(path, like=dict(like, b=np.zeros(3)))


def test_python_scalar_template_rejects_array(tmp_path):
    path = str(tmp_path / "p.safetensors")
    io.save(path, {"step": vnp.ones(2)})
    expected = r"'step': float32\[2\] in the file, like wants a Python int"
    with pytest.raises(ValueError, match=expected):
        io.load(path, like={"step": 0})


@pytest.mark.parametrize(
    "tree, error, match",
    [
        (
            {"a.b": vnp.ones(1), "a": {"b": vnp.ones(1)}},
            ValueError,
            r"\['a'\]\['b'\] and \['a.b'\] would both",
        ),
        (vnp.ones(2), ValueError, "single leaf"),
        ({"s": "text"}, TypeError, "'s' is a str; only arrays and numbers"),
        ({"c": np.ones(2, np.complex128)}, TypeError, "complex128.*cast to complex64"),
    ],
)
def test_save_rejects_bad_trees(tmp_path, tree, error, match):
    with pytest.raises(error, match=match):
        io.save(str(tmp_path / "bad.safetensors"), tree)
    assert os.listdir(tmp_path) == []


def test_save_rejects_traced_values_and_bad_metadata(tmp_path):
    path = str(tmp_path / "t.safetensors")

    def f(x):
        io.save(path, {"x": x})
        return x

    with pytest.raises(TypeError, match="'x' is a traced value"):
        vfunc.jit(f)(vnp.ones(2))
    with pytest.raises(TypeError, match="metadata must map str to str"):
        io.save(path, {"x": vnp.ones(1)}, metadata={"epoch": 3})


def test_strided_arrays_are_saved_by_value(tmp_path):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = str(tmp_path / "v.safetensors")
    io.save(path, {"t": base.T, "s": base[:, ::2], "a": vnp.asarray(base).T})
    theirs = safetensors_numpy.load_file(path)
    np.testing.assert_array_equal(theirs["t"], base.T)
    np.testing.assert_array_equal(theirs["s"], base[:, ::2])
    np.testing.assert_array_equal(theirs["a"], base.T)


def test_save_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .*nope does not exist"):
        io.save(str(tmp_path / "nope" / "x.safetensors"), {"x": vnp.ones(1)})


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_has_normal_permissions(tmp_path):
    path = str(tmp_path / "p.safetensors")
    io.save(path, {"a": vnp.ones(1)})
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------------------------
# Partial and lazy loading


def test_keys_select_tensors_and_read_only_those(tmp_path, monkeypatch):
    path = str(tmp_path / "sel.safetensors")
    io.save(path, {"layers": [{"w": vnp.ones(2), "b": vnp.zeros(2)}, {"w": vnp.full(2, 3.0)}]})
    read = []
    original = fmt.iter_arrays
    monkeypatch.setattr(fmt, "iter_arrays", lambda h, n: read.extend(n) or original(h, n))
    out = io.load(path, keys=["layers.1", "layers.0.b"])
    assert sorted(read) == ["layers.0.b", "layers.1.w"]
    np.testing.assert_array_equal(out["layers"]["1"]["w"], [3.0, 3.0])
    with pytest.raises(KeyError, match="no tensor is named 'layers.2'"):
        io.load(path, keys=["layers.2"])
    # With like, the leaves not selected are returned as they are.
    like = {"layers": [{"w": vnp.zeros(2), "b": vnp.zeros(2)}, {"w": vnp.zeros(2)}]}
    out = io.load(path, like=like, keys=["layers.1"])
    assert out["layers"][0]["w"] is like["layers"][0]["w"]
    np.testing.assert_array_equal(out["layers"][1]["w"], [3.0, 3.0])


def test_open_file_is_lazy_and_memory_mapped(tmp_path):
    path = str(tmp_path / "lazy.safetensors")
    big = np.arange(1000, dtype=np.float32)
    small = vnp.asarray(np.array([1, 2], np.int32))
    io.save(path, {"big": big, "small": small}, metadata={"k": "v"})
    with io.open_file(path) as f:
        assert f.keys() == ["big", "small"] and len(f) == 2 and "big" in f and list(f) == f.keys()
        assert f.shape("big") == (1000,) and f.dtype("small") == np.int32
        assert f.metadata == {"k": "v"}
        arr = f["big"]
        with pytest.raises(KeyError, match="no tensor named 'nope'"):
            f["nope"]
    view = np.asarray(arr)
    assert not view.flags.owndata and not view.flags.writeable  # a view of the mapping
    np.testing.assert_array_equal(view, big)  # still valid after close


def test_open_file_with_only_empty_tensors(tmp_path):
    path = str(tmp_path / "e.safetensors")
    io.save(path, {"e": vnp.zeros((0, 2))})
    with io.open_file(path) as f:
        assert f["e"].shape == (0, 2)


# --------------------------------------------------------------------------------------------
# Atomic writes


def test_failed_write_leaves_previous_file_and_no_temporaries(tmp_path, monkeypatch):
    path = str(tmp_path / "a.safetensors")
    io.save(path, {"x": vnp.ones(3)})

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save(path, {"x": vnp.zeros(3)})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["a.safetensors"]
    np.testing.assert_array_equal(io.load(path)["x"], np.ones(3))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")
def test_write_fsyncs_file_then_renames_then_fsyncs_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.path.dirname(a) != os.path.dirname(b)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    io.save(str(tmp_path / "d.safetensors"), {"x": vnp.ones(1)})
    assert events == [("fsync", False), ("replace", True), ("fsync", True)]


def test_missing_safetensors_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install vfunc\[io\]"):
        io.save(str(tmp_path / "x.safetensors"), {"x": vnp.ones(1)})


def test_no_pickle_anywhere_in_vfunc():
    unsafe = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
    root = os.path.dirname(vfunc.__file__)
    for folder, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name)) as f:
                module = ast.parse(f.read())
            for node in ast.walk(module):
                if isinstance(node, ast.Import):
                    imported = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    imported = {(node.module or "").split(".")[0]}
                else:
                    continue
                assert not imported & unsafe, f"{name} imports {imported & unsafe}"


def test_loading_never_unpickles(tmp_path, monkeypatch):
    import pickle

    path = str(tmp_path / "p.safetensors")
    io.save(path, {"a": vnp.ones(2)})

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling during load")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    io.load(path)
    with io.open_file(path) as f:
        np.asarray(f["a"])


# --------------------------------------------------------------------------------------------
# Malformed files: FormatError (a ValueError) naming the file and the fault


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
EIGHT = bytes(8)

MALFORMED = {
    "short": (b"\x01\x02\x03", "truncated: 3 bytes"),
    "header past end": (raw_file({"a": F32}, EIGHT, length=500), "header length 500 runs past"),
    "10 GB header": (raw_file({}, length=10 * 2**30), "claims 10737418240 bytes, over the"),
    "invalid json": (raw_file(b'{"a": [1, 2'), "not valid UTF-8 JSON"),
    "invalid utf-8": (raw_file(b'{"\xff": 1}'), "not valid UTF-8 JSON"),
    "deep json": (raw_file(b"[" * 100_000), "not valid UTF-8 JSON"),
    "not an object": (raw_file([1, 2]), "header is JSON list, not an object"),
    "duplicate key": (raw_file(b'{"a": {}, "a": {}}'), "repeats the key 'a'"),
    "duplicate nested": (
        raw_file(b'{"a": {"dtype": "F32", "dtype": "F32", "shape": [], "data_offsets": [0, 4]}}'),
        "repeats the key 'dtype'",
    ),
    "unknown dtype": (raw_file({"a": dict(F32, dtype="F17")}, EIGHT), "unknown dtype 'F17'"),
    "fp8": (raw_file({"a": dict(F32, dtype="F8_E4M3")}, EIGHT), "F8_E4M3 is a safetensors dtype"),
    "size disagrees": (
        raw_file({"a": dict(F32, shape=[3])}, EIGHT), r"shape \[3\] of F32 needs 12 bytes"
    ),
    "negative dim": (raw_file({"a": dict(F32, shape=[-2])}, EIGHT), "non-negative ints"),
    "float dim": (raw_file({"a": dict(F32, shape=[2.0])}, EIGHT), "non-negative ints"),
    "bool dim": (raw_file({"a": dict(F32, shape=[True])}, EIGHT), "non-negative ints"),
    "huge shape": (
        raw_file({"a": dict(F32, shape=[0, 2**62], data_offsets=[0, 0])}),
        "larger than any array",
    ),
    "reversed offsets": (raw_file({"a": dict(F32, data_offsets=[8, 0])}, EIGHT), "begin <= end"),
    "three offsets": (raw_file({"a": dict(F32, data_offsets=[0, 8, 9])}, EIGHT), "begin, end"),
    "extra field": (raw_file({"a": dict(F32, extra=1)}, EIGHT), "expected an object with keys"),
    "out of range": (raw_file({"a": dict(F32, data_offsets=[4, 12])}, EIGHT), "bytes \\[0, 4\\)"),
    "past end": (raw_file({"a": F32}, bytes(4)), "'a' runs past the end of the file"),
    "overlap": (
        raw_file({"a": F32, "b": dict(F32, data_offsets=[4, 12])}, bytes(12)),
        "tensors 'a' and 'b' overlap",
    ),
    "gap": (
        raw_file({"a": F32, "b": dict(F32, data_offsets=[12, 20])}, bytes(20)),
        r"bytes \[8, 12\) of the data belong to no tensor",
    ),
    "trailing bytes": (raw_file({"a": F32}, bytes(12)), "4 bytes follow the last tensor"),
    "bad metadata": (raw_file({"__metadata__": {"a": 1}}), "__metadata__ must map strings"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_file_raises_format_error_naming_file_and_fault(tmp_path, name, monkeypatch):
    content, fault = MALFORMED[name]
    path = write(tmp_path, content)
    read = []
    monkeypatch.setattr(fmt, "iter_arrays", lambda h, names: read.extend(names) or iter(()))
    for call in (io.load, io.read_metadata, io.open_file, lambda p: io.load(p, like={})):
        with pytest.raises(io.FormatError, match=fault) as info:
            call(path)
        assert str(info.value).startswith(f"{path}: not a valid safetensors file: ")
        assert isinstance(info.value, ValueError)
    assert read == []


def test_the_valid_base_of_malformed_cases_loads(tmp_path):
    path = write(tmp_path, raw_file({"a": F32, "b": dict(F32, data_offsets=[8, 16])}, bytes(16)))
    assert sorted(io.load(path)) == ["a", "b"]


def test_file_truncated_after_validation_is_reported(tmp_path):
    path = str(tmp_path / "t.safetensors")
    io.save(path, {"a": vnp.ones(100)})
    header = fmt.read_header(path)
    with open(path, "r+b") as f:
        f.truncate(header.file_size - 40)
    with pytest.raises(io.FormatError, match="changed size while loading"):
        dict(fmt.iter_arrays(header, ["a"]))


# --------------------------------------------------------------------------------------------
# Fuzzing: damaged files raise only the documented errors


def _valid_file() -> bytes:
    header = {
        "__metadata__": {"k": "v"},
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "n": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
        "m": {"dtype": "BOOL", "shape": [3], "data_offsets": [28, 31]},
        "h.x": {"dtype": "F16", "shape": [], "data_offsets": [31, 33]},
    }
    data = np.arange(4, dtype="<f4").tobytes() + np.array([5], "<i8").tobytes()
    data += b"\x80\x3f\x00\x40" + b"\x01\x00\x01" + np.array([1.5], "<f2").tobytes()
    return raw_file(header, data)


VALID = _valid_file()


@st.composite
def damaged(draw) -> bytes:
    content = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert"]))
        if not content:
            break
        i = draw(st.integers(0, len(content) - 1))
        if kind == "flip":
            content[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            content[i] = draw(st.sampled_from(b'0129"{}[],:-. e\x00\xff'))
        elif kind == "truncate":
            del content[i:]
        else:
            content[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(content)


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=damaged())
def test_fuzzed_files_raise_only_documented_errors(tmp_path, content):
    path = write(tmp_path, content, "fuzz.safetensors")
    try:
        flat = io.load(path, flat=True)
    except ValueError:  # FormatError, or int64 values that do not fit int32
        return
    # What loads must agree with what the header promised.
    header = fmt.read_header(path)
    assert sorted(flat) == sorted(header.tensors)
    for key, value in flat.items():
        assert value.shape == header.tensors[key].shape
    try:
        nested = io.load(path)
    except ValueError as err:  # keys that cannot nest
        assert "cannot nest" in str(err)
    else:
        assert len(vfunc.tree.leaves(nested)) == len(flat)
    with io.open_file(path) as f:
        for key in f.keys():
            try:
                np.asarray(f[key])
            except ValueError as err:
                assert "outside" in str(err)


def test_fuzz_base_file_is_valid(tmp_path):
    out = io.load(write(tmp_path, VALID))
    np.testing.assert_array_equal(out["b"], [1.0, 2.0])
    np.testing.assert_array_equal(out["m"], [True, False, True])
    assert float(out["h"]["x"]) == 1.5 and int(out["n"][0]) == 5


DTYPE_CODES = ["F32", "F16", "BF16", "I64", "I32", "U8", "BOOL", "C64", "F8_E5M2", "X", 7, None]


@st.composite
def random_headers(draw) -> tuple[dict, int]:
    """Headers whose claims are plausible but often wrong: sizes, offsets, dtypes, shapes."""
    header, offset = {}, 0
    for i in range(draw(st.integers(0, 4))):
        shape = draw(st.lists(st.integers(-1, 4), max_size=3))
        code = draw(st.sampled_from(DTYPE_CODES))
        itemsize = {"F32": 4, "I32": 4, "I64": 8, "C64": 8, "U8": 1, "BOOL": 1}.get(code, 2)
        size = int(np.prod([max(d, 0) for d in shape])) * itemsize
        start = offset + draw(st.sampled_from([0, 0, 0, -2, 1]))
        stop = start + size + draw(st.sampled_from([0, 0, 0, 1, -1]))
        header[f"t{i}"] = {"dtype": code, "shape": shape, "data_offsets": [start, stop]}
        offset = max(offset, stop)
    return header, max(offset + draw(st.sampled_from([0, 0, -1, 3])), 0)


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=random_headers())
def test_random_headers_load_or_raise_format_error(tmp_path, case):
    header, data_size = case
    path = write(tmp_path, raw_file(header, bytes(data_size)), "hdr.safetensors")
    try:
        flat = io.load(path, flat=True)
    except io.FormatError:
        return
    # Accepted: then every claim held, and the tensors tile the data exactly.
    assert sorted(flat) == sorted(header)
    ends = sorted(tuple(e["data_offsets"]) for e in header.values())
    assert all(a[1] == b[0] for a, b in zip(ends, ends[1:], strict=False))
    assert (ends[-1][1] if ends else 0) == data_size
    for key, entry in header.items():
        assert flat[key].shape == tuple(entry["shape"])
