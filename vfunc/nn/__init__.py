"""``vfunc.nn``: activations as ``jax.nn``, initialisers as ``jax.nn.initializers``, and models
as pytrees: ``Module`` and PyTorch's layers (names, arguments, parameter layouts, state-dict
keys), with ``tree_at``, ``inference_mode``, ``state_dict``/``load_state_dict`` and
``call_with_state`` (see ``vfunc.nn.module`` for the design).

This module only re-exports.
"""

from vfunc.nn import initializers
from vfunc.nn.activation_layers import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from vfunc.nn.activations import (
    celu,
    elu,
    gelu,
    glu,
    hard_tanh,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    one_hot,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    soft_sign,
    softmax,
    softplus,
    sparse_plus,
    standardize,
    swish,
)
from vfunc.nn.attention import (
    MultiheadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    dot_product_attention,
)
from vfunc.nn.containers import (
    Flatten,
    Identity,
    Lambda,
    ModuleDict,
    ModuleList,
    Sequential,
    Unflatten,
)
from vfunc.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from vfunc.nn.distance import CosineSimilarity, PairwiseDistance
from vfunc.nn.dropout import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
from vfunc.nn.fold import Fold, Unfold
from vfunc.nn.linear import Bilinear, Embedding, EmbeddingBag, Linear
from vfunc.nn.module import (
    Module,
    StateDictError,
    call_with_state,
    count_params,
    inference_mode,
    load_state_dict,
    named_modules,
    state_dict,
    static_field,
    tree_at,
)
from vfunc.nn.norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)
from vfunc.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from vfunc.nn.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from vfunc.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from vfunc.nn.resample import (
    ChannelShuffle,
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    interpolate,
)

# jax.nn.normalize is the old name of standardize; both are kept, as in JAX.
normalize = standardize

__all__ = [
    "celu", "elu", "gelu", "glu", "hard_tanh", "leaky_relu", "log_sigmoid", "log_softmax",
    "logsumexp", "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax",
    "softplus", "sparse_plus", "standardize", "normalize", "swish", "dot_product_attention",
    "interpolate",
    "initializers",
    "Module", "StateDictError", "call_with_state", "count_params", "inference_mode",
    "load_state_dict", "named_modules", "state_dict", "static_field", "tree_at",
    "Flatten", "Identity", "Lambda", "Sequential", "Unflatten", "Linear", "Bilinear", "Embedding",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "RMSNorm", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d",
    "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer",
    "PixelShuffle", "PixelUnshuffle", "Upsample",
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "CELU", "ELU", "GELU", "GLU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LeakyReLU",
    "LogSigmoid", "LogSoftmax", "Mish", "PReLU", "ReLU", "ReLU6", "SiLU", "Sigmoid", "Softmax",
    "Softplus", "Softsign", "Tanh", "Softmin", "Softmax2d", "Tanhshrink", "Softshrink",
    "Hardshrink", "Threshold", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "LocalResponseNorm", "ChannelShuffle", "CosineSimilarity", "PairwiseDistance", "LPPool1d",
    "LPPool2d", "LPPool3d", "Fold", "Unfold", "ModuleList", "ModuleDict",
    "AlphaDropout", "FeatureAlphaDropout", "EmbeddingBag", "RReLU",
]  # fmt: skip
