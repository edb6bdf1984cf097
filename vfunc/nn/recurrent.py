"""Recurrent layers with PyTorch's arguments, parameter names and gate layouts: ``RNNCell``,
``LSTMCell``, ``GRUCell`` and the multi-step ``RNN``, ``LSTM``, ``GRU`` (num_layers,
batch_first, bidirectional, dropout), run with ``lax.scan``.

Gate order is PyTorch's: LSTM ``i, f, g, o``; GRU ``r, z, n`` (with ``b_hn`` inside the reset
gate). Every weight starts as ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``.
"""

from __future__ import annotations

import math
from typing import Any

import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn.activations import sigmoid
from vfunc.nn.dropout import dropout
from vfunc.nn.initializers import random_module
from vfunc.nn.linear import linear, need_key, uniform_init
from vfunc.nn.module import Module, default_dtype, static_field

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _hh_step(mode: str, gi: Array, h: Array, c: Array | None, w_hh: Array,
             b_hh: Array | None, w_hr: Array | None = None) -> tuple[Array, Array | None]:
    """One time step given the input projection ``gi = x @ w_ih.T + b_ih``; an LSTM with
    ``proj_size`` projects its output ``h`` with ``w_hr`` (``(proj_size, hidden_size)``)."""
    gh = linear(h, w_hh)
    if b_hh is not None:
        gh = gh + b_hh
    if mode == "LSTM":
        gates = gi + gh
        i, f, g, o = vnp.split(gates, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * vnp.tanh(g)
        h = sigmoid(o) * vnp.tanh(c)
        return (h if w_hr is None else linear(h, w_hr)), c
    if mode == "GRU":
        ir, iz, inn = vnp.split(gi, 3, axis=-1)
        hr, hz, hn = vnp.split(gh, 3, axis=-1)
        r, z = sigmoid(ir + hr), sigmoid(iz + hz)
        n = vnp.tanh(inn + r * hn)
        return (1.0 - z) * n + z * h, None
    pre = gi + gh
    return (vnp.tanh(pre) if mode == "RNN_TANH" else vnp.where(pre > 0, pre, 0.0)), None


def _init_weights(name: str, key: Any, shapes: dict[str, tuple[int, ...]], hidden: int,
                  dtype: Any, init: bool) -> dict[str, Array]:  # fmt: skip
    if not init:
        return {k: vnp.zeros(s, dtype) for k, s in shapes.items()}
    need_key(name, key)
    keys = random_module().split(key, len(shapes))
    bound = 1 / math.sqrt(hidden) if hidden else 0.0
    return {k: uniform_init(kk, s, bound, dtype) for (k, s), kk in zip(shapes.items(), keys,
                                                                      strict=True)}


def _check_input(layer: str, x: Array, size: int, batched_rank: int) -> tuple[Array, bool]:
    x = vnp.asarray(x)
    if x.ndim not in (batched_rank - 1, batched_rank):
        raise ShapeError(
            f"{layer}: expected a {batched_rank}-D (batched) or {batched_rank - 1}-D input, got "
            f"shape {tuple(x.shape)}"
        )
    if x.shape[-1] != size:
        raise ShapeError(
            f"{layer}: expected input with {size} features (last axis), got input of shape "
            f"{tuple(x.shape)}"
        )
    return (vnp.expand_dims(x, -2 if batched_rank == 2 else 1), True) if (
        x.ndim == batched_rank - 1) else (x, False)


class _CellBase(Module):
    weight_ih: Array
    weight_hh: Array
    bias_ih: Array | None
    bias_hh: Array | None
    input_size: int = static_field()
    hidden_size: int = static_field()
    nonlinearity: str = static_field()

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, key: Any = None, dtype: Any = None,
                 init: bool = True):  # fmt: skip
        name = type(self).__name__
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.nonlinearity = nonlinearity
        g = _GATES[self._mode] * self.hidden_size
        shapes = {"weight_ih": (g, self.input_size), "weight_hh": (g, self.hidden_size)}
        if bias:
            shapes.update(bias_ih=(g,), bias_hh=(g,))
        w = _init_weights(name, key, shapes, self.hidden_size, default_dtype(dtype), init)
        self.weight_ih, self.weight_hh = w["weight_ih"], w["weight_hh"]
        self.bias_ih, self.bias_hh = w.get("bias_ih"), w.get("bias_hh")

    def _step(self, x: Array, h: Array, c: Array | None) -> tuple[Array, Array | None]:
        gi = linear(x, self.weight_ih)
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
        mode = self._mode if self._mode != "RNN_TANH" or self.nonlinearity == "tanh" else "RNN_RELU"
        return _hh_step(mode, gi, h, c, self.weight_hh, self.bias_hh)

    def _zeros(self, x: Array) -> Array:
        return vnp.zeros(x.shape[:-1] + (self.hidden_size,), x.dtype)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (
            ", bias=False" if self.bias_ih is None else "")


