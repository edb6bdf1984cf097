"""Neural-network layers as `(init_fun, apply_fun)` pairs, with JAX's `stax` names and semantics.

A layer is a pair of functions: `init_fun(rng, input_shape) -> (output_shape, params)` draws
parameters for an input shape, and `apply_fun(params, inputs, **kwargs)` applies the layer.
`serial` and `parallel` compose layers into layers. Shapes include the batch axis; conv layers
default to JAX's NHWC / HWIO layout.

Example:
    >>> import vfunc.numpy as vnp
    >>> from vfunc import random
    >>> init, apply = serial(Dense(4), Relu, Dense(2), LogSoftmax)
    >>> out_shape, params = init(random.PRNGKey(0), (-1, 3))
    >>> out_shape, apply(params, vnp.ones((5, 3))).shape
    ((-1, 2), (5, 2))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import vfunc.numpy as vnp
from vfunc import lax, random
from vfunc.core import ShapeDtypeStruct
from vfunc.nn import activations
from vfunc.nn.initializers import glorot_normal, normal, ones, zeros
from vfunc.scipy.special import log_softmax, softmax
from vfunc.transforms.staging import eval_shape

__all__ = [
    "AvgPool", "BatchNorm", "Conv", "Dense", "Dropout", "Elu", "Exp", "FanInConcat", "FanInSum",
    "FanOut", "Flatten", "Gelu", "GeneralConv", "Identity", "LeakyRelu", "LogSoftmax", "MaxPool",
    "Relu", "Selu", "Sigmoid", "Softmax", "Softplus", "SumPool", "Tanh", "elementwise",
    "parallel", "serial", "shape_dependent",
]  # fmt: skip

# JAX's default initializers, made once (as JAX's argument defaults are).
_GLOROT_NORMAL = glorot_normal()
_NORMAL = normal()
_NORMAL_1E6 = normal(1e-6)

Shape = tuple[int, ...]
Layer = tuple[Callable[..., Any], Callable[..., Any]]


def _abstract_shape(fun: Callable[..., Any], *shapes: Sequence[int]) -> Shape:
    """The output shape of `fun` on float32 arrays of `shapes`; a -1 (unknown batch) stays -1."""
    concrete = [tuple(1 if d == -1 else d for d in s) for s in shapes]
    out = eval_shape(fun, *[ShapeDtypeStruct(s, vnp.float32) for s in concrete]).shape
    unknown_batch = any(s and s[0] == -1 for s in shapes)
    return (-1, *out[1:]) if unknown_batch else tuple(out)


def Dense(out_dim: int, W_init: Callable = _GLOROT_NORMAL, b_init: Callable = _NORMAL) -> Layer:  # noqa: N802, N803
    """A fully connected layer `inputs @ W + b`, `W` of shape `(in, out_dim)`, as JAX's.

    Example:
        >>> from vfunc import random
        >>> shape, (W, b) = Dense(3)[0](random.PRNGKey(0), (-1, 2))
        >>> shape, W.shape, b.shape
        ((-1, 3), (2, 3), (3,))
    """

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        k1, k2 = random.split(rng)
        W, b = W_init(k1, (input_shape[-1], out_dim)), b_init(k2, (out_dim,))  # noqa: N806
        return (*input_shape[:-1], out_dim), (W, b)

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        W, b = params  # noqa: N806
        return vnp.dot(inputs, W) + b

    return init_fun, apply_fun


def GeneralConv(  # noqa: N802
    dimension_numbers: tuple[str, str, str],
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    W_init: Callable | None = None,  # noqa: N803
    b_init: Callable = _NORMAL_1E6,
) -> Layer:
    """A convolution with bias in the layout `dimension_numbers` (e.g. `('NHWC', 'HWIO',
    'NHWC')`), as JAX's: the kernel is drawn by `W_init` (glorot normal over its I and O axes),
    the bias (shaped to broadcast over the output, size `out_chan` on its C axis) by `b_init`."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    one = (1,) * len(filter_shape)
    strides = tuple(strides or one)
    W_init = W_init or glorot_normal(rhs_spec.index("I"), rhs_spec.index("O"))  # noqa: N806

    def conv(inputs: Any, W: Any) -> Any:  # noqa: N803
        return lax.conv_general_dilated(inputs, W, strides, padding, one, one,
                                        dimension_numbers=dimension_numbers)  # fmt: skip

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        sizes = iter(filter_shape)
        in_chan = input_shape[lhs_spec.index("C")]
        kernel_shape = tuple(
            out_chan if c == "O" else in_chan if c == "I" else next(sizes) for c in rhs_spec
        )
        output_shape = _abstract_shape(conv, input_shape, kernel_shape)
        bias_shape = tuple(out_chan if c == "C" else 1 for c in out_spec)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, kernel_shape), b_init(k2, bias_shape))

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        W, b = params  # noqa: N806
        return conv(inputs, W) + b

    return init_fun, apply_fun


