"""Attention: ``dot_product_attention`` (``jax.nn``'s signature), ``MultiheadAttention`` and
``TransformerEncoderLayer``/``TransformerDecoderLayer``, their stacks ``TransformerEncoder``/
``TransformerDecoder`` and the full ``Transformer``, with PyTorch's arguments, parameter
names (``in_proj_weight``, ``out_proj.weight``, ``linear1``, ``norm1``, ...) and defaults."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc import tree
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn import activations as F
from vfunc.nn.containers import split_key
from vfunc.nn.dropout import Dropout, dropout
from vfunc.nn.initializers import random_module
from vfunc.nn.linear import Linear, linear, need_key
from vfunc.nn.module import Module, default_dtype, load_state_dict, state_dict, static_field
from vfunc.nn.norm import LayerNorm

__all__ = [
    "MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerEncoderLayer", "dot_product_attention",
]  # fmt: skip


def dot_product_attention(query: Array, key: Array, value: Array, bias: Array | None = None,
                          mask: Array | None = None, *, scale: float | None = None,
                          is_causal: bool = False, query_seq_lengths: Array | None = None,
                          key_value_seq_lengths: Array | None = None,
                          local_window_size: Any = None, implementation: Any = None) -> Array:
    """Scaled dot-product attention, as ``jax.nn.dot_product_attention``.

    Args:
        query: ``(B, T, N, H)`` or ``(T, N, H)``.
        key, value: ``(B, S, K, H)`` (``K`` divides ``N``: grouped-query attention).
        bias: added to the logits, broadcasting to ``(B, N, T, S)``.
        mask: boolean, True where attention is allowed, broadcasting to ``(B, N, T, S)``.
        scale: the logit scale (default ``1/sqrt(H)``).
        is_causal: mask out keys after each query (position ``s > t``).
        query_seq_lengths, key_value_seq_lengths: ``(B,)`` valid lengths (padding after).
        local_window_size, implementation: not supported beyond ``None``.

    Returns:
        ``(B, T, N, H)`` (or ``(T, N, H)``).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> q = vnp.ones((2, 1, 4))
        >>> nn.dot_product_attention(q, q, vnp.arange(8.0).reshape(2, 1, 4)).shape
        (2, 1, 4)
    """
    if local_window_size is not None or implementation not in (None, "xla"):
        raise NotImplementedError(
            "dot_product_attention: local_window_size and implementations other than None are "
            "not supported"
        )
    q, k, v = (vnp.asarray(a) for a in (query, key, value))
    unbatched = q.ndim == 3
    if unbatched:
        q, k, v = (vnp.expand_dims(a, 0) for a in (q, k, v))
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or k.shape != v.shape:
        raise ShapeError(
            "dot_product_attention: expected query (B, T, N, H) and key/value (B, S, K, H) of "
            f"one shape, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    b, t, n, h = q.shape
    s, kh = k.shape[1], k.shape[2]
    if n % kh or k.shape[3] != h:
        raise ShapeError(
            f"dot_product_attention: query heads {n} must be a multiple of key heads {kh} and "
            f"head sizes must agree (query {tuple(q.shape)}, key {tuple(k.shape)})"
        )
    if kh != n:
        k, v = vnp.repeat(k, n // kh, axis=2), vnp.repeat(v, n // kh, axis=2)
    scale = 1.0 / math.sqrt(h) if scale is None else scale
    logits = vnp.einsum("btnh,bsnh->bnts", q, k) * scale
    if bias is not None:
        logits = logits + vnp.asarray(bias)
    allowed = None if mask is None else vnp.asarray(mask).astype(bool)
    extra = np.ones((1, 1, t, s), bool)
    if is_causal:
        extra &= np.tril(np.ones((t, s), bool))[None, None]
    allowed = vnp.asarray(extra) if allowed is None else vnp.logical_and(allowed, extra)
    if query_seq_lengths is not None:
        qm = vnp.arange(t)[None, :] < vnp.asarray(query_seq_lengths)[:, None]
        allowed = vnp.logical_and(allowed, qm[:, None, :, None])
    if key_value_seq_lengths is not None:
        km = vnp.arange(s)[None, :] < vnp.asarray(key_value_seq_lengths)[:, None]
        allowed = vnp.logical_and(allowed, km[:, None, None, :])
    # A large negative finite fill, as JAX: a fully masked row averages the values, not NaN.
    fill = float(np.finfo(logits.dtype).min)
    logits = vnp.where(allowed, logits, fill)
    weights = F.softmax(logits, axis=-1)
    out = vnp.einsum("bnts,bsnh->btnh", weights, v)
    return out[0] if unbatched else out


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0,
    bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None,
    batch_first=False)``.

    Parameters, as PyTorch's: ``in_proj_weight (3E, E)`` (xavier-uniform) when ``kdim`` and
    ``vdim`` equal ``embed_dim``, else ``q_proj_weight (E, E)``, ``k_proj_weight (E, kdim)``,
    ``v_proj_weight (E, vdim)`` (each xavier-uniform); ``in_proj_bias (3E,)`` (zeros);
    ``bias_k``, ``bias_v`` ``(1, 1, E)`` (xavier-normal) with ``add_bias_kv``; ``out_proj``
    (a Linear, bias zeros). ``add_bias_kv`` appends ``bias_k``/``bias_v`` to the projected keys
    and values, ``add_zero_attn`` a zero key and value per head; both extend the masks with
    allowed columns and the weights with those columns, as PyTorch.

    ``__call__(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False, *, dropout_key=None) -> (output, weights)``.
    Inputs are ``(L, N, E)`` (``(N, L, E)`` with ``batch_first``) or unbatched ``(L, E)``; key
    and value have ``kdim``/``vdim`` features. Boolean masks are True where attention is *not*
    allowed, float masks are added, as PyTorch's. Differs from PyTorch: ``is_causal=True``
    without ``attn_mask`` builds the causal mask (PyTorch requires the mask as well).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> mha = nn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True, init=False)
        >>> out, w = mha(vnp.ones((3, 4)), vnp.ones((5, 3)), vnp.ones((5, 4)))
        >>> out.shape, w.shape
        ((3, 4), (3, 6))
    """

    in_proj_weight: Array | None
    q_proj_weight: Array | None
    k_proj_weight: Array | None
    v_proj_weight: Array | None
    in_proj_bias: Array | None
    bias_k: Array | None
    bias_v: Array | None
    out_proj: Linear
    embed_dim: int = static_field()
    kdim: int = static_field()
    vdim: int = static_field()
    num_heads: int = static_field()
    dropout: float = static_field()
    add_zero_attn: bool = static_field()
    batch_first: bool = static_field()
    training: bool = static_field()

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, *, key: Any = None,
                 dtype: Any = None, init: bool = True):  # fmt: skip
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                f"num_heads ({num_heads})"
            )
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        e = self.embed_dim
        self.kdim = e if kdim is None else int(kdim)
        self.vdim = e if vdim is None else int(vdim)
        self.dropout, self.batch_first, self.training = float(dropout), batch_first, True
        self.add_zero_attn = bool(add_zero_attn)
        dt = default_dtype(dtype)
        keys = random_module().split(key, 5) if init else [None] * 5
        if init:
            need_key("MultiheadAttention", key)

        def xavier(k: Any, shape: tuple[int, int]) -> Array:
            if not init:
                return vnp.zeros(shape, dt)
            bound = math.sqrt(6.0 / (shape[0] + shape[1]))
            return random_module().uniform(k, shape, dt, -bound, bound)

        if self.kdim == e and self.vdim == e:
            self.in_proj_weight = xavier(keys[0], (3 * e, e))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = xavier(keys[0], (e, e))
            self.k_proj_weight = xavier(keys[1], (e, self.kdim))
            self.v_proj_weight = xavier(keys[2], (e, self.vdim))
        self.in_proj_bias = vnp.zeros((3 * e,), dt) if bias else None
        if add_bias_kv:
            # xavier_normal on (1, 1, E): PyTorch's fans of that shape are E and 1.
            std = math.sqrt(2.0 / (e + 1))
            bk, bv = (random_module().split(keys[3]) if init else (None, None))
            self.bias_k, self.bias_v = ((random_module().normal(k, (1, 1, e), dt) * std) if init
                                        else vnp.zeros((1, 1, e), dt) for k in (bk, bv))
        else:
            self.bias_k = self.bias_v = None
        out_proj = Linear(e, e, bias, key=keys[4], dtype=dt, init=init)
        if bias:  # PyTorch zeroes out_proj.bias after the Linear's own init
            object.__setattr__(out_proj, "bias", vnp.zeros((e,), dt))
        self.out_proj = out_proj

    def _projection_weights(self) -> tuple[Array, Array, Array]:
        if self.in_proj_weight is not None:
            return tuple(vnp.split(self.in_proj_weight, 3, axis=0))
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def __call__(self, query: Array, key: Array, value: Array, key_padding_mask: Any = None,
                 need_weights: bool = True, attn_mask: Any = None,
                 average_attn_weights: bool = True, is_causal: bool = False, *,
                 dropout_key: Any = None) -> tuple[Array, Array | None]:  # fmt: skip
        q, k, v = (vnp.asarray(a) for a in (query, key, value))
        e, nh = self.embed_dim, self.num_heads
        rank = q.ndim
        for name, a, width in (("query", q, e), ("key", k, self.kdim), ("value", v, self.vdim)):
            if a.ndim not in (2, 3) or a.ndim != rank or a.shape[-1] != width:
                lead = "(L, N" if not self.batch_first else "(N, L"
                raise ShapeError(
                    f"MultiheadAttention: expected {name} of shape {lead}, {width}) or "
                    f"(L, {width}) like the query, got {tuple(a.shape)} (query "
                    f"{tuple(q.shape)})"
                )
        unbatched = q.ndim == 2
        if unbatched:
            q, k, v = (vnp.expand_dims(a, 1) for a in (q, k, v))
            if key_padding_mask is not None:
                key_padding_mask = vnp.expand_dims(vnp.asarray(key_padding_mask), 0)
        elif self.batch_first:
            q, k, v = (vnp.swapaxes(a, 0, 1) for a in (q, k, v))
        # time-major: (L, N, E)
        w_q, w_k, w_v = self._projection_weights()
        b = (None, None, None) if self.in_proj_bias is None else vnp.split(self.in_proj_bias, 3)

        def proj(x: Array, w: Array, bias: Array | None) -> Array:
            y = linear(x, w)
            return y if bias is None else y + bias

        def heads(y: Array) -> Array:  # (L, N, E) -> (N, H, L, D)
            length, n = y.shape[0], y.shape[1]
            return vnp.transpose(vnp.reshape(y, (length, n, nh, e // nh)), (1, 2, 0, 3))

        qp, kp, vp = proj(q, w_q, b[0]), proj(k, w_k, b[1]), proj(v, w_v, b[2])
        n, tq, ts = q.shape[1], q.shape[0], k.shape[0]
        # Extra key/value positions (bias_k/bias_v, then a zero one), always attended to.
        extra = []
        if self.bias_k is not None:
            extra.append((self.bias_k, self.bias_v))
        if self.add_zero_attn:
            zero = vnp.zeros((1, 1, e), qp.dtype)
            extra.append((zero, zero))
        for bk, bv in extra:
            kp = vnp.concatenate([kp, vnp.broadcast_to(bk.astype(kp.dtype), (1, n, e))], axis=0)
            vp = vnp.concatenate([vp, vnp.broadcast_to(bv.astype(vp.dtype), (1, n, e))], axis=0)
        qh, kh, vh = heads(qp), heads(kp), heads(vp)
        logits = vnp.matmul(qh, vnp.swapaxes(kh, -1, -2)) / math.sqrt(e // nh)
        if attn_mask is None and is_causal:
            attn_mask = vnp.asarray(np.triu(np.ones((tq, ts), bool), 1))
        masks = self._additive(attn_mask, logits.dtype, "attn_mask", n, tq, ts)
        if key_padding_mask is not None:
            kpm = vnp.asarray(key_padding_mask)
            if tuple(kpm.shape) != (n, ts):
                raise ShapeError(
                    f"MultiheadAttention: key_padding_mask must be ({n}, {ts}), got {kpm.shape}"
                )
            masks = masks + self._additive(kpm[:, None, None, :], logits.dtype,
                                           "key_padding_mask", n, tq, ts)
        if not isinstance(masks, float) and extra:
            masks = vnp.pad(masks, [(0, 0)] * (masks.ndim - 1) + [(0, len(extra))])
        logits = logits + masks
        weights = F.softmax(logits, axis=-1)
        if self.training and self.dropout > 0:
            weights = dropout(weights, self.dropout, dropout_key, layer="MultiheadAttention")
        out = vnp.matmul(weights, vh)  # (N, H, L, D)
        out = vnp.reshape(vnp.transpose(out, (2, 0, 1, 3)), (tq, n, e))
        out = self.out_proj(out)
        if unbatched:
            out = out[:, 0]
        elif self.batch_first:
            out = vnp.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = vnp.mean(weights, axis=1)
        return out, (weights[0] if unbatched else weights)

    def _additive(self, mask: Any, dtype: Any, name: str, n: int, tq: int, ts: int) -> Any:
        if mask is None:
            return 0.0
        mask = vnp.asarray(mask)
        if mask.ndim == 3:
            if tuple(mask.shape) != (n * self.num_heads, tq, ts):
                raise ShapeError(
                    f"MultiheadAttention: 3-D {name} must be ({n * self.num_heads}, {tq}, {ts}), "
                    f"got {tuple(mask.shape)}"
                )
            mask = vnp.reshape(mask, (n, self.num_heads, tq, ts))
        elif mask.ndim == 2 and tuple(mask.shape) != (tq, ts):
            raise ShapeError(f"MultiheadAttention: 2-D {name} must be ({tq}, {ts}), got "
                             f"{tuple(mask.shape)}")
        if mask.dtype == np.bool_:
            return vnp.where(mask, -np.inf, 0.0).astype(dtype)
        return mask.astype(dtype)

    def extra_repr(self) -> str:
        dims = "" if self.in_proj_weight is not None else f", kdim={self.kdim}, vdim={self.vdim}"
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}{dims}"


def _exact_gelu(x: Array) -> Array:
    return F.gelu(x, approximate=False)


_ACTIVATIONS: dict[str, Callable] = {"relu": F.relu, "gelu": _exact_gelu}


def _activation(name: str, activation: Any) -> Callable:
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation must be 'relu', 'gelu' or a callable, got "
                             f"{activation!r}")
        return _ACTIVATIONS[activation]
    return activation


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: self-attention, the feed-forward block, the
    first two norms and dropouts, and PyTorch's arguments (the decoder adds cross-attention,
    ``norm3`` and ``dropout3``)."""

    self_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm1: LayerNorm
    norm2: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    activation: Callable = static_field()
    norm_first: bool = static_field()

    _n_attn = 1  # attention blocks: 1 in the encoder layer, 2 in the decoder layer

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        name, n_attn = type(self).__name__, self._n_attn
        if init:
            need_key(name, key)
        keys = split_key(key, n_attn + 2) if init else [None] * (n_attn + 2)
        attn = [MultiheadAttention(d_model, nhead, dropout, bias, batch_first=batch_first,
                                   key=k, dtype=dtype, init=init) for k in keys[:n_attn]]
        self.self_attn = attn[0]
        if n_attn == 2:
            self.multihead_attn = attn[1]
        self.linear1 = Linear(d_model, dim_feedforward, bias, key=keys[-2], dtype=dtype,
                              init=init)
        self.linear2 = Linear(dim_feedforward, d_model, bias, key=keys[-1], dtype=dtype,
                              init=init)
        for i in range(1, n_attn + 2):
            setattr(self, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
        for field in ["dropout"] + [f"dropout{i}" for i in range(1, n_attn + 2)]:
            setattr(self, field, Dropout(dropout))
        self.activation = _activation(name, activation)
        self.norm_first = norm_first

    def _sa(self, y: Array, mask: Any, padding: Any, causal: bool, key: Any) -> Array:
        """The self-attention block, its output dropout (``dropout1``) included."""
        ka, kd = split_key(key, 2)
        out, _ = self.self_attn(y, y, y, key_padding_mask=padding, need_weights=False,
                                attn_mask=mask, is_causal=causal, dropout_key=ka)
        return self.dropout1(out, key=kd)

    def _ff(self, y: Array, key: Any) -> Array:
        """The feed-forward block; its last dropout is ``dropout2`` (encoder) or ``dropout3``."""
        k0, k1 = split_key(key, 2)
        h = self.dropout(self.activation(self.linear1(y)), key=k0)
        last = self.dropout2 if self._n_attn == 1 else self.__dict__["dropout3"]
        return last(self.linear2(h), key=k1)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and feed-forward blocks, as ``torch.nn.TransformerEncoderLayer(d_model,
    nhead, dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5,
    batch_first=False, norm_first=False, bias=True)``.

    ``__call__(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, key=None)``;
    ``key`` is needed in training mode when ``dropout > 0``.
    """

    def __call__(self, src: Array, src_mask: Any = None, src_key_padding_mask: Any = None,
                 is_causal: bool = False, *, key: Any = None) -> Array:  # fmt: skip
        ks, kf = split_key(key, 2)
        x = vnp.asarray(src)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal, ks)
            return x + self._ff(self.norm2(x), kf)
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal, ks))
        return self.norm2(x + self._ff(x, kf))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, cross-attention and feed-forward blocks, as
    ``torch.nn.TransformerDecoderLayer`` (same arguments as the encoder layer).

    ``__call__(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *, key=None)``.
    """

    multihead_attn: MultiheadAttention
    norm3: LayerNorm
    dropout3: Dropout

    _n_attn = 2

    def __call__(self, tgt: Array, memory: Array, tgt_mask: Any = None, memory_mask: Any = None,
                 tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                 tgt_is_causal: bool = False, memory_is_causal: bool = False, *,
                 key: Any = None) -> Array:  # fmt: skip
        ks, km, kd, kf = split_key(key, 4)
        x, mem = vnp.asarray(tgt), vnp.asarray(memory)

        def sa(y: Array) -> Array:
            return self._sa(y, tgt_mask, tgt_key_padding_mask, tgt_is_causal, ks)

        def mha(y: Array) -> Array:
            out, _ = self.multihead_attn(y, mem, mem, key_padding_mask=memory_key_padding_mask,
                                         need_weights=False, attn_mask=memory_mask,
                                         is_causal=memory_is_causal, dropout_key=km)
            return self.dropout2(out, key=kd)

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + mha(self.norm2(x))
            return x + self._ff(self.norm3(x), kf)
        x = self.norm1(x + sa(x))
        x = self.norm2(x + mha(x))
        return self.norm3(x + self._ff(x, kf))


def _clones(layer: Module, n: int) -> list[Module]:
    """``n`` copies of ``layer`` with the same values, as PyTorch's deep copies: distinct module
    and array objects, so ``tree_at`` on one layer's weight changes that layer only."""
    return [tree.map(lambda a: vnp.multiply(a, 1), layer) for _ in range(n)]


