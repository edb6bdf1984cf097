"""``vfunc.nn.Module``: models as pytrees, and the tools that work on whole models.

A model is a tree of ``Module`` instances. Every subclass is turned into a dataclass and
registered as an optree pytree node when it is defined, so ``vfunc.grad``, ``jit`` and ``vmap``
take a model as they take a dict of arrays:

- A field holding an array, a module, or a list/tuple/dict of them is a *child* (its arrays are
  the model's leaves). Any other value (ints, floats, strings, callables such as an activation,
  ``None``) is *static*: it is kept in the treedef, so ``jit`` specialises on it and ``grad``
  never sees it. ``static_field()`` forces a field to be static whatever it holds.
- Instances are frozen: attributes can be assigned only inside ``__init__``. Change a model out
  of place with ``tree_at`` (swap a head, freeze a layer) or ``load_state_dict``.

Differs from Equinox: every leaf of a vfunc model is an array, because configuration is static
by construction, so plain ``vfunc.jit``/``grad`` apply and no ``filter_jit``/``filter_grad``
wrappers exist. (Equinox keeps every non-static field a leaf, so a model may carry Python
callables or ints as leaves, and its filters split them off before tracing.) The cost is that a
hyperparameter held as a Python number is static: changing it recompiles a jitted function; hold
it as an array to make it traced.

Training state (BatchNorm's running statistics) — the design:
    Running statistics are buffers held in the model, as in PyTorch, so a model is one pytree
    and its state dict has PyTorch's keys. A forward pass never mutates: in training mode
    BatchNorm normalises with the batch statistics and *reports* its updated statistics to the
    enclosing ``call_with_state(model, *args, **kwargs) -> (output, state)``, where ``state``
    is a state-dict-shaped ``dict`` of the updated buffers (``'bn1.running_mean'``, ...). The
    step then applies the optimizer to the parameters and writes the buffers back with
    ``load_state_dict(model, state, strict=False)``, all inside one jitted function:

    >>> import vfunc, vfunc.numpy as vnp
    >>> from vfunc import nn
    >>> model = nn.Sequential(nn.BatchNorm1d(3))
    >>> def loss(m, x):
    ...     out, state = nn.call_with_state(m, x)
    ...     return (out ** 2).mean(), state
    >>> @vfunc.jit
    ... def step(m, x):
    ...     (value, state), grads = vfunc.value_and_grad(loss, has_aux=True)(m, x)
    ...     m = vfunc.tree.map(lambda p, g: p - 0.1 * g, m, grads)
    ...     return nn.load_state_dict(m, state, strict=False), value
    >>> model, value = step(model, vnp.arange(6.0).reshape(2, 3))
    >>> model[0].running_mean
    Array([0.15, 0.25, 0.35], dtype=float32)

    Why this design: the user's ``__call__`` stays PyTorch's (``self.bn1(self.conv1(x))``; no
    state argument threaded through every layer as in Equinox's ``State``), one call per step
    covers a whole model with any number of BatchNorm and Dropout layers, and writing the
    buffers back *after* the optimizer keeps weight decay or momentum from ever touching them
    (their gradients are zero: the statistics pass through ``stop_gradient``). Outside
    ``call_with_state`` a training-mode BatchNorm still normalises with batch statistics but its
    update is dropped (useful for evaluating a training loss without a step).

    Integer state: ``num_batches_tracked`` is held as a float array of the default float dtype
    (so ``grad`` of a whole model works with no ``allow_int``); ``state_dict`` hands it out as
    int64 and ``load_state_dict`` accepts PyTorch's int64, exactly while the count fits the
    float's integer range (2**24 in float32, 2**53 with x64) — a larger count is an error, not a
    rounding.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import optree

import vfunc.numpy as vnp
from vfunc import dtypes, tree
from vfunc.core import Array, ArrayImpl

__all__ = [
    "Module", "static_field", "tree_at", "inference_mode", "count_params", "state_dict",
    "load_state_dict", "call_with_state", "named_modules", "StateDictError",
]  # fmt: skip


class StateDictError(ValueError):
    """A state dict does not fit a model: every missing, unexpected and mismatched key, listed."""


def static_field(**kwargs: Any) -> Any:
    """A dataclass field kept in the treedef (never a leaf), whatever it holds.

    Args:
        **kwargs: passed to ``dataclasses.field`` (``default=...`` and so on).

    Returns:
        The field specifier.

    Example:
        >>> from vfunc import nn
        >>> class Scale(nn.Module):
        ...     factor: float = nn.static_field(default=2.0)
        ...     def __call__(self, x):
        ...         return self.factor * x
        >>> Scale().factor
        2.0
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def _is_array(x: Any) -> bool:
    return isinstance(x, Array | np.ndarray)


