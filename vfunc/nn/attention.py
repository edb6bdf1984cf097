"""Attention: ``dot_product_attention`` (``jax.nn``'s signature), ``MultiheadAttention`` and
``TransformerEncoderLayer``/``TransformerDecoderLayer`` with PyTorch's arguments, parameter
names (``in_proj_weight``, ``out_proj.weight``, ``linear1``, ``norm1``, ...) and defaults."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import vfunc.numpy as vnp
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.nn import activations as F
from vfunc.nn.containers import split_key
from vfunc.nn.dropout import Dropout, dropout
from vfunc.nn.initializers import random_module
from vfunc.nn.linear import Linear, linear, need_key
from vfunc.nn.module import Module, default_dtype, static_field
from vfunc.nn.norm import LayerNorm

__all__ = [
    "MultiheadAttention", "TransformerDecoderLayer", "TransformerEncoderLayer",
    "dot_product_attention",
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


class TransformerEncoderLayer(Module):
    """Self-attention and feed-forward blocks, as ``torch.nn.TransformerEncoderLayer(d_model,
    nhead, dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5,
    batch_first=False, norm_first=False, bias=True)``.

    ``__call__(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, key=None)``;
    ``key`` is needed in training mode when ``dropout > 0``.
    """

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

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        keys = split_key(key, 3) if init else [None] * 3
        if init:
            need_key(type(self).__name__, key)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias,
                                            batch_first=batch_first, key=keys[0], dtype=dtype,
                                            init=init)
        self.linear1 = Linear(d_model, dim_feedforward, bias, key=keys[1], dtype=dtype, init=init)
        self.linear2 = Linear(dim_feedforward, d_model, bias, key=keys[2], dtype=dtype, init=init)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout, self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout), \
            Dropout(dropout)
        self.activation = _activation(type(self).__name__, activation)
        self.norm_first = norm_first

    def __call__(self, src: Array, src_mask: Any = None, src_key_padding_mask: Any = None,
                 is_causal: bool = False, *, key: Any = None) -> Array:  # fmt: skip
        ka, k0, k1, k2 = split_key(key, 4)
        x = vnp.asarray(src)

        def sa(y: Array) -> Array:
            out, _ = self.self_attn(y, y, y, key_padding_mask=src_key_padding_mask,
                                    need_weights=False, attn_mask=src_mask, is_causal=is_causal,
                                    dropout_key=ka)
            return self.dropout1(out, key=k1)

        def ff(y: Array) -> Array:
            h = self.dropout(self.activation(self.linear1(y)), key=k0)
            return self.dropout2(self.linear2(h), key=k2)

        if self.norm_first:
            x = x + sa(self.norm1(x))
            return x + ff(self.norm2(x))
        x = self.norm1(x + sa(x))
        return self.norm2(x + ff(x))


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention and feed-forward blocks, as
    ``torch.nn.TransformerDecoderLayer`` (same arguments as the encoder layer).

    ``__call__(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *, key=None)``.
    """

    self_attn: MultiheadAttention
    multihead_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm1: LayerNorm
    norm2: LayerNorm
    norm3: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    dropout3: Dropout
    activation: Callable = static_field()
    norm_first: bool = static_field()

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 key: Any = None, dtype: Any = None, init: bool = True):  # fmt: skip
        keys = split_key(key, 4) if init else [None] * 4
        if init:
            need_key(type(self).__name__, key)
        kw = dict(batch_first=batch_first, dtype=dtype, init=init)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, key=keys[0], **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout, bias, key=keys[1], **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias, key=keys[2], dtype=dtype, init=init)
        self.linear2 = Linear(dim_feedforward, d_model, bias, key=keys[3], dtype=dtype, init=init)
        self.norm1, self.norm2, self.norm3 = (LayerNorm(d_model, layer_norm_eps, bias=bias,
                                                        dtype=dtype) for _ in range(3))
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (Dropout(dropout)
                                                                     for _ in range(4))
        self.activation = _activation(type(self).__name__, activation)
        self.norm_first = norm_first

    def __call__(self, tgt: Array, memory: Array, tgt_mask: Any = None, memory_mask: Any = None,
                 tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                 tgt_is_causal: bool = False, memory_is_causal: bool = False, *,
                 key: Any = None) -> Array:  # fmt: skip
        ks, km, k0, k1, k2, k3 = split_key(key, 6)
        x, mem = vnp.asarray(tgt), vnp.asarray(memory)

        def sa(y: Array) -> Array:
            out, _ = self.self_attn(y, y, y, key_padding_mask=tgt_key_padding_mask,
                                    need_weights=False, attn_mask=tgt_mask,
                                    is_causal=tgt_is_causal, dropout_key=ks)
            return self.dropout1(out, key=k1)

        def mha(y: Array) -> Array:
            out, _ = self.multihead_attn(y, mem, mem, key_padding_mask=memory_key_padding_mask,
                                         need_weights=False, attn_mask=memory_mask,
                                         is_causal=memory_is_causal, dropout_key=km)
            return self.dropout2(out, key=k2)

        def ff(y: Array) -> Array:
            h = self.dropout(self.activation(self.linear1(y)), key=k0)
            return self.dropout3(self.linear2(h), key=k3)

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + mha(self.norm2(x))
            return x + ff(self.norm3(x))
        x = self.norm1(x + sa(x))
        x = self.norm2(x + mha(x))
        return self.norm3(x + ff(x))
