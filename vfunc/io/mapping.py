"""PyTorch-compatible state-dict files, and a declarative mapping between key layouts.

A state dict is a flat `key -> array` dict under PyTorch's names (`features.0.weight`). Files
written by `safetensors.torch.save_file(model.state_dict(), path)` load here unchanged, and the
files written here load into PyTorch with `model.load_state_dict(safetensors.torch.load_file(
path))`. When the two layouts differ, `map=` lists rules, applied in order to every key of the
source, that rename keys and transform tensors; nothing is read from the file until the mapped
keys, shapes and dtypes have all been checked against the model, and the `MappingReport` says
what each rule did.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vfunc import tree
from vfunc.io import format as fmt
from vfunc.io.keys import Entry, as_saveable, fill, flatten_keys, want_of
from vfunc.io.pytree import PathLike, check_metadata, file_reader, header_entries

__all__ = [
    "Cast", "Drop", "MappingReport", "Rename", "Reshape", "Rule", "Split", "StripPrefix",
    "Transpose", "apply_rules", "load_state_dict", "save_state_dict",
]  # fmt: skip


class Rule:
    """A mapping rule: it matches keys by `pattern` (a regex, `re.search`) and rewrites them.

    `apply(key, entry)` returns the `(key, entry)` pairs that replace a matching key (none to
    drop it), or None when the rule does not match.
    """

    pattern: str

    def matches(self, key: str) -> re.Match[str] | None:
        return re.search(self.pattern, key)

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Rename(Rule):
    """Rename matching keys by `re.sub(pattern, repl, key)` (`repl` may use `\\1` groups).

    Example: `Rename(r"\\.gamma$", ".weight")` turns `bn.gamma` into `bn.weight`.
    """

    pattern: str
    repl: str

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not self.matches(key):
            return None
        return [(re.sub(self.pattern, self.repl, key), entry)]


@dataclass(frozen=True)
class StripPrefix(Rule):
    """Remove a literal prefix where a key has it (`'module.'` from DataParallel, `'model.'`)."""

    prefix: str

    @property
    def pattern(self) -> str:  # type: ignore[override]
        return "^" + re.escape(self.prefix)

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not key.startswith(self.prefix):
            return None
        return [(key[len(self.prefix) :], entry)]


@dataclass(frozen=True)
class Drop(Rule):
    """Leave out matching keys (`Drop(r"num_batches_tracked$")`)."""

    pattern: str

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        return [] if self.matches(key) else None


def _shape_error(rule: Rule, key: str, entry: Entry, why: str) -> ValueError:
    return ValueError(f"{rule!r} on {key!r} (shape {entry.shape}): {why}")


@dataclass(frozen=True)
class Transpose(Rule):
    """Permute the axes of matching tensors (`axes=None` reverses them: a matrix transpose).

    Loading is a view: the transpose copies nothing.
    """

    pattern: str
    axes: tuple[int, ...] | None = None

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not self.matches(key):
            return None
        axes = tuple(reversed(range(len(entry.shape)))) if self.axes is None else self.axes
        if sorted(axes) != list(range(len(entry.shape))):
            raise _shape_error(self, key, entry, f"axes must permute 0..{len(entry.shape) - 1}")
        shape = tuple(entry.shape[a] for a in axes)
        return [(key, entry.then(lambda a: a.transpose(axes), f"transpose{axes}", shape=shape))]


@dataclass(frozen=True)
class Reshape(Rule):
    """Reshape matching tensors to `shape` (one axis may be -1)."""

    pattern: str
    shape: tuple[int, ...]

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not self.matches(key):
            return None
        size, known = math.prod(entry.shape), math.prod(d for d in self.shape if d != -1)
        shape = tuple(self.shape)
        if shape.count(-1) == 1 and known and size % known == 0:
            shape = tuple(size // known if d == -1 else d for d in shape)
        if math.prod(shape) != size or any(d < 0 for d in shape):
            raise _shape_error(self, key, entry, f"cannot hold its {size} elements")
        return [(key, entry.then(lambda a: a.reshape(shape), f"reshape{shape}", shape=shape))]


@dataclass(frozen=True)
class Split(Rule):
    """Split matching tensors along `axis` into one key per template of `into`.

    Each new key is `re.sub(pattern, template, key)`, so a fused attention projection splits
    with `Split(r"qkv_proj", ("q_proj", "k_proj", "v_proj"))`: `attn.qkv_proj.weight` of shape
    (3 * d, d) becomes `attn.q_proj.weight`, `attn.k_proj.weight`, `attn.v_proj.weight` of
    shape (d, d). `sizes` gives unequal parts; by default the axis splits evenly. The parts are
    views of the fused tensor.
    """

    pattern: str
    into: tuple[str, ...]
    axis: int = 0
    sizes: tuple[int, ...] | None = None

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not self.matches(key):
            return None
        ndim = len(entry.shape)
        if not -ndim <= self.axis < ndim:
            raise _shape_error(self, key, entry, f"axis {self.axis} is out of range")
        axis = self.axis % ndim
        extent, parts = entry.shape[axis], len(self.into)
        sizes = self.sizes
        if sizes is None:
            if extent % parts:
                raise _shape_error(self, key, entry, f"axis {axis} does not split in {parts}")
            sizes = (extent // parts,) * parts
        if len(sizes) != parts or sum(sizes) != extent:
            why = f"sizes {sizes} must be {parts} summing to {extent}"
            raise _shape_error(self, key, entry, why)
        out, start = [], 0
        for i, (template, size) in enumerate(zip(self.into, sizes, strict=True)):
            index = (slice(None),) * axis + (slice(start, start + size),)
            shape = entry.shape[:axis] + (size,) + entry.shape[axis + 1 :]
            action = f"split part {i} of {parts} on axis {axis}"
            part = entry.then(lambda a, index=index: a[index], action, shape=shape)
            out.append((re.sub(self.pattern, template, key), part))
            start += size
        return out


@dataclass(frozen=True)
class Cast(Rule):
    """Convert matching tensors to `dtype` (e.g. float64 weights to float32)."""

    pattern: str
    dtype: Any

    def apply(self, key: str, entry: Entry) -> list[tuple[str, Entry]] | None:
        if not self.matches(key):
            return None
        dtype = np.dtype(self.dtype)
        action = f"cast {entry.dtype.name}->{dtype.name}"
        return [(key, entry.then(lambda a: a.astype(dtype), action, dtype=dtype, code=None))]


@dataclass
class MappingReport:
    """What a key mapping did, and how the mapped keys met the model.

    Attributes:
        sources: each resulting key -> the source key it came from (equal when untouched).
        actions: resulting key -> the renames and transforms applied to it, in order (only
            keys something happened to).
        dropped: source keys a `Drop` rule left out.
        unused_rules: rules that matched no key (often a typo in a pattern).
        missing: model keys the mapped file did not provide (kept as they were; strict=False).
        unexpected: mapped keys the model has no place for (not read; strict=False).
    """

    sources: dict[str, str] = field(default_factory=dict)
    actions: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    unused_rules: list[Rule] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.sources)} keys mapped, {len(self.actions)} changed"]
        for key, actions in self.actions.items():
            lines.append(f"  {self.sources[key]} -> {key}: {', '.join(actions)}")
        for label, items in [
            ("dropped", self.dropped),
            ("rules that matched nothing", self.unused_rules),
            ("missing (kept as they were)", self.missing),
            ("unexpected (ignored)", self.unexpected),
        ]:
            if items:
                lines.append(f"{label}: {items}")
        return "\n".join(lines)


MapSpec = Sequence[Rule] | Mapping[str, str] | None


def _rules(spec: MapSpec) -> list[Rule]:
    if spec is None:
        return []
    if isinstance(spec, Mapping):  # shorthand: {pattern: replacement} renames
        return [Rename(p, r) for p, r in spec.items()]
    rules = list(spec)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(
                f"map: {rule!r} is not a rule; give Rename, StripPrefix, Drop, Transpose, "
                "Reshape, Split or Cast objects, or a {pattern: replacement} dict of renames"
            )
    return rules


def apply_rules(
    entries: Mapping[str, Entry], spec: MapSpec
) -> tuple[dict[str, Entry], MappingReport]:
    """Apply mapping rules, in order, to every key of `entries` (nothing is read).

    Raises:
        ValueError: two keys map to the same key, or a transform does not fit a tensor's shape.
    """
    report = MappingReport()
    current = dict(entries)
    for rule in _rules(spec):
        nxt: dict[str, Entry] = {}
        used = False
        for key, entry in current.items():
            result = rule.apply(key, entry)
            if result is None:
                result = [(key, entry)]
            else:
                used = True
                if not result:
                    report.dropped.append(entry.source)
                result = [
                    (k, e.noted(f"renamed from {key!r}") if k != key and e is entry else e)
                    for k, e in result
                ]
            for new_key, new_entry in result:
                if new_key in nxt:
                    raise ValueError(
                        f"map: {rule!r} maps both {nxt[new_key].source!r} and "
                        f"{new_entry.source!r} to {new_key!r}"
                    )
                nxt[new_key] = new_entry
        if not used:
            report.unused_rules.append(rule)
        current = nxt
    report.sources = {key: entry.source for key, entry in current.items()}
    report.actions = {key: list(e.actions) for key, e in current.items() if e.actions}
    return current, report


# --------------------------------------------------------------------------------------------
# Models: a vfunc.nn Module through vfunc.nn's state-dict API, or any pytree of arrays


def _nn_module_api() -> Any:
    """vfunc.nn if it offers `Module`, `state_dict` and `load_state_dict`, else None."""
    try:
        from vfunc import nn
    except ImportError:  # pragma: no cover - nn is part of vfunc
        return None
    if all(hasattr(nn, name) for name in ("Module", "state_dict", "load_state_dict")):
        return nn
    return None


def _module_api_for(model: Any) -> Any:
    nn = _nn_module_api()
    return nn if nn is not None and isinstance(model, nn.Module) else None


def state_dict_of(model: Any, op: str) -> dict[str, Any]:
    """A model's `key -> array`: `vfunc.nn.state_dict` for Modules, key paths for pytrees."""
    nn = _module_api_for(model)
    if nn is not None:
        return dict(nn.state_dict(model))
    return flatten_keys(model, op)[0]