class RNNCell(_CellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu), as ``torch.nn.RNNCell(
    input_size, hidden_size, bias=True, nonlinearity='tanh')``; ``__call__(x, hx=None) -> h'``
    with ``x`` of shape ``(N, input_size)`` or ``(input_size,)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> nn.RNNCell(3, 2, init=False)(vnp.ones(3))
        Array([0., 0.], dtype=float32)
    """

    def __call__(self, x: Array, hx: Array | None = None) -> Array:
        x, unbatched = _check_input("RNNCell", x, self.input_size, 2)
        h = self._zeros(x) if hx is None else vnp.reshape(hx, (x.shape[0], self.hidden_size))
        h, _ = self._step(x, h, None)
        return h[0] if unbatched else h


class GRUCell(_CellBase):
    """A GRU step, as ``torch.nn.GRUCell(input_size, hidden_size, bias=True)``;
    ``__call__(x, hx=None) -> h'``."""

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, key: Any = None,
                 dtype: Any = None, init: bool = True):  # fmt: skip
        super().__init__(input_size, hidden_size, bias, key=key, dtype=dtype, init=init)

    def __call__(self, x: Array, hx: Array | None = None) -> Array:
        x, unbatched = _check_input("GRUCell", x, self.input_size, 2)
        h = self._zeros(x) if hx is None else vnp.reshape(hx, (x.shape[0], self.hidden_size))
        h, _ = self._step(x, h, None)
        return h[0] if unbatched else h

    def extra_repr(self) -> str:
        return super().extra_repr()


class LSTMCell(_CellBase):
    """An LSTM step, as ``torch.nn.LSTMCell(input_size, hidden_size, bias=True)``;
    ``__call__(x, hx=None) -> (h', c')`` with ``hx = (h, c)``."""

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, key: Any = None,
                 dtype: Any = None, init: bool = True):  # fmt: skip
        super().__init__(input_size, hidden_size, bias, key=key, dtype=dtype, init=init)

    def __call__(self, x: Array, hx: tuple[Array, Array] | None = None) -> tuple[Array, Array]:
        x, unbatched = _check_input("LSTMCell", x, self.input_size, 2)
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = (vnp.reshape(v, shape) for v in hx)
        h, c = self._step(x, h, c)
        return (h[0], c[0]) if unbatched else (h, c)

    def extra_repr(self) -> str:
        return super().extra_repr()


