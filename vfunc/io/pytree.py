"""Saving and loading pytrees of arrays as safetensors files."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.core import Array
from vfunc.io import format as fmt
from vfunc.io.keys import (
    Entry,
    Reader,
    as_saveable,
    fill,
    finish,
    flatten_keys,
    materialise,
    nest,
    select,
    want_of,
)

PathLike = str | os.PathLike


def check_metadata(metadata: Mapping[str, str] | None, op: str) -> dict[str, str]:
    """`metadata` as a plain dict, after checking it maps strings to strings."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError(
            f"{op}: metadata must map str to str (it is stored in the file's JSON header), got "
            f"{metadata!r:.200}; encode other values, e.g. with json.dumps"
        )
    return dict(metadata)


def save(path: PathLike, tree_: Any, *, metadata: Mapping[str, str] | None = None) -> None:
    """Save a pytree of arrays as a safetensors file, atomically.

    Each leaf is stored under its key path with the keys joined by "." (`layers.0.weight`,
    `opt.mu.w`: dict keys, sequence indices, NamedTuple fields and dataclass attributes).
    Leaves may be vfunc Arrays, numpy arrays or Python numbers (stored as 0-d arrays of 64
    bits); `None` is an empty subtree, as everywhere in vfunc. Arrays are written from their
    own buffers, copied only if they are strided views.

    The file appears complete or not at all: it is written to a temporary file beside `path`,
    fsynced, and renamed over `path`, and the folder is fsynced.

    Args:
        path: the file to write (conventionally `*.safetensors`).
        tree_: the pytree.
        metadata: strings stored in the header's `__metadata__` (see `read_metadata`).

    Raises:
        TypeError: a leaf is not an array or number, is traced, or has a dtype safetensors
            lacks (complex128); `metadata` is not str -> str.
        ValueError: two leaves get the same key, or the tree is a single leaf.
        ImportError: the `safetensors` package is missing (`pip install vfunc[io]`).

    Example:
        >>> import os, tempfile, vfunc.numpy as vnp
        >>> from vfunc import io
        >>> path = os.path.join(tempfile.mkdtemp(), 'params.safetensors')
        >>> io.save(path, {'dense': [vnp.ones((2, 3)), vnp.zeros(3)]}, metadata={'epoch': '3'})
        >>> io.load(path)
        {'dense': {'0': Array([[1., 1., 1.],
               [1., 1., 1.]], dtype=float32), '1': Array([0., 0., 0.], dtype=float32)}}
        >>> io.read_metadata(path)
        {'epoch': '3'}
    """
    flat, _, _ = flatten_keys(tree_, "save")
    arrays = {key: as_saveable(key, leaf, "save") for key, leaf in flat.items()}
    fmt.write_file(path, arrays, check_metadata(metadata, "save"))


def header_entries(header: fmt.Header) -> dict[str, Entry]:
    """One identity `Entry` per tensor of a validated header."""
    return {
        name: Entry(name, info.shape, info.load_dtype, info.dtype)
        for name, info in header.tensors.items()
    }