def save_state_dict(
    path: PathLike,
    model: Any,
    *,
    map: MapSpec = None,  # noqa: A002 - the issue's name; shadows the builtin only here
    metadata: Mapping[str, str] | None = None,
) -> MappingReport:
    """Save a model's state dict as a safetensors file PyTorch can load, atomically.

    Keys are PyTorch's (`vfunc.nn.state_dict`) for a `vfunc.nn.Module`, the "."-joined key
    paths for any other pytree (a flat `{'fc.weight': w}` dict keeps its keys). `map` rules
    rewrite keys and tensors on the way out (the mapping PyTorch's side expects). The header
    gets `{'format': 'pt'}`, which Hugging Face loaders look for, plus `metadata`.

    Args:
        path: the file to write.
        model: a vfunc.nn Module or a pytree of arrays.
        map: rules (see `Rename`, `Split`, ...) or a `{pattern: replacement}` dict of renames.
        metadata: extra header strings.

    Returns:
        The `MappingReport` of `map`.

    Raises:
        TypeError, ValueError: as `save`; ValueError also for a rule that does not fit.
    """
    op = "save_state_dict"
    arrays = {k: as_saveable(k, v, op) for k, v in state_dict_of(model, op).items()}
    entries = {k: Entry(k, a.shape, a.dtype) for k, a in arrays.items()}
    mapped, report = apply_rules(entries, map)
    out = {}
    for key, entry in mapped.items():
        value = arrays[entry.source]
        for op in entry.ops:
            value = op(value)
        out[key] = as_saveable(key, value, "save_state_dict")
    fmt.write_file(path, out, {"format": "pt", **check_metadata(metadata, "save_state_dict")})
    return report