def _check_layers(name: str, layer: Any, want: type, num_layers: int) -> None:
    if not isinstance(layer, want):
        raise TypeError(f"{name}: expected a {want.__name__}, got {type(layer).__name__}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` and an optional final norm, as
    ``torch.nn.TransformerEncoder(encoder_layer, num_layers, norm=None,
    enable_nested_tensor=True, mask_check=True)`` (the last two only steer PyTorch's fast path
    and are accepted and ignored). Every layer starts with ``encoder_layer``'s values, as
    PyTorch's deep copies; state-dict keys are ``layers.0.self_attn.in_proj_weight``, ...

    ``__call__(src, mask=None, src_key_padding_mask=None, is_causal=None, *, key=None)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, init=False)
        >>> enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(4))
        >>> enc(vnp.ones((3, 1, 4))).shape, sorted(nn.state_dict(enc))[0]
        ((3, 1, 4), 'layers.0.linear1.bias')
    """

    layers: list
    norm: Any
    num_layers: int = static_field()

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):  # fmt: skip
        del enable_nested_tensor, mask_check
        _check_layers("TransformerEncoder", encoder_layer, TransformerEncoderLayer, num_layers)
        self.layers, self.norm, self.num_layers = _clones(encoder_layer, num_layers), norm, \
            num_layers

    def __call__(self, src: Array, mask: Any = None, src_key_padding_mask: Any = None,
                 is_causal: bool | None = None, *, key: Any = None) -> Array:  # fmt: skip
        x = vnp.asarray(src)
        for layer, k in zip(self.layers, split_key(key, self.num_layers), strict=True):
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal), key=k)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` and an optional final norm, as
    ``torch.nn.TransformerDecoder(decoder_layer, num_layers, norm=None)`` (see
    ``TransformerEncoder``).

    ``__call__(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)``.
    """

    layers: list
    norm: Any
    num_layers: int = static_field()

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None):  # fmt: skip
        _check_layers("TransformerDecoder", decoder_layer, TransformerDecoderLayer, num_layers)
        self.layers, self.norm, self.num_layers = _clones(decoder_layer, num_layers), norm, \
            num_layers

    def __call__(self, tgt: Array, memory: Array, tgt_mask: Any = None, memory_mask: Any = None,
                 tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                 tgt_is_causal: bool | None = None, memory_is_causal: bool = False, *,
                 key: Any = None) -> Array:  # fmt: skip
        x = vnp.asarray(tgt)
        for layer, k in zip(self.layers, split_key(key, self.num_layers), strict=True):
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal,
                      key=k)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder model of "Attention Is All You Need", as ``torch.nn.Transformer(
    d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
    dropout=0.1, activation='relu', custom_encoder=None, custom_decoder=None,
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``: an ``encoder``
    (``TransformerEncoder`` with a final LayerNorm) and a ``decoder`` (likewise). As PyTorch,
    every parameter with more than one dimension is then redrawn from xavier-uniform, each
    independently; biases keep their layers' initialisation (equal across the copies).

    ``__call__(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)``: ``src``
    ``(S, N, E)``, ``tgt`` ``(T, N, E)`` (batch first with ``batch_first``), or unbatched
    ``(S, E)``, ``(T, E)``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import nn
        >>> model = nn.inference_mode(nn.Transformer(8, 2, 1, 1, 16, init=False))
        >>> mask = nn.Transformer.generate_square_subsequent_mask(3)
        >>> model(vnp.ones((4, 2, 8)), vnp.ones((3, 2, 8)), tgt_mask=mask).shape
        (3, 2, 8)
    """

    encoder: Module
    decoder: Module
    d_model: int = static_field()
    nhead: int = static_field()
    batch_first: bool = static_field()

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Any = "relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        if init:
            need_key("Transformer", key)
        k_enc, k_dec, k_xavier = split_key(key, 3) if init else [None] * 3
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias)
        kw = dict(dtype=dtype, init=init)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(*args, key=k_enc, **kw), num_encoder_layers,
            LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(*args, key=k_dec, **kw), num_decoder_layers,
            LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = int(d_model), int(nhead), batch_first
        if init:
            self.encoder, self.decoder = _xavier_matrices(self.encoder, self.decoder, k_xavier)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None,
                                        dtype: Any = None) -> Array:  # fmt: skip
        """A float ``(sz, sz)`` mask: ``-inf`` above the diagonal (future positions), ``0``
        elsewhere, as PyTorch's (``device`` is accepted and ignored)."""
        del device
        mask = np.triu(np.full((sz, sz), -np.inf), 1)
        return vnp.asarray(mask, dtype=default_dtype(dtype))

    def __call__(self, src: Array, tgt: Array, src_mask: Any = None, tgt_mask: Any = None,
                 memory_mask: Any = None, src_key_padding_mask: Any = None,
                 tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                 src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                 memory_is_causal: bool = False, *, key: Any = None) -> Array:  # fmt: skip
        src, tgt = vnp.asarray(src), vnp.asarray(tgt)
        batch_axis = 0 if self.batch_first else 1
        if src.ndim != tgt.ndim or src.ndim not in (2, 3) or (
                src.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]):
            raise ShapeError(
                f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must both be "
                f"batched ({'(N, L, E)' if self.batch_first else '(L, N, E)'}) with one batch "
                "size, or both unbatched (L, E)"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(
                f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must have "
                f"d_model={self.d_model} features (last axis)"
            )
        k_enc, k_dec = split_key(key, 2)
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal, key=k_enc)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal,
                            key=k_dec)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}"


def _xavier_matrices(encoder: Module, decoder: Module, key: Any) -> tuple[Module, Module]:
    """PyTorch's ``Transformer._reset_parameters``: every parameter with more than one
    dimension redrawn from xavier-uniform (``bound = sqrt(6 / (fan_in + fan_out))``)."""
    out = []
    for part, k in zip((encoder, decoder), split_key(key, 2), strict=True):
        sd = {n: v for n, v in state_dict(part).items() if np.ndim(v) > 1}
        keys = split_key(k, max(len(sd), 1))
        new = {}
        for (name, value), kk in zip(sd.items(), keys, strict=False):
            fan_out, fan_in = value.shape[0], int(np.prod(value.shape[1:]))
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            new[name] = random_module().uniform(kk, value.shape, value.dtype, -bound, bound)
        out.append(load_state_dict(part, new, strict=False))
    return out[0], out[1]