def file_reader(header: fmt.Header) -> Reader:
    """A `Reader` of the tensors of `header`'s file."""

    def read(names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
        return fmt.iter_arrays(header, names)

    return read


def load(
    path: PathLike,
    like: Any = None,
    *,
    keys: Sequence[str] | None = None,
    flat: bool = False,
) -> Any:
    """Load a safetensors file as a pytree.

    Without `like`, the result is nested dicts split at the dots of the keys (`{'layers': {'0':
    {'weight': ...}}}`), or one flat dict with `flat=True`. With `like` (a pytree of arrays,
    ShapeDtypeStructs or numbers, e.g. a freshly initialised model), the result has exactly its
    structure, shapes and dtypes, or nothing is loaded and one `ValueError` lists every
    mismatch (missing, unexpected, wrong shape or dtype).

    Dtypes: bfloat16 and float16 tensors load as float32 (numpy has no bfloat16; a float16
    leaf in `like` loads float16 exactly). Integer and bool tensors keep their dtypes; 64-bit
    ones narrow to 32 bits unless x64 is enabled, as everywhere in vfunc (an integer that does
    not fit raises `ValueError`). A Python number in `like` loads as that type.

    Only the tensors needed are read, each straight into its result's buffer: no extra copy.
    For lazy access to a few tensors of a big file, see `open_file`.

    Args:
        path: the file.
        like: optional template pytree.
        keys: optional selection: tensor names, or prefixes at a dot (`'layers.0'` selects
            `layers.0.weight` and `layers.0.bias`); only those are read. With `like`, the
            other leaves of `like` are returned as they are.
        flat: without `like`, return `{key: Array}` instead of nested dicts.

    Returns:
        The pytree of vfunc Arrays.

    Raises:
        FormatError (a ValueError): the file is not valid safetensors; the message names it
            and the fault.
        ValueError: the file does not fit `like`, or keys cannot nest (`a` and `a.b`).
        KeyError: a key of `keys` selects nothing.
        OSError: the file cannot be read.

    Example:
        >>> import os, tempfile, vfunc.numpy as vnp
        >>> from vfunc import io
        >>> path = os.path.join(tempfile.mkdtemp(), 'p.safetensors')
        >>> io.save(path, {'w': vnp.ones((2, 2)), 'b': vnp.zeros(2)})
        >>> io.load(path, like={'w': vnp.zeros((2, 2)), 'b': vnp.zeros(3)})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: load(...p.safetensors): the file does not fit like (1 problem):
          - 'b': float32[2] in the file, like wants float32[3]
    """
    where = f"load({os.fspath(path)})"
    header = fmt.read_header(path)
    entries = header_entries(header)
    if keys is not None:
        entries = {k: entries[k] for k in select(entries, keys, where)}
    if like is None:
        values = materialise(entries, list(entries), file_reader(header), None, where)
        return values if flat else nest(values, where)
    leaves, treedef, order = flatten_keys(like, "load")
    wants = {k: want_of(k, leaf, "load") for k, leaf in leaves.items()}
    if keys is not None:
        wants = {k: wants[k] for k in select(wants, keys, f"{where}: like")}
    values, _, _ = fill(entries, wants, file_reader(header), strict=True, where=where)
    return tree.unflatten(treedef, [values.get(k, leaves[k]) for k in order])


def read_metadata(path: PathLike) -> dict[str, str]:
    """The `__metadata__` strings of a safetensors file (validated; no tensor is read).

    Raises:
        FormatError (a ValueError): the file is not valid safetensors.
    """
    return dict(fmt.read_header(path).metadata)


class SafetensorsFile:
    """A safetensors file opened for lazy reading: tensors come from a memory map on access.

    Opening validates the whole header (a `FormatError` otherwise) but reads no tensor data;
    `f[key]` returns a vfunc Array that views the mapped file, so only the pages it touches
    are ever read (F16/BF16 tensors, widened to float32, and 64-bit ones narrowed without x64
    are copies). Arrays handed out stay valid after `close()`: they keep the mapping alive.
    The file must not be truncated in place while mapped (vfunc's own writers never do: they
    replace files by renaming).

    Example:
        >>> import os, tempfile, vfunc.numpy as vnp
        >>> from vfunc import io
        >>> path = os.path.join(tempfile.mkdtemp(), 'm.safetensors')
        >>> io.save(path, {'a': vnp.arange(3), 'b': vnp.ones(2)})
        >>> with io.open_file(path) as f:
        ...     print(f.keys(), f.shape('a'), f['a'])
        ['a', 'b'] (3,) [0 1 2]
    """

    def __init__(self, path: PathLike):
        self._file = fmt.MappedFile(path)
        self.path = os.fspath(path)

    @property
    def metadata(self) -> dict[str, str]:
        """The header's `__metadata__` strings."""
        return dict(self._file.header.metadata)

    def keys(self) -> list[str]:
        """Tensor names, sorted."""
        return sorted(self._file.header.tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        """The stored shape of tensor `key`."""
        return self._info(key).shape

    def dtype(self, key: str) -> np.dtype:
        """The dtype tensor `key` loads as (F16/BF16: float32)."""
        return self._info(key).load_dtype

    def _info(self, key: str) -> fmt.TensorInfo:
        try:
            return self._file.header.tensors[key]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {key!r}") from None

    def __getitem__(self, key: str) -> Array:
        self._info(key)
        return finish(self._file.array(key), None, key, self.path)

    def __contains__(self, key: object) -> bool:
        return key in self._file.header.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._file.header.tensors)

    def close(self) -> None:
        """Release the mapping (arrays still viewing it keep it alive until they go)."""
        self._file.close()

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_file(path: PathLike) -> SafetensorsFile:
    """Open a safetensors file for lazy, memory-mapped access to selected tensors.

    Raises:
        FormatError (a ValueError): the file is not valid safetensors.
    """
    return SafetensorsFile(path)