def _holds_arrays(value: Any) -> bool:
    """Whether a field value is a child: an array, a module, or a container of them."""
    if _is_array(value) or isinstance(value, Module):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_arrays(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_arrays(v) for v in value.values())
    return False


class _Static:
    """A static field value in a treedef: compared by equality, hashed safely (once)."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: Any):
        self.value = value
        self._hash: int | None = None

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, _Static):
            return NotImplemented
        a, b = self.value, other.value
        if a is b:
            return True
        try:
            return type(a) is type(b) and bool(a == b)
        except Exception:  # noqa: BLE001 - uncomparable values are simply different
            return False

    def __hash__(self) -> int:
        if self._hash is None:
            try:
                self._hash = hash((type(self.value), self.value))
            except TypeError:
                self._hash = hash(type(self.value))
        return self._hash

    def __repr__(self) -> str:
        return repr(self.value)


class _ModuleMeta(type):
    """Lets ``__init__`` assign fields, then freezes the instance and checks every field is set."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        self = cls.__new__(cls)
        object.__setattr__(self, "_vf_initialising", True)
        try:
            cls.__init__(self, *args, **kwargs)
        finally:
            object.__delattr__(self, "_vf_initialising")
        missing = [f.name for f in dataclasses.fields(self) if f.name not in self.__dict__]
        if missing:
            raise TypeError(f"{cls.__name__}.__init__ did not set the field(s) {missing}")
        return self