class _RNNBase(Module):
    params: dict
    mode: str = static_field()
    input_size: int = static_field()
    hidden_size: int = static_field()
    num_layers: int = static_field()
    bias: bool = static_field()
    batch_first: bool = static_field()
    dropout: float = static_field()
    bidirectional: bool = static_field()
    proj_size: int = static_field()
    training: bool = static_field()

    _vf_transparent = ("params",)

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *, key: Any = None,
                 dtype: Any = None, init: bool = True):  # fmt: skip
        name = type(self).__name__
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported by LSTM, got {proj_size}")
        if isinstance(proj_size, bool) or not 0 <= proj_size < hidden_size:
            raise ValueError(
                f"{name}: proj_size must be an int in [0, hidden_size={hidden_size}), got "
                f"{proj_size!r}"
            )
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), batch_first
        self.dropout, self.bidirectional, self.training = float(dropout), bidirectional, True
        self.proj_size = int(proj_size)
        g = _GATES[mode] * self.hidden_size
        dirs = 2 if bidirectional else 1
        out = self.proj_size or self.hidden_size  # the width of h (the layer's output)
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else out * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes[f"weight_ih{sfx}"] = (g, width)
                shapes[f"weight_hh{sfx}"] = (g, out)
                if bias:
                    shapes[f"bias_ih{sfx}"] = (g,)
                    shapes[f"bias_hh{sfx}"] = (g,)
                if self.proj_size:
                    shapes[f"weight_hr{sfx}"] = (self.proj_size, self.hidden_size)
        self.params = _init_weights(name, key, shapes, self.hidden_size, default_dtype(dtype),
                                    init)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def _run(self, x: Array, hx: Any, key: Any) -> tuple[Array, Array, Array | None]:
        name = type(self).__name__
        x, unbatched = _check_input(name, x, self.input_size, 3)
        if self.batch_first and not unbatched:
            x = vnp.swapaxes(x, 0, 1)
        # x: (L, N, I), time-major from here on
        n = x.shape[1]
        dirs = 2 if self.bidirectional else 1
        c_shape = (self.num_layers * dirs, n, self.hidden_size)
        h_shape = (self.num_layers * dirs, n, self.proj_size or self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = vnp.zeros(h_shape, x.dtype)
            c0 = vnp.zeros(c_shape, x.dtype) if lstm else None
        else:
            h0, c0 = hx if lstm else (hx, None)
            h0 = self._state(name, h0, h_shape, unbatched)
            c0 = self._state(name, c0, c_shape, unbatched) if lstm else None
        mode = self.mode
        use_dropout = self.training and self.dropout > 0 and self.num_layers > 1
        keys = (list(random_module().split(key, self.num_layers - 1)) if use_dropout and key
                is not None else [None] * (self.num_layers - 1))
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                p = self.params
                # The input projection of every time step is one matmul, outside the loop.
                gi = linear(x, p[f"weight_ih{sfx}"])
                if f"bias_ih{sfx}" in p:
                    gi = gi + p[f"bias_ih{sfx}"]
                w_hh, b_hh = p[f"weight_hh{sfx}"], p.get(f"bias_hh{sfx}")
                if b_hh is not None and mode != "GRU":
                    # Both biases are added before the loop: one addition fewer per step
                    # (a GRU's b_hn is scaled by the reset gate, so it stays in the step).
                    gi, b_hh = gi + b_hh, None
                w_hr = p.get(f"weight_hr{sfx}")
                idx = layer * dirs + d

                def step(carry: Any, g: Array, w_hh: Array = w_hh, b_hh: Any = b_hh,
                         w_hr: Any = w_hr) -> Any:  # fmt: skip
                    h, c = carry
                    h, c = _hh_step(mode, g, h, c, w_hh, b_hh, w_hr)
                    return (h, c), h

                init = (h0[idx], c0[idx] if lstm else None)
                (h, c), ys = lax.scan(step, init, gi, reverse=bool(d))
                outs.append(ys)
                h_n.append(h)
                if lstm:
                    c_n.append(c)
            x = outs[0] if dirs == 1 else vnp.concatenate(outs, axis=-1)
            if use_dropout and layer < self.num_layers - 1:
                x = dropout(x, self.dropout, keys[layer], layer=name)
        h_n = vnp.stack(h_n)
        c_n = vnp.stack(c_n) if lstm else None
        if unbatched:
            x, h_n = x[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if lstm else None
        elif self.batch_first:
            x = vnp.swapaxes(x, 0, 1)
        return x, h_n, c_n

    def _state(self, name: str, h: Array, shape: tuple[int, ...], unbatched: bool) -> Array:
        h = vnp.asarray(h)
        want = (shape[0], shape[2]) if unbatched else shape
        if tuple(h.shape) != want:
            raise ShapeError(f"{name}: expected a hidden state of shape {want}, got {h.shape}")
        return vnp.expand_dims(h, 1) if unbatched else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s


class LSTM(_RNNBase):
    """A multi-layer LSTM, as ``torch.nn.LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0)``. With ``proj_size > 0``
    each layer's output ``h`` is projected by ``weight_hr_l{k}`` (``(proj_size, hidden_size)``),
    so ``output`` and ``h_n`` have ``proj_size`` features and ``c_n`` keeps ``hidden_size``.

    ``__call__(x, hx=None, *, key=None) -> (output, (h_n, c_n))``; ``x`` is ``(L, N, I)``
    (``(N, L, I)`` with ``batch_first``) or unbatched ``(L, I)``; ``key`` is needed only for
    inter-layer dropout in training mode. Parameters are ``lstm.weight_ih_l0`` and so on.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> out, (h, c) = nn.LSTM(3, 4, num_layers=2, init=False)(vnp.ones((5, 2, 3)))
        >>> out.shape, h.shape
        ((5, 2, 4), (2, 2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, *args: Any, **kwargs: Any):
        super().__init__("LSTM", input_size, hidden_size, *args, **kwargs)

    def __call__(self, x: Array, hx: Any = None, *, key: Any = None) -> tuple[Array, Any]:
        out, h, c = self._run(x, hx, key)
        return out, (h, c)


class GRU(_RNNBase):
    """A multi-layer GRU, as ``torch.nn.GRU`` (see ``LSTM``); ``__call__(x, hx=None, *,
    key=None) -> (output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, *args: Any, **kwargs: Any):
        super().__init__("GRU", input_size, hidden_size, *args, **kwargs)

    def __call__(self, x: Array, hx: Any = None, *, key: Any = None) -> tuple[Array, Array]:
        out, h, _ = self._run(x, hx, key)
        return out, h


class RNN(_RNNBase):
    """A multi-layer Elman RNN, as ``torch.nn.RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', ...)``; ``__call__(x, hx=None, *, key=None) -> (output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", *args: Any, **kwargs: Any):  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, *args, **kwargs)

    def __call__(self, x: Array, hx: Any = None, *, key: Any = None) -> tuple[Array, Array]:
        out, h, _ = self._run(x, hx, key)
        return out, h
