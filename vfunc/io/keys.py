"""Pytrees as flat `key -> array` dicts, and filling a template from a source of tensors.

Shared by `load` (a file into a pytree), `load_state_dict` (a mapped file into a model) and
`save_state_dict` (a mapped model into a file). A source tensor is described by an `Entry`
before any byte is read, so key mapping, every check against the template, and the one error
listing all mismatches happen on headers alone; only then are the tensors read.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vfunc import dtypes, tree
from vfunc.core import Array, ArrayImpl, wrap_numpy
from vfunc.io.format import save_dtype_code

Reader = Callable[[list[str]], Iterator[tuple[str, np.ndarray]]]


@dataclass(frozen=True)
class Entry:
    """A tensor to come: where it is read from, what it will be, and how it gets there.

    `ops` are applied in order to the array read from `source`; `shape` and `dtype` describe
    their result. `code` is the file's dtype code while no cast has changed it (it lets an F16
    tensor fill a float16 leaf although F16 loads as float32 by default).
    """

    source: str
    shape: tuple[int, ...]
    dtype: np.dtype
    code: str | None = None
    ops: tuple[Callable[[np.ndarray], np.ndarray], ...] = ()
    actions: tuple[str, ...] = ()

    def then(self, op: Callable[[np.ndarray], np.ndarray], action: str, **changes: Any) -> Entry:
        """This entry with one more op; `changes` update shape/dtype/code to its result."""
        fields = dict(self.__dict__, ops=self.ops + (op,), actions=self.actions + (action,))
        fields.update(changes)
        return Entry(**fields)

    def noted(self, action: str) -> Entry:
        """This entry with `action` recorded (a rename: no op)."""
        return Entry(**dict(self.__dict__, actions=self.actions + (action,)))


def key_of(path: Iterable[Any]) -> str:
    """The file key of a pytree key path: its bare keys joined with "." (`layers.0.weight`)."""
    return tree.keystr(path, simple=True, separator=".")


def flatten_keys(
    value: Any, op: str
) -> tuple[dict[str, Any], tree.PyTreeDef, list[str]]:
    """The leaves of a pytree by file key, its treedef, and the keys in leaf order.

    Raises:
        ValueError: two leaves get the same key (`{'a.b': x, 'a': {'b': y}}`), or the tree is a
            single leaf (it has no key: wrap it, `{'x': value}`).
    """
    pairs, treedef = tree.flatten_with_path(value)
    keys = [key_of(path) for path, _ in pairs]
    if keys == [""]:
        raise ValueError(
            f"{op}: the tree is a single leaf, which has no key to store it under; wrap it in "
            "a dict, e.g. {'x': value}"
        )
    out: dict[str, Any] = {}
    for key, (path, leaf) in zip(keys, pairs, strict=True):
        if key in out:
            clashing = [tree.keystr(p) for k, (p, _) in zip(keys, pairs, strict=True) if k == key]
            raise ValueError(
                f"{op}: the leaves at {' and '.join(clashing)} would both be stored under the "
                f"key {key!r}; rename one of them"
            )
        out[key] = leaf
    return out, treedef, keys


def nest(flat: Mapping[str, Any], op: str) -> dict[str, Any]:
    """`{'a.b': x, 'a.c': y}` -> `{'a': {'b': x, 'c': y}}`.

    Raises:
        ValueError: a key is both a leaf and the prefix of another (`a` and `a.b`).
    """
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for depth, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(
                    f"{op}: key {'.'.join(parents[: depth + 1])!r} is a tensor and also the "
                    f"prefix of {key!r}, so they cannot nest; pass like= or flat=True"
                )
            node = child
        if last in node:
            raise ValueError(
                f"{op}: key {key!r} is a tensor and also the prefix of other keys, so they "
                "cannot nest; pass like= or flat=True"
            )
        node[last] = value
    return out


def select(names: Iterable[str], keys: Iterable[str], where: str) -> list[str]:
    """The names equal to a key of `keys`, or below one of them (`layers.0` -> `layers.0.w`).

    Raises:
        KeyError: a key selects nothing.
    """
    names = list(names)
    chosen: dict[str, None] = {}
    for key in keys:
        hits = [n for n in names if n == key or n.startswith(key + ".")]
        if not hits:
            raise KeyError(f"{where}: no tensor is named {key!r} or starts with {key + '.'!r}")
        chosen.update(dict.fromkeys(hits))
    return list(chosen)


# --------------------------------------------------------------------------------------------
# Leaves


def as_saveable(key: str, leaf: Any, op: str) -> np.ndarray:
    """A leaf as a C-contiguous numpy array with a safetensors dtype (no copy if it is one).

    Raises:
        TypeError: the leaf is a traced value, not numeric, or of a dtype safetensors lacks.
    """
    if isinstance(leaf, Array) and not isinstance(leaf, ArrayImpl):
        raise TypeError(
            f"{op}: {key!r} is a traced value (inside jit/grad/vmap); save concrete arrays, "
            "outside the transformation"
        )
    if not isinstance(leaf, Array | np.ndarray | np.generic | numbers.Number):
        raise TypeError(
            f"{op}: {key!r} is a {type(leaf).__name__}; only arrays and numbers can be saved "
            "(keep other values in metadata)"
        )
    array = np.asarray(leaf)  # a view of an Array's buffer
    if not array.flags.c_contiguous:  # (not np.ascontiguousarray alone: it makes 0-d 1-d)
        array = np.ascontiguousarray(array)
    if save_dtype_code(array.dtype) is None:
        hint = " (cast to complex64)" if array.dtype.kind == "c" else ""
        raise TypeError(f"{op}: {key!r} has dtype {array.dtype}, which safetensors lacks{hint}")
    return array


@dataclass(frozen=True)
class Want:
    """What a template leaf asks for: a shape and a dtype, or a Python scalar type."""

    shape: tuple[int, ...]
    dtype: np.dtype
    scalar: type | None = None

    def describe(self) -> str:
        if self.scalar is not None:
            return f"a Python {self.scalar.__name__}"
        return f"{self.dtype.name}{list(self.shape)}"


def want_of(key: str, leaf: Any, op: str) -> Want:
    """The `Want` of a template leaf (an Array, numpy array, ShapeDtypeStruct or number)."""
    if isinstance(leaf, bool | int | float | complex):
        return Want((), np.asarray(leaf).dtype, type(leaf))
    shape, dtype = getattr(leaf, "shape", None), getattr(leaf, "dtype", None)
    if shape is None or dtype is None:
        raise TypeError(
            f"{op}: the template leaf {key!r} is a {type(leaf).__name__}; give arrays, "
            "ShapeDtypeStructs or numbers"
        )
    return Want(tuple(shape), dtypes.canonicalize(dtype))


_SCALAR_KINDS = {bool: "b", int: "biu", float: "biuf", complex: "biufc"}


def fits(entry: Entry, want: Want) -> bool:
    """Whether `entry` can fill `want` without losing information vfunc would keep."""
    if entry.shape != want.shape:
        return False
    if want.scalar is not None:
        return entry.dtype.kind in _SCALAR_KINDS[want.scalar]
    return dtypes.canonicalize(entry.dtype) == want.dtype or (
        entry.code == "F16" and want.dtype == np.float16
    )


def describe(entry: Entry) -> str:
    """`float64[3, 4]`-style text for messages; `BF16 as float32[3]` for widened tensors."""
    widened = entry.code in ("F16", "BF16") and entry.dtype == np.float32
    return f"{entry.code + ' as ' if widened else ''}{entry.dtype.name}{list(entry.shape)}"


def finish(array: np.ndarray, want: Want | None, key: str, where: str) -> Any:
    """The loaded array as `want` asks (a vfunc Array, or a Python scalar), canonical dtype.

    Raises:
        ValueError: 64-bit integers that do not fit the 32 bits they narrow to (x64 disabled).
    """
    if want is not None and want.scalar is not None:
        return want.scalar(array.item())
    target = want.dtype if want is not None else dtypes.canonicalize(array.dtype)
    if array.dtype != target:
        if array.dtype.kind in "iu" and array.size:
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise ValueError(
                    f"{where}: {key!r} holds {array.dtype} values in [{low}, {high}], outside "
                    f"{target}; enable x64 (vfunc.config.update('enable_x64', True)) to keep them"
                )
        array = array.astype(target)
    return wrap_numpy(array)


def fill(
    entries: Mapping[str, Entry],
    wants: Mapping[str, Want],
    read: Reader,
    *,
    strict: bool,
    where: str,
    template: str = "like",
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Check `entries` against `wants`, then read and convert the tensors that fill them.

    Returns:
        `(values, missing, unexpected)`: the loaded values by key (a vfunc Array, or a Python
        scalar where the template holds one), the wanted keys no entry provides, and the entry
        keys nothing wants.

    Raises:
        ValueError: one error listing every problem: shape and dtype mismatches, and (when
            `strict`) missing and unexpected keys.
    """
    missing = [k for k in wants if k not in entries]
    unexpected = [k for k in entries if k not in wants]
    problems = [
        f"{key!r}: {describe(entries[key])} in the file, {template} wants {want.describe()}"
        for key, want in wants.items()
        if key in entries and not fits(entries[key], want)
    ]
    if strict and missing:
        problems.append(f"missing from the file: {missing}")
    if strict and unexpected:
        problems.append(f"in the file but not in {template}: {unexpected}")
    if problems:
        raise ValueError(
            f"{where}: the file does not fit {template} ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n  - " + "\n  - ".join(problems)
        )
    targets = [k for k in wants if k in entries]
    return materialise(entries, targets, read, wants, where), missing, unexpected


def materialise(
    entries: Mapping[str, Entry],
    targets: list[str],
    read: Reader,
    wants: Mapping[str, Want] | None,
    where: str,
) -> dict[str, Any]:
    """Read each needed source once, apply the ops of every target made from it, convert."""
    by_source: dict[str, list[str]] = {}
    for key in targets:
        by_source.setdefault(entries[key].source, []).append(key)
    values: dict[str, Any] = {}
    for source, array in read(list(by_source)):
        for key in by_source[source]:
            out = array
            for op in entries[key].ops:
                out = op(out)
            values[key] = finish(out, wants.get(key) if wants else None, key, where)
    return {key: values[key] for key in targets}
