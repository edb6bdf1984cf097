"""Containers and shape layers: ``Sequential``, ``Lambda``, ``Identity``, ``Flatten``,
``Unflatten``, with PyTorch's names and arguments."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.initializers import random_module
from vfunc.nn.module import Module, static_field, takes_key

__all__ = [
    "Flatten", "Identity", "Lambda", "ModuleDict", "ModuleList", "Sequential", "Unflatten",
    "split_key",
]  # fmt: skip


def split_key(key: Any, n: int) -> list[Any]:
    """``n`` independent keys from ``key`` (``None`` gives ``n`` Nones)."""
    if key is None:
        return [None] * n
    return list(random_module().split(key, n))


class Sequential(Module):
    """Layers (modules or plain functions) applied in order, as ``torch.nn.Sequential``.

    ``model[i]`` is the i-th layer (a slice gives a Sequential); state-dict keys are
    ``'0.weight'``, ``'1.bias'``, as PyTorch's. ``key=`` is split among the layers that take one
    (Dropout, nested containers), so ``model(x, key=k)`` trains with dropout in one call.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Sequential(nn.ReLU(), lambda x: x * 2)(vnp.array([-1.0, 3.0]))  # function: a Lambda
        Array([0., 6.], dtype=float32)
    """

    layers: tuple
    _vf_transparent = ("layers",)

    def __init__(self, *layers: Any):
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not callable")
        # A plain function becomes a Lambda, so that it is static rather than a pytree leaf.
        self.layers = tuple(x if isinstance(x, Module) else Lambda(x) for x in layers)

    def __call__(self, x: Any, *, key: Any = None) -> Any:
        wants = [takes_key(layer) for layer in self.layers]
        keys = iter(split_key(key, sum(wants)))
        for layer, want in zip(self.layers, wants, strict=True):
            x = layer(x, key=next(keys)) if want else layer(x)
        return x

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Any:
        return iter(self.layers)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = ["Sequential("]
        for i, layer in enumerate(self.layers):
            lines.append(f"  ({i}): " + repr(layer).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)" if self.layers else "Sequential()"


class ModuleList(Module):
    """A list of modules with PyTorch's state-dict keys (``'layers.0.weight'`` when held in a
    field ``layers``), as ``torch.nn.ModuleList``; indexing, slicing, ``len`` and iteration.
    Modules are immutable, so there is no ``append``: build the list first (a plain Python list
    of modules in a field works as well and gives the same keys).

    Example:
        >>> from vfunc import nn
        >>> blocks = nn.ModuleList([nn.Linear(2, 2, init=False) for _ in range(2)])
        >>> list(nn.state_dict(blocks)), len(blocks[1:])
        (['0.weight', '0.bias', '1.weight', '1.bias'], 1)
    """

    layers: tuple
    _vf_transparent = ("layers",)

    def __init__(self, modules: Any = None):
        layers = tuple(modules or ())
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                raise TypeError(f"ModuleList: item {i} is a {type(m).__name__}, not a Module")
        self.layers = layers

    def __getitem__(self, i: int | slice) -> Any:
        return ModuleList(self.layers[i]) if isinstance(i, slice) else self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Any:
        return iter(self.layers)

    def extra_repr(self) -> str:
        return ""


class ModuleDict(Module):
    """Named modules with PyTorch's state-dict keys (``'heads.cls.weight'``), as
    ``torch.nn.ModuleDict``: ``d[name]``, ``in``, ``len``, iteration over names, ``keys()``,
    ``values()``, ``items()``; immutable, as every module.

    Example:
        >>> from vfunc import nn
        >>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3, init=False), "act": nn.ReLU()})
        >>> list(nn.state_dict(heads)), "act" in heads
        (['cls.weight', 'cls.bias'], True)
    """

    entries: dict
    _vf_transparent = ("entries",)

    def __init__(self, modules: Any = None):
        entries = dict(modules or {})
        for k, m in entries.items():
            if not isinstance(k, str) or not isinstance(m, Module):
                raise TypeError(
                    f"ModuleDict: entry {k!r} must map a str to a Module, got "
                    f"{type(k).__name__} -> {type(m).__name__}"
                )
        self.entries = entries

    def __getitem__(self, name: str) -> Any:
        return self.entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Any:
        return iter(self.entries)

    def keys(self) -> Any:
        return self.entries.keys()

    def values(self) -> Any:
        return self.entries.values()

    def items(self) -> Any:
        return self.entries.items()

    def extra_repr(self) -> str:
        return ""


class Lambda(Module):
    """A plain function as a layer (static: it holds no parameters).

    Example:
        >>> from vfunc import nn
        >>> nn.Lambda(abs)(-2.0)
        2.0
    """

    fn: Callable = static_field()

    def __call__(self, x: Any, *, key: Any = None) -> Any:
        if key is not None and takes_key(self.fn):
            return self.fn(x, key=key)
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


class Identity(Module):
    """Returns its input; constructor arguments are accepted and ignored, as PyTorch's.

    Example:
        >>> from vfunc import nn
        >>> nn.Identity(54, unused="x")(3.0)
        3.0
    """

    def __init__(self, *args: Any, **kwargs: Any):
        del args, kwargs

    def __call__(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Flattens axes ``start_dim..end_dim`` into one, as ``torch.nn.Flatten`` (default: all but
    the batch axis).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Flatten()(vnp.zeros((2, 3, 4))).shape
        (2, 12)
    """

    start_dim: int = static_field(default=1)
    end_dim: int = static_field(default=-1)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        nd = max(x.ndim, 1)
        start, end = self.start_dim % nd, self.end_dim % nd
        if x.ndim == 0:
            return vnp.reshape(x, (1,))
        if start > end:
            raise ShapeError(
                f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} for "
                f"input {x.shape}"
            )
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        return vnp.reshape(x, shape)


class Unflatten(Module):
    """Splits axis ``dim`` into ``unflattened_size``, as ``torch.nn.Unflatten``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.Unflatten(1, (2, 3))(vnp.zeros((4, 6))).shape
        (4, 2, 3)
    """

    dim: int = static_field()
    unflattened_size: tuple = static_field()

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def __call__(self, x: Array) -> Array:
        x = vnp.asarray(x)
        d = self.dim % x.ndim
        sizes = list(self.unflattened_size)
        if sizes.count(-1) == 1:
            known = math.prod(s for s in sizes if s != -1)
            sizes[sizes.index(-1)] = x.shape[d] // max(known, 1)
        if math.prod(sizes) != x.shape[d]:
            raise ShapeError(
                f"Unflatten: axis {self.dim} of input {x.shape} has size {x.shape[d]}, which "
                f"cannot be split into {self.unflattened_size}"
            )
        return vnp.reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])