class Module(metaclass=_ModuleMeta):
    """Base class of every layer and model: a frozen dataclass registered as a pytree node.

    Subclass it, annotate fields, and either let the dataclass write ``__init__`` or write one
    that assigns every field (assignment works only inside ``__init__``). See the module
    docstring for which fields are leaves.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> class Affine(nn.Module):
        ...     weight: vfunc.Array
        ...     bias: vfunc.Array
        ...     name: str = "affine"
        ...     def __call__(self, x):
        ...         return self.weight * x + self.bias
        >>> m = Affine(vnp.array(2.0), vnp.array(1.0))
        >>> float(vfunc.grad(lambda m: m(3.0))(m).weight)
        3.0
    """

    # Fields whose own name is left out of state-dict keys and paths (Sequential's list).
    _vf_transparent: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_init = "__init__" in cls.__dict__
        # A subclass without its own __init__ inherits its parent's hand-written one rather
        # than getting a generated one that would take the parent's fields positionally.
        inherits_custom = any(
            getattr(base, "_vf_custom_init", False) for base in cls.__mro__[1:]
        )
        cls._vf_custom_init = own_init or inherits_custom
        dataclasses.dataclass(cls, init=not cls._vf_custom_init, repr=False, eq=False)
        names = tuple(f.name for f in dataclasses.fields(cls))
        forced = frozenset(f.name for f in dataclasses.fields(cls) if f.metadata.get("static"))

        def flatten(m: Any) -> tuple:
            d = m.__dict__
            # Modules are immutable, so the static part is computed once per instance (and
            # handed on by unflatten): later flattens only gather children, and treedefs of
            # successive steps share their aux objects, which makes the jit cache lookup cheap.
            aux = d.get("_vf_aux")
            if aux is None:
                child_names, static = [], []
                for name in names:
                    value = d[name]
                    if name not in forced and _holds_arrays(value):
                        child_names.append(name)
                    else:
                        static.append((name, _Static(value)))
                aux = (tuple(child_names), tuple(static))
                object.__setattr__(m, "_vf_aux", aux)
            child_names = aux[0]
            return [d[n] for n in child_names], aux, child_names

        def unflatten(aux: tuple, children: Any) -> Any:
            child_names, static = aux
            self = object.__new__(cls)
            d = self.__dict__
            for name, value in zip(child_names, children, strict=True):
                d[name] = value
            for name, value in static:
                d[name] = value.value
            d["_vf_aux"] = aux
            return self

        optree.register_pytree_node(
            cls, flatten, unflatten, path_entry_type=optree.GetAttrEntry,
            namespace=tree.NAMESPACE,
        )  # fmt: skip
        if "__call__" in cls.__dict__:
            cls.__call__ = _named_errors(cls.__dict__["__call__"])

    @staticmethod
    def _vf_frozen_structure(m: Module) -> bool:
        """Whether every container in ``m``'s tree is a Module or a tuple and every leaf an
        Array: nothing in it can change in place, so ``jit`` may keep its flatten."""
        return _frozen_tree(m)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_vf_initialising"):
            object.__setattr__(self, name, value)
            return
        raise dataclasses.FrozenInstanceError(
            f"cannot assign {type(self).__name__}.{name}: modules are immutable; use "
            f"nn.tree_at(lambda m: m.{name}, model, replace=...) for a changed copy"
        )

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete {type(self).__name__}.{name}")

    def extra_repr(self) -> str:
        """The configuration shown in ``repr`` (PyTorch's hook): static fields, array shapes."""
        parts = []
        for f in dataclasses.fields(self):
            value = self.__dict__[f.name]
            if f.name == "training" or isinstance(value, Module) or _is_container(value):
                continue
            parts.append(f"{f.name}={_short(value)}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        children = list(_direct_submodules(self))
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("] + ([f"  {extra}"] if extra else [])
        for name, child in children:
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        return "\n".join(lines) + "\n)"


def _frozen_tree(value: Any) -> bool:
    if isinstance(value, Module):
        d = value.__dict__
        aux = d.get("_vf_aux")  # set by the module's flatten: its children's names first
        return aux is not None and all(_frozen_tree(d[name]) for name in aux[0])
    if type(value) is tuple:
        return all(_frozen_tree(v) for v in value)
    return value is None or type(value) is ArrayImpl


def _is_container(value: Any) -> bool:
    return isinstance(value, list | tuple | dict) and _holds_arrays(value)


def _short(value: Any) -> str:
    if _is_array(value):
        dt = np.dtype(value.dtype)
        kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}[dt.kind]
        bits = "" if kind == "bool" else str(dt.itemsize * 8)
        return f"{kind}{bits}[{','.join(map(str, value.shape))}]"
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return repr(value)


def _direct_submodules(m: Module) -> Iterator[tuple[str, Module]]:
    """(name, submodule) for each module held by ``m``, names as PyTorch shows them."""
    for f in dataclasses.fields(m):
        value = m.__dict__[f.name]
        prefix = "" if f.name in m._vf_transparent else f.name
        if isinstance(value, Module):
            yield f.name, value
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                if isinstance(v, Module):
                    yield (f"{prefix}.{i}" if prefix else str(i)), v
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, Module):
                    yield (f"{prefix}.{k}" if prefix else str(k)), v


def _entries(m: Module) -> Iterator[tuple[str, str, Any]]:
    """(state-dict key part, attribute path part, value) for each child value of ``m``."""
    for f in dataclasses.fields(m):
        value = m.__dict__[f.name]
        transparent = f.name in m._vf_transparent
        if isinstance(value, list | tuple):
            for i, v in enumerate(value):
                key = str(i) if transparent else f"{f.name}.{i}"
                attr = f"[{i}]" if transparent else f".{f.name}[{i}]"
                yield key, attr, v
        elif isinstance(value, dict):
            for k, v in value.items():
                key = str(k) if transparent else f"{f.name}.{k}"
                attr = f".{k}" if transparent else f".{f.name}[{k!r}]"
                yield key, attr, v
        else:
            yield f.name, f".{f.name}", value


