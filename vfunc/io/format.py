"""The safetensors file format: header validation, reading, atomic writing.

A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of UTF-8 JSON (an
object mapping each tensor name to `{"dtype", "shape", "data_offsets"}`, plus an optional
`"__metadata__"` object of strings), then the tensors' bytes, little-endian and C-ordered,
tiling the rest of the file exactly. https://github.com/huggingface/safetensors describes it.

Reading is done here, not by `safetensors.safe_open`: every claim of the header is checked
against the file before a single tensor byte is read (so a malformed file raises `FormatError`
naming the file and the fault, and loads nothing), tensors are read straight into their final
numpy buffers (one copy, none extra), and bfloat16 (which numpy lacks, so safetensors' numpy
API cannot return it) is widened here. Writing goes through `safetensors.numpy.save_file`,
into a temporary file made durable and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vfunc.errors import VfuncError

__all__ = ["FormatError", "Header", "TensorInfo", "iter_arrays", "read_header", "write_file"]

MAX_HEADER_BYTES = 100_000_000
"""A header claiming more is rejected before anything is read (safetensors' own limit)."""

# Storage dtype of each safetensors dtype vfunc can load. BF16 is read as its raw 16 bits and
# widened to float32 by `_widen`; F16 is widened too (see `load_dtype`).
_STORAGE = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"), "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"), "C64": np.dtype("<c8"),
}  # fmt: skip
# Known to the format but not loadable as numbers vfunc holds (8-, 6- and 4-bit floats).
_UNSUPPORTED = frozenset(
    ["F8_E4M3", "F8_E4M3FN", "F8_E4M3FNUZ", "F8_E5M2", "F8_E5M2FNUZ", "F8_E8M0", "F8_E8M0FNU",
     "F6_E2M3", "F6_E3M2", "F4", "F4_E2M1FN_X2"]
)  # fmt: skip
_HEADER_FIELDS = frozenset(["dtype", "shape", "data_offsets"])


class FormatError(VfuncError, ValueError):
    """A file is not a valid safetensors file; the message names the file and the fault.

    A `ValueError`, so `except ValueError` catches it. Nothing is loaded when it is raised.
    """


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in a validated header; offsets are absolute positions in the file."""

    name: str
    dtype: str  # the safetensors code, e.g. "F32"
    shape: tuple[int, ...]
    start: int
    stop: int

    @property
    def load_dtype(self) -> np.dtype:
        """The dtype the tensor loads as: its own, except F16/BF16 -> float32."""
        return load_dtype(self.dtype)


@dataclass(frozen=True)
class Header:
    """A validated header: tensors in file order, the metadata, and the file size it fits."""

    path: str
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int


def load_dtype(code: str) -> np.dtype:
    """The numpy dtype a safetensors dtype code loads as (F16 and BF16 widen to float32)."""
    if code in ("F16", "BF16"):
        return np.dtype(np.float32)
    return _STORAGE[code].newbyteorder("=")


def save_dtype_code(dtype: np.dtype) -> str | None:
    """The safetensors code that stores `dtype` exactly, or None if there is none."""
    for code, storage in _STORAGE.items():
        if code != "BF16" and storage.newbyteorder("=") == dtype.newbyteorder("="):
            return code
    return None


def _fault(path: str, message: str) -> FormatError:
    return FormatError(f"{path}: not a valid safetensors file: {message}")


def read_header(path: str | os.PathLike) -> Header:
    """Read and validate the header of a safetensors file, without reading any tensor.

    Raises:
        FormatError: the file is truncated, its header length runs past the end or over
            `MAX_HEADER_BYTES`, the header is not UTF-8 JSON of the documented shape (or repeats
            a key), a dtype is unknown or unsupported, a shape disagrees with its byte size, or
            the tensors' byte ranges overlap, leave gaps or run outside the file.
        OSError: the file cannot be opened or read.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return _parse_header(path, f, size)