def Conv(  # noqa: N802
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    W_init: Callable | None = None,  # noqa: N803
    b_init: Callable = _NORMAL_1E6,
) -> Layer:
    """A 2-D convolution in JAX's default NHWC / HWIO layout: `GeneralConv` with those specs."""
    return GeneralConv(("NHWC", "HWIO", "NHWC"), out_chan, filter_shape, strides, padding,
                       W_init, b_init)  # fmt: skip


def BatchNorm(  # noqa: N802
    axis: int | Sequence[int] = (0, 1, 2),
    epsilon: float = 1e-5,
    center: bool = True,
    scale: bool = True,
    beta_init: Callable = zeros,
    gamma_init: Callable = ones,
) -> Layer:
    """Normalizes over `axis` with the batch's own statistics, then scales by `gamma` and
    shifts by `beta` (each optional), as JAX's stax `BatchNorm` (which keeps no running
    statistics: training and evaluation normalize alike)."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        shape = tuple(d for i, d in enumerate(input_shape) if i not in axes)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, shape) if center else ()
        gamma = gamma_init(k2, shape) if scale else ()
        return input_shape, (beta, gamma)

    def apply_fun(params: Any, x: Any, **kwargs: Any) -> Any:
        beta, gamma = params
        kept = tuple(None if i in axes else slice(None) for i in range(vnp.ndim(x)))
        z = activations.standardize(x, axes, epsilon=epsilon)
        if scale:
            z = gamma[kept] * z
        if center:
            z = z + beta[kept]
        return z

    return init_fun, apply_fun


def elementwise(fun: Callable[..., Any], **fun_kwargs: Any) -> Layer:
    """A parameterless layer applying `fun(inputs, **fun_kwargs)`.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.nn import leaky_relu
        >>> elementwise(leaky_relu, negative_slope=0.5)[1]((), vnp.array([-2.0, 2.0]))
        Array([-1.,  2.], dtype=float32)
    """

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return input_shape, ()

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        return fun(inputs, **fun_kwargs)

    return init_fun, apply_fun


# fmt: off
Tanh = elementwise(vnp.tanh)
Relu = elementwise(activations.relu)
Exp = elementwise(vnp.exp)
LogSoftmax = elementwise(log_softmax, axis=-1)
Softmax = elementwise(softmax, axis=-1)
Softplus = elementwise(activations.softplus)
Sigmoid = elementwise(activations.sigmoid)
Elu = elementwise(activations.elu)
LeakyRelu = elementwise(activations.leaky_relu)
Selu = elementwise(activations.selu)
Gelu = elementwise(activations.gelu)
# fmt: on


def _pooling_layer(reducer: Callable, init_val: float, average: bool = False) -> Callable:
    def PoolingLayer(  # noqa: N802
        window_shape: Sequence[int],
        strides: Sequence[int] | None = None,
        padding: str = "VALID",
        spec: str | None = None,
    ) -> Layer:
        strides = tuple(strides or (1,) * len(window_shape))
        window, stride = tuple(window_shape), strides
        # The window and strides cover every axis: 1 on the batch and channel axes.
        non_spatial = (0, len(window) + 1) if spec is None else (spec.index("N"), spec.index("C"))
        for i in sorted(non_spatial):
            window, stride = (*window[:i], 1, *window[i:]), (*stride[:i], 1, *stride[i:])

        def pool(inputs: Any) -> Any:
            out = lax.reduce_window(inputs, init_val, reducer, window, stride, padding)
            if not average:
                return out
            # Divide by the number of inputs in each window (fewer at a padded edge), as JAX.
            counts = lax.reduce_window(vnp.ones_like(inputs), 0.0, lax.add, window, stride,
                                       padding)  # fmt: skip
            return out / counts

        def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
            return _abstract_shape(pool, input_shape), ()

        def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
            return pool(inputs)

        return init_fun, apply_fun

    return PoolingLayer


MaxPool = _pooling_layer(lax.max, -math.inf)
MaxPool.__doc__ = "Max-pooling over `window_shape` (spatial axes; NHWC unless `spec`)."
SumPool = _pooling_layer(lax.add, 0.0)
SumPool.__doc__ = "Sum-pooling over `window_shape` (spatial axes; NHWC unless `spec`)."
AvgPool = _pooling_layer(lax.add, 0.0, average=True)
AvgPool.__doc__ = "Average-pooling over `window_shape` (spatial axes; NHWC unless `spec`)."


def _flatten_init(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
    return (input_shape[0], math.prod(input_shape[1:])), ()


Flatten: Layer = (
    _flatten_init,
    lambda params, inputs, **kwargs: vnp.reshape(inputs, (inputs.shape[0], -1)),
)
"""Flattens every axis but the first (the batch)."""

Identity: Layer = (
    lambda rng, input_shape: (input_shape, ()),
    lambda params, inputs, **kwargs: inputs,
)
"""Passes its input through unchanged."""


def FanOut(num: int) -> Layer:  # noqa: N802
    """Copies its input into a list of `num` inputs (for `parallel`)."""
    return (lambda rng, input_shape: ([input_shape] * num, ()),
            lambda params, inputs, **kwargs: [inputs] * num)  # fmt: skip


def _sum_inputs(params: Any, inputs: Any, **kwargs: Any) -> Any:
    total = inputs[0]
    for x in inputs[1:]:
        total = total + x
    return total


FanInSum: Layer = (lambda rng, input_shape: (input_shape[0], ()), _sum_inputs)
"""Sums a list of inputs (after `parallel`)."""


def FanInConcat(axis: int = -1) -> Layer:  # noqa: N802
    """Concatenates a list of inputs along `axis` (after `parallel`)."""

    def init_fun(rng: Any, input_shape: list[Shape]) -> tuple[Shape, Any]:
        ax = axis % len(input_shape[0])
        size = sum(shape[ax] for shape in input_shape)
        return (*input_shape[0][:ax], size, *input_shape[0][ax + 1 :]), ()

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        return vnp.concatenate(inputs, axis)

    return init_fun, apply_fun


def Dropout(rate: float, mode: str = "train") -> Layer:  # noqa: N802
    """Dropout as JAX's stax: in `mode='train'` each input is KEPT with probability `rate`
    (and scaled by `1 / rate`), so `rate` is the keep probability, as in JAX's code; with any
    other mode the layer is the identity. `apply_fun` needs an `rng=` key.

    Raises:
        ValueError: `apply_fun` was called without `rng=`.
    """

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return input_shape, ()

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        rng = kwargs.get("rng")
        if rng is None:
            raise ValueError(
                "stax.Dropout: apply_fun needs a PRNG key: call apply_fun(params, inputs, "
                "rng=key) with a key from vfunc.random.PRNGKey."
            )
        if mode != "train":
            return inputs
        keep = random.bernoulli(rng, rate, inputs.shape)
        return vnp.where(keep, inputs / rate, 0)

    return init_fun, apply_fun


def serial(*layers: Layer) -> Layer:
    """Composes layers in sequence; parameters are a list, one entry per layer. A `rng=` key
    given to `apply_fun` is split into one per layer."""
    init_funs, apply_funs = zip(*layers, strict=True) if layers else ((), ())

    def init_fun(rng: Any, input_shape: Any) -> tuple[Any, list]:
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, len(layers)) if rng is not None else (None,) * len(layers)
        for fun, param, layer_rng in zip(apply_funs, params, rngs, strict=True):
            inputs = fun(param, inputs, rng=layer_rng, **kwargs)
        return inputs

    return init_fun, apply_fun


def parallel(*layers: Layer) -> Layer:
    """Applies layer `i` to input `i` of a list of inputs; use with `FanOut` and `FanInSum`."""
    init_funs, apply_funs = zip(*layers, strict=True) if layers else ((), ())

    def init_fun(rng: Any, input_shape: Sequence[Any]) -> tuple[Any, Any]:
        rngs = random.split(rng, len(layers))
        pairs = [init(r, s) for init, r, s in zip(init_funs, rngs, input_shape, strict=True)]
        shapes, params = zip(*pairs, strict=True)
        return shapes, params

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> list:
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, len(layers)) if rng is not None else (None,) * len(layers)
        return [f(p, x, rng=r, **kwargs)
                for f, p, x, r in zip(apply_funs, params, inputs, rngs, strict=True)]  # fmt: skip

    return init_fun, apply_fun


def shape_dependent(make_layer: Callable[[Shape], Layer]) -> Layer:
    """A layer built by `make_layer(input_shape)` once the input shape is known."""

    def init_fun(rng: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params: Any, inputs: Any, **kwargs: Any) -> Any:
        return make_layer(inputs.shape)[1](params, inputs, **kwargs)

    return init_fun, apply_fun