def named_modules(model: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Every module in ``model`` (itself first) with its state-dict prefix, as PyTorch's.

    Example:
        >>> from vfunc import nn
        >>> [name for name, _ in nn.named_modules(nn.Sequential(nn.ReLU(), nn.Tanh()))]
        ['', '0', '1']
    """
    yield prefix, model
    for key, _, value in _entries(model):
        if isinstance(value, Module):
            yield from named_modules(value, f"{prefix}.{key}" if prefix else key)


def _named_arrays(model: Module, prefix: str = "", path: str = "model"
                  ) -> Iterator[tuple[str, str, Module, str, Any]]:  # fmt: skip
    """(state-dict key, attribute path, owning module, field name, array) for every array."""
    for key, attr, value in _entries(model):
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Module):
            yield from _named_arrays(value, full, path + attr)
        elif _is_array(value):
            yield full, path + attr, model, key, value


# ----------------------------------------------------------------------------------------------
# Errors that name the layer's path: each Module.__call__ is wrapped; when an error leaves a
# child's call, the parent finds which of its fields holds that child and prepends the name.

_calls = threading.local()


def _find_child(parent: Module, child: Module) -> str | None:
    for _, attr, value in _entries(parent):
        if value is child:
            return attr
        # A layer reached through a container without calling it (``for b in self.blocks``,
        # ``self.features[3](x)``): look inside list-like containers (ModuleList, Sequential).
        if isinstance(value, Module) and value._vf_transparent:
            inner = _find_child(value, child)
            if inner is not None:
                return attr + inner
    return None


def _named_errors(call: Callable) -> Callable:
    @functools.wraps(call)
    def wrapped(self: Module, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_calls, "depth", 0)
        _calls.depth = depth + 1
        try:
            return call(self, *args, **kwargs)
        except (ValueError, TypeError, IndexError) as e:
            if getattr(e, "_vf_from", None) is None:
                e._vf_path, e._vf_layer = "", type(self).__name__
            elif e._vf_from is not self:
                part = _find_child(self, e._vf_from)
                e._vf_path = (part if part is not None else ".<?>") + e._vf_path
            e._vf_from = self
            if depth == 0 and e.args and isinstance(e.args[0], str):
                where = f"model{e._vf_path}" if e._vf_path else "model"
                msg = e.args[0]
                layer = "" if msg.startswith(e._vf_layer) else f"{e._vf_layer}: "
                e.args = (f"{where}: {layer}{msg}",) + e.args[1:]
            raise
        finally:
            _calls.depth = depth

    return wrapped


# ----------------------------------------------------------------------------------------------
# Out-of-place surgery and whole-model tools


_KEEP: Any = object()


def _copy_tree(node: Any, visit: Callable[[Any], Any], training: bool | None = None) -> Any:
    """A copy of the modules, lists, tuples and dicts of ``node``; ``visit(n)`` may return a
    replacement for any node (``_KEEP``: copy on); ``training`` sets every training flag."""
    out = visit(node)
    if out is not _KEEP:
        return out
    if isinstance(node, Module):
        new = object.__new__(type(node))
        for f in dataclasses.fields(node):
            value = node.__dict__[f.name]
            if f.name == "training" and training is not None:
                new.__dict__[f.name] = training
            else:
                new.__dict__[f.name] = _copy_tree(value, visit, training)
        return new
    if isinstance(node, list):
        return [_copy_tree(v, visit, training) for v in node]
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
        return tuple(_copy_tree(v, visit, training) for v in node)
    if isinstance(node, dict):
        return {k: _copy_tree(v, visit, training) for k, v in node.items()}
    return node


def tree_at(where: Callable[[Any], Any], tree_: Any, replace: Any = dataclasses.MISSING,
            replace_fn: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """A copy of ``tree_`` with the node(s) selected by ``where`` replaced, as Equinox's.

    Args:
        where: ``where(tree_)`` returns the node to replace, or a tuple/list of nodes
            (``lambda m: (m.fc.weight, m.fc.bias)``); nodes are found by identity.
        tree_: a model (or any pytree of modules, lists, tuples, dicts).
        replace: the new value, or a sequence of values when ``where`` returns a sequence.
        replace_fn: instead of ``replace``, a function of the old node giving the new one.

    Returns:
        The new tree; ``tree_`` is untouched. The new value may change a static field too
        (``tree_at(lambda m: m.training, ...)`` is how ``inference_mode`` works).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> m = nn.Sequential(nn.Identity(), nn.Identity())
        >>> type(tree_at(lambda m: m[1], m, replace=nn.ReLU())[1]).__name__
        'ReLU'
    """
    if (replace is dataclasses.MISSING) == (replace_fn is None):
        raise ValueError("tree_at: pass exactly one of replace= and replace_fn=")
    selected = where(tree_)
    many = isinstance(selected, list | tuple)
    nodes = list(selected) if many else [selected]
    if replace is not dataclasses.MISSING:
        values = list(replace) if many else [replace]
        if len(values) != len(nodes):
            raise ValueError(
                f"tree_at: where selected {len(nodes)} nodes but replace has {len(values)} values"
            )
    else:
        values = [replace_fn(n) for n in nodes]
    pending = {id(n): v for n, v in zip(nodes, values, strict=True)}
    found: set[int] = set()

    def visit(node: Any) -> Any:
        if id(node) in pending and not isinstance(node, bool | int | float | str | type(None)):
            found.add(id(node))
            return pending[id(node)]
        return _KEEP

    new_tree = _copy_tree(tree_, visit)
    # Immutable scalars (static fields) cannot be found by identity: match them by attribute.
    for node, value in zip(nodes, values, strict=True):
        if id(node) not in found:
            new_tree = _replace_by_access(where, tree_, new_tree, node, value)
    return new_tree


def _replace_by_access(where: Callable, old: Any, new: Any, node: Any, value: Any) -> Any:
    """Replace a node that identity cannot find (an int/bool/str field) by recording access."""
    accessed: list[tuple[Any, str]] = []

    class Probe:
        def __init__(self, target: Any):
            self._t = target

        def __getattr__(self, name: str) -> Any:
            got = getattr(self._t, name)
            accessed.append((self._t, name))
            return Probe(got) if isinstance(got, Module | list | tuple | dict) else got

        def __getitem__(self, i: Any) -> Any:
            got = self._t[i]
            return Probe(got) if isinstance(got, Module | list | tuple | dict) else got

    out = where(Probe(old))
    outs = out if isinstance(out, list | tuple) else [out]
    for (owner, name), got in zip(accessed[-len(outs):], outs, strict=False):
        scalar = isinstance(node, bool | int | float | str | type(None))
        if got is node or (scalar and type(got) is type(node) and got == node):
            return _set_attr_in(new, old, owner, name, value)
    raise ValueError(
        "tree_at: the node selected by where was not found in the tree; select a field of a "
        "module (lambda m: m.fc.weight), not a value computed from it"
    )


def _set_attr_in(new: Any, old: Any, owner: Any, name: str, value: Any) -> Any:
    if old is owner:
        copy = object.__new__(type(new))
        copy.__dict__.update(new.__dict__)
        copy.__dict__.pop("_vf_aux", None)  # a static field may change: recompute the aux
        copy.__dict__[name] = value
        return copy
    if isinstance(old, Module):
        copy = object.__new__(type(new))
        copy.__dict__.update(new.__dict__)
        copy.__dict__.pop("_vf_aux", None)
        for f in dataclasses.fields(old):
            copy.__dict__[f.name] = _set_attr_in(
                new.__dict__[f.name], old.__dict__[f.name], owner, name, value)
        return copy
    if isinstance(old, list | tuple) and not hasattr(old, "_fields"):
        items = [_set_attr_in(n, o, owner, name, value) for n, o in zip(new, old, strict=True)]
        return type(old)(items)
    if isinstance(old, dict):
        return {k: _set_attr_in(new[k], old[k], owner, name, value) for k in old}
    return new


def inference_mode(model: Any, value: bool = True) -> Any:
    """A copy of ``model`` with every layer that has a ``training`` flag switched.

    With ``value=True`` (inference) Dropout is the identity and BatchNorm uses its running
    statistics; ``value=False`` switches back to training. Equinox's name, PyTorch's
    ``model.eval()`` / ``model.train()``.

    Example:
        >>> from vfunc import nn
        >>> nn.inference_mode(nn.Dropout(0.5)).training
        False
    """
    return _copy_tree(model, lambda node: _KEEP, training=not value)


def _buffer_names(m: Module) -> frozenset[str]:
    return frozenset(getattr(type(m), "_vf_buffers", ()))


def count_params(model: Module, include_buffers: bool = False) -> int:
    """The number of parameter elements, as PyTorch's ``sum(p.numel() for p in
    model.parameters())`` (buffers such as running statistics excluded unless asked).

    Example:
        >>> from vfunc import nn
        >>> count_params(nn.LayerNorm(4))
        8
    """
    total = 0
    for _, _, owner, field_key, arr in _named_arrays(model):
        if include_buffers or field_key not in _buffer_names(owner):
            total += int(np.prod(arr.shape))
    return total


# ----------------------------------------------------------------------------------------------
# State dicts with PyTorch's keys


def state_dict(model: Module) -> dict[str, Any]:
    """The model's arrays under PyTorch's state-dict keys (``'features.0.weight'``, ...).

    ``num_batches_tracked`` comes out as a NumPy int64 scalar array, as PyTorch stores it; every
    other value is the model's own array.

    Example:
        >>> from vfunc import nn
        >>> list(state_dict(nn.BatchNorm1d(2)))
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """
    out: dict[str, Any] = {}
    for key, _, owner, field_key, arr in _named_arrays(model):
        if field_key in getattr(type(owner), "_vf_int_buffers", ()):
            arr = np.asarray(np.asarray(arr), dtype=np.int64)
        out[key] = arr
    return out


def load_state_dict(model: Module, sd: dict[str, Any], strict: bool = True) -> Module:
    """A copy of ``model`` holding the arrays of ``sd`` (PyTorch's keys), as
    ``torch.nn.Module.load_state_dict`` but out of place.

    Args:
        model: the model whose structure the state dict must fit.
        sd: key -> array (NumPy arrays, vfunc Arrays, or anything ``np.asarray`` takes:
            ``{k: v.numpy() for k, v in torch_model.state_dict().items()}``).
        strict: every key of the model must be in ``sd`` and every key of ``sd`` in the model.
            Shapes must match exactly in either mode.

    Returns:
        The new model; values are converted to the dtype of the array they replace. Nothing is
        half-loaded: any problem raises before a copy is made.

    Raises:
        StateDictError: listing every missing key, unexpected key, and shape or dtype-kind
            mismatch (with the layer's attribute path, the shape seen and the one expected).

    Example:
        >>> import numpy as np
        >>> from vfunc import nn
        >>> m = load_state_dict(nn.LayerNorm(2), {'weight': np.array([2., 3.]),
        ...                                        'bias': np.zeros(2)})
        >>> m.weight
        Array([2., 3.], dtype=float32)
    """
    entries = list(_named_arrays(model))
    known = {key for key, *_ in entries}
    problems: list[str] = []
    if strict:
        missing = [key for key, *_ in entries if key not in sd]
        if missing:
            problems.append(f"missing keys: {missing}")
    unexpected = [k for k in sd if k not in known]
    if strict and unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    updates: dict[str, Any] = {}
    for key, path, owner, field_key, old in entries:
        if key not in sd:
            continue
        value = sd[key]
        is_traced = isinstance(value, Array)
        shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
        if shape != tuple(old.shape):
            hint = ""
            if len(shape) == 2 and shape == tuple(old.shape)[::-1]:
                hint = " (it looks transposed: PyTorch's Linear weight is (out_features, " \
                       "in_features))"
            problems.append(
                f"{key} ({path}, {type(owner).__name__}): shape {shape} in the state dict, "
                f"the model expects {tuple(old.shape)}{hint}"
            )
            continue
        want = np.dtype(old.dtype)
        got = np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype
        int_buffer = field_key in getattr(type(owner), "_vf_int_buffers", ())
        if int_buffer:
            if not is_traced:
                count = np.asarray(value)
                as_float = count.astype(want)
                if got.kind in "iu" and not np.array_equal(as_float.astype(np.int64), count):
                    problems.append(
                        f"{key} ({path}): the count {count} is not exact in {want}; enable "
                        "x64 (vfunc.config.update('enable_x64', True)) to load it"
                    )
                    continue
                value = as_float
        elif got.kind != want.kind and not (got.kind in "iu" and want.kind in "iu"):
            problems.append(
                f"{key} ({path}, {type(owner).__name__}): dtype {got} in the state dict, the "
                f"model holds {want}"
            )
            continue
        updates[key] = value if is_traced else vnp.asarray(
            np.asarray(value), dtype=want)
    if problems:
        raise StateDictError(
            f"load_state_dict into {type(model).__name__}: " + "; ".join(problems)
        )
    return _rebuild_with(model, updates)


def _map_arrays(model: Any, fn: Callable[[str, Any], Any], prefix: str = "") -> Any:
    """A copy of ``model`` with every array ``a`` under state-dict key ``k`` replaced by
    ``fn(k, a)``; keys are formed as in ``_entries``."""

    def join(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    def one(value: Any, key: str) -> Any:
        if isinstance(value, Module):
            return _map_arrays(value, fn, join(key))
        if _is_array(value):
            return fn(join(key), value)
        return value

    new = object.__new__(type(model))
    for f in dataclasses.fields(model):
        value = model.__dict__[f.name]
        transparent = f.name in model._vf_transparent
        if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
            items = [one(v, str(i) if transparent else f"{f.name}.{i}")
                     for i, v in enumerate(value)]
            value = type(value)(items)
        elif isinstance(value, dict):
            value = {k: one(v, str(k) if transparent else f"{f.name}.{k}")
                     for k, v in value.items()}
        else:
            value = one(value, f.name)
        new.__dict__[f.name] = value
    return new


def _rebuild_with(model: Module, updates: dict[str, Any]) -> Module:
    def replace(key: str, old: Any) -> Any:
        if key not in updates:
            return old
        value = updates[key]
        if isinstance(value, Array) and value.dtype != old.dtype:
            value = value.astype(old.dtype)
        return value

    return _map_arrays(model, replace)


# ----------------------------------------------------------------------------------------------
# Training state: see the module docstring

_collector = threading.local()


def report_state(module: Module, **buffers: Any) -> None:
    """Called by a stateful layer in training mode with its updated buffers; a no-op outside
    ``call_with_state``. The latest report of a layer wins (a layer called twice reports the
    statistics after both updates if it reads them back with ``current_state``)."""
    stack = getattr(_collector, "stack", None)
    if stack:
        stack[-1][id(module)] = (module, buffers)


def current_state(module: Module, name: str) -> Any:
    """A buffer of ``module`` as updated so far in the enclosing ``call_with_state``."""
    stack = getattr(_collector, "stack", None)
    if stack and id(module) in stack[-1]:
        return stack[-1][id(module)][1][name]
    return getattr(module, name)


def call_with_state(model: Callable, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``model(*args, **kwargs)`` and the buffers its stateful layers updated.

    Args:
        model: a module (usually the whole model).
        *args, **kwargs: the call's arguments.

    Returns:
        ``(output, state)``: ``state`` maps state-dict keys (``'bn1.running_mean'``) to the
        updated buffers of every training-mode BatchNorm reached; write them back with
        ``load_state_dict(model, state, strict=False)``. Empty in inference mode.
    """
    stack = getattr(_collector, "stack", None)
    if stack is None:
        stack = _collector.stack = []
    stack.append({})
    try:
        out = model(*args, **kwargs)
    finally:
        reports = stack.pop()
    state: dict[str, Any] = {}
    if reports and isinstance(model, Module):
        for prefix, m in named_modules(model):
            if id(m) in reports:
                for name, value in reports[id(m)][1].items():
                    state[f"{prefix}.{name}" if prefix else name] = value
    return out, state


# ----------------------------------------------------------------------------------------------
# Helpers shared by the layer files


def default_dtype(dtype: Any) -> np.dtype:
    """A layer's parameter dtype: ``dtype`` canonicalised, or the default float."""
    return dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)


@functools.cache
def _takes_key(fn_type: Any, fn_name: str) -> bool:
    del fn_name
    try:
        params = inspect.signature(fn_type).parameters
    except (TypeError, ValueError):
        return False
    return "key" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def takes_key(layer: Any) -> bool:
    """Whether calling ``layer`` accepts a ``key=`` keyword (cached per class / function)."""
    target = type(layer).__call__ if isinstance(layer, Module) else layer
    try:
        return _takes_key(target, getattr(target, "__qualname__", ""))
    except TypeError:  # unhashable callable
        return False