def _parse_header(path: str, f: Any, size: int) -> Header:
    if size < 8:
        raise _fault(path, f"truncated: {size} bytes, but the 8-byte header length comes first")
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise _fault(path, f"header length claims {n} bytes, over the {MAX_HEADER_BYTES} limit")
    if n > size - 8:
        raise _fault(path, f"header length {n} runs past the end of the file ({size} bytes)")
    raw = f.read(n)
    if len(raw) != n:  # the file shrank since fstat
        raise _fault(path, f"truncated while reading the {n}-byte header")
    try:
        parsed = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as err:
        raise _fault(path, f"the header repeats the key {err.args[0]!r}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _fault(path, f"the header is not valid UTF-8 JSON ({err})") from None
    if not isinstance(parsed, dict):
        raise _fault(path, f"the header is JSON {type(parsed).__name__}, not an object")
    metadata = parsed.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) for v in metadata.values()
    ):
        raise _fault(path, f"__metadata__ must map strings to strings, got {metadata!r:.200}")
    data_start = 8 + n
    tensors = {
        name: _tensor_info(path, name, entry, data_start) for name, entry in parsed.items()
    }
    _check_tiling(path, tensors, data_start, size)
    return Header(path, dict(sorted(tensors.items(), key=lambda kv: kv[1].start)), metadata, size)


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _is_int(x: Any) -> bool:
    return type(x) is int  # bool is an int subclass but never a size


def _tensor_info(path: str, name: str, entry: Any, data_start: int) -> TensorInfo:
    where = f"tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != _HEADER_FIELDS:
        raise _fault(
            path, f"{where}: expected an object with keys {sorted(_HEADER_FIELDS)}, "
            f"got {entry!r:.200}"
        )  # fmt: skip
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code in _UNSUPPORTED:
        raise _fault(path, f"{where}: dtype {code} is a safetensors dtype vfunc cannot load")
    if code not in _STORAGE:
        raise _fault(path, f"{where}: unknown dtype {code!r:.50}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fault(
            path, f"{where}: shape must be a list of non-negative ints, got {shape!r:.200}"
        )  # fmt: skip
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):  # fmt: skip
        raise _fault(
            path, f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
            f"got {offsets!r:.200}"
        )  # fmt: skip
    itemsize = _STORAGE[code].itemsize
    # numpy refuses more than 64 axes, or extents whose product (zeros aside) overflows bytes.
    if len(shape) > 64 or math.prod(max(d, 1) for d in shape) * itemsize >= 2**63:
        raise _fault(path, f"{where}: shape {shape!r:.200} is larger than any array can be")
    nbytes = math.prod(shape) * itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise _fault(
            path, f"{where}: shape {shape} of {code} needs {nbytes} bytes but data_offsets "
            f"{offsets} span {offsets[1] - offsets[0]}"
        )  # fmt: skip
    return TensorInfo(name, code, tuple(shape), data_start + offsets[0], data_start + offsets[1])


def _check_tiling(path: str, tensors: dict[str, TensorInfo], data_start: int, size: int) -> None:
    """The byte ranges must tile [data_start, size) exactly, as the format requires."""
    position, previous = data_start, None
    for info in sorted(tensors.values(), key=lambda t: (t.start, t.stop)):
        if info.start < position:
            raise _fault(
                path, f"tensors {previous!r} and {info.name!r} overlap (data_offsets "
                f"[{info.start - data_start}, {info.stop - data_start}] start before "
                f"{position - data_start})"
            )  # fmt: skip
        if info.start > position:
            raise _fault(
                path, f"bytes [{position - data_start}, {info.start - data_start}) of the data "
                "belong to no tensor"
            )  # fmt: skip
        if info.stop > size:
            raise _fault(
                path, f"tensor {info.name!r} runs past the end of the file (data_offsets end "
                f"at byte {info.stop} of the file, which has {size}): truncated?"
            )  # fmt: skip
        position, previous = info.stop, info.name
    if position != size:
        raise _fault(path, f"{size - position} bytes follow the last tensor")