def load_state_dict(
    model: Any,
    path: PathLike,
    strict: bool = True,
    map: MapSpec = None,  # noqa: A002
    *,
    return_report: bool = False,
) -> Any:
    """Load a safetensors state dict (PyTorch's or vfunc's) into a copy of `model`.

    The file's keys pass through the `map` rules, then must match the model's state-dict keys
    (see `save_state_dict`) with equal shapes and dtypes that convert losslessly (F16/BF16
    load into float32 parameters; 64-bit tensors narrow without x64, as `load` does). All of
    that is checked from the header first: on any mismatch nothing is read and one
    `ValueError` lists every problem. Only the tensors the model takes are read.

    Args:
        model: a vfunc.nn Module or a pytree of arrays to fill; it is not changed.
        path: the safetensors file.
        strict: every model key must come from the file and every mapped file key must go to
            the model. With strict=False, missing ones keep the model's value and unexpected
            ones are ignored (both listed in the report).
        map: rules applied to the file's keys, in order, or a `{pattern: replacement}` dict.
        return_report: also return the `MappingReport`.

    Returns:
        The new model, or `(model, report)` with `return_report=True`.

    Raises:
        FormatError (a ValueError): the file is not valid safetensors.
        ValueError: the mapped file does not fit the model.

    Example:
        >>> import os, tempfile, vfunc.numpy as vnp
        >>> from vfunc import io
        >>> path = os.path.join(tempfile.mkdtemp(), 'torch.safetensors')
        >>> io.save(path, {'module.fc.weight': vnp.ones((2, 3)), 'module.fc.bias': vnp.zeros(2)})
        >>> model = {'fc': {'weight': vnp.zeros((3, 2)), 'bias': vnp.ones(2)}}
        >>> new, report = io.load_state_dict(model, path, map=[io.StripPrefix('module.'),
        ...     io.Transpose(r'weight$')], return_report=True)
        >>> new['fc']['weight'].shape, float(new['fc']['bias'][0])
        ((3, 2), 0.0)
        >>> print(report)
        2 keys mapped, 2 changed
          module.fc.bias -> fc.bias: renamed from 'module.fc.bias'
          module.fc.weight -> fc.weight: renamed from 'module.fc.weight', transpose(1, 0)
    """
    where = f"load_state_dict({os.fspath(path)})"
    header = fmt.read_header(path)
    entries, report = apply_rules(header_entries(header), map)
    nn = _module_api_for(model)
    if nn is not None:
        current = dict(nn.state_dict(model))
    else:
        current, treedef, order = flatten_keys(model, "load_state_dict")
    wants = {k: want_of(k, v, "load_state_dict") for k, v in current.items()}
    values, report.missing, report.unexpected = fill(
        entries, wants, file_reader(header), strict=strict, where=where, template="the model"
    )
    if nn is not None:
        new = nn.load_state_dict(model, values, strict=strict)
    else:
        new = tree.unflatten(treedef, [values.get(k, current[k]) for k in order])
    return (new, report) if return_report else new