def iter_arrays(header: Header, names: Iterable[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Read the named tensors of a validated header, one at a time, into fresh numpy arrays.

    F16 and BF16 are widened to float32; every other dtype comes as stored (native byte order).
    Only the named tensors' bytes are read, straight into the arrays returned (no extra copy
    except the 16-bit buffer of a widened tensor).

    Raises:
        FormatError: the file changed size since the header was read, or ended early.
    """
    with open(header.path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size != header.file_size:
            raise _fault(header.path, f"changed size while loading ({header.file_size} -> {size})")
        for name in names:
            info = header.tensors[name]
            storage = np.empty(info.shape, _STORAGE[info.dtype])
            if storage.size:
                f.seek(info.start)
                got = f.readinto(storage.reshape(-1).view(np.uint8))
                if got != info.stop - info.start:
                    raise _fault(header.path, f"tensor {name!r}: the file ended early (truncated?)")
            yield name, _widen(storage, info.dtype)


def _widen(storage: np.ndarray, code: str) -> np.ndarray:
    if code == "BF16":
        # bfloat16 is the top half of a float32: shift its bits into place.
        return (storage.astype(np.uint32) << 16).view(np.float32)
    if code == "F16":
        return storage.astype(np.float32)
    if not storage.dtype.isnative:  # big-endian hosts only
        return storage.astype(storage.dtype.newbyteorder("="))
    return storage


class MappedFile:
    """A validated safetensors file, memory-mapped: tensors are read when first touched."""

    def __init__(self, path: str | os.PathLike):
        path = os.fspath(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.header = _parse_header(path, f, size)
            # An empty data section cannot be mapped (mmap of 0 bytes fails), nor is it needed.
            has_data = any(t.stop > t.start for t in self.header.tensors.values())
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if has_data else None

    def array(self, name: str) -> np.ndarray:
        """The tensor as a read-only numpy view of the mapping (a widened copy for F16/BF16)."""
        info = self.header.tensors[name]
        storage_dtype = _STORAGE[info.dtype]
        if self._map is None or info.stop == info.start:
            storage = np.empty(info.shape, storage_dtype)
        else:
            count = (info.stop - info.start) // storage_dtype.itemsize
            storage = np.frombuffer(self._map, storage_dtype, count, info.start)
            storage = storage.reshape(info.shape)
        return _widen(storage, info.dtype)

    def close(self) -> None:
        """Unmap the file, unless arrays still view it (they keep the mapping alive)."""
        if self._map is not None:
            with contextlib.suppress(BufferError):
                self._map.close()


# --------------------------------------------------------------------------------------------
# Writing


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError(
            "vfunc.io needs the 'safetensors' package to write files: pip install vfunc[io] "
            "(or pip install safetensors)"
        ) from err
    return safetensors.numpy


def write_file(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None
) -> None:
    """Write `arrays` as a safetensors file at `path`, atomically and durably.

    safetensors writes the file into a private temporary folder beside `path` (its own
    temporary file included); it is fsynced there and renamed over `path` (`os.replace`,
    atomic on POSIX and Windows), then the folder of `path` is fsynced so the rename survives
    a power cut. A reader sees the old file or the new one, never a mix; a crash leaves at most
    the `.<name>.tmp-<pid>-<hex>` folder, which `save_checkpoint` removes once `<pid>` is gone.
    The file gets the permissions of any new file (safetensors' own are owner-only).

    `arrays` must be C-contiguous numpy arrays of dtypes with a safetensors code.
    """
    st = _safetensors_numpy()
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    scratch = os.path.join(folder, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(scratch)  # mode 0o777 less the umask: tells the mode a new file should get
    try:
        tmp = os.path.join(scratch, base)
        st.save_file(dict(arrays), tmp, metadata=dict(metadata) if metadata else None)
        os.chmod(tmp, os.stat(scratch).st_mode & 0o666)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    fsync_dir(folder)


def fsync_dir(folder: str) -> None:
    """Make renames and deletions in `folder` durable (a no-op where folders cannot be opened)."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_dir(folder: str) -> Iterator[str]:
    """File names in `folder` (none if it does not exist)."""
    try:
        yield from os.listdir(folder)
    except FileNotFoundError:
        return
