"""Record PyTorch reference outputs and gradients for vfunc.nn's layers, and optax/PyTorch
reference values for vfunc.losses, into tests/fixtures/nn/*.npz. Run once, in the scratch venv:

    /work/scratch/bin/python scripts/record_fixtures/record_nn.py [NAME ...]

With names, only those fixtures are (re)recorded; every fixture is seeded by its own name, so
recording one never changes another.

Each layer fixture holds: the constructor (name, args, kwargs as JSON), the mode, the PyTorch
state dict, the inputs, the outputs, a fixed random cotangent per output, and the gradients of
sum(out * cotangent) with respect to every float input and every parameter; in training mode
also the updated buffers.
"""

import json
import os
import sys
import zlib

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "nn")
ONLY = set(sys.argv[1:])
torch.manual_seed(0)


def module(ctor, *args, **kwargs):
    """A constructor argument that is itself a layer (TransformerEncoder's encoder_layer): a
    JSON spec in the fixture's meta, built into a torch module here and a vfunc one by the test."""
    return {"module": ctor, "args": list(args), "kwargs": kwargs}


def torch_arg(a):
    if isinstance(a, dict) and "module" in a:
        return getattr(torch.nn, a["module"])(*map(torch_arg, a["args"]), **a["kwargs"])
    return a


def flat_outputs(out):
    if isinstance(out, torch.Tensor):
        return [out]
    res = []
    for o in out:
        if o is None:
            continue
        res.extend(flat_outputs(o))
    return res


def record(name, ctor, args=(), kwargs=None, inputs=(), call_kwargs=None, train=False,
           dtype=torch.float32, hx_nested=False):
    if ONLY and name not in ONLY:
        return
    kwargs = kwargs or {}
    call_kwargs = call_kwargs or {}
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(zlib.crc32(name.encode()))  # the layer's own initialisation
    mod = getattr(torch.nn, ctor)(*map(torch_arg, args),
                                  **{k: torch_arg(v) for k, v in kwargs.items()}).to(dtype)
    with torch.no_grad():  # non-trivial affine/norm parameters so they are tested
        for pname, p in mod.named_parameters():
            if "norm" in ctor.lower() or pname.endswith("bias") or ctor in ("LayerNorm",):
                p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=dtype))
        for bname, b in mod.named_buffers():
            if bname.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=gen, dtype=dtype))
            if bname.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen, dtype=dtype))
            if bname.endswith("num_batches_tracked"):
                b.fill_(7)
    mod.train(train)
    sd = {k: v.detach().clone().numpy() for k, v in mod.state_dict().items()}
    ins = []
    for spec in inputs:
        if isinstance(spec, torch.Tensor):  # given values (LPPool needs positive inputs)
            ins.append(spec)
        elif isinstance(spec, np.ndarray):
            t = torch.from_numpy(spec)
            ins.append(t)
        else:
            t = torch.randn(spec, generator=gen, dtype=dtype).requires_grad_(True)
            ins.append(t)
    hx = call_kwargs.pop("hx", None)
    call_args = list(ins)
    if hx is not None:
        hx_t = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True) for s in hx]
        call_args.append(tuple(hx_t) if hx_nested else hx_t[0])
        ins_all = ins + hx_t
    else:
        ins_all = ins
    out = flat_outputs(mod(*call_args, **call_kwargs))
    cts = [torch.randn(o.shape, generator=gen, dtype=dtype) for o in out]
    total = sum((o * c).sum() for o, c in zip(out, cts, strict=True))
    params = dict(mod.named_parameters())
    wrt = [t for t in ins_all if t.requires_grad] + list(params.values())
    grads = torch.autograd.grad(total, wrt, allow_unused=True)
    data = {}
    meta = dict(ctor=ctor, args=list(args), kwargs=kwargs, train=train,
                call_kwargs={k: v for k, v in call_kwargs.items()
                             if not isinstance(v, torch.Tensor)},
                tensor_kwargs=[k for k, v in call_kwargs.items() if isinstance(v, torch.Tensor)],
                n_inputs=len(ins), hx=None if hx is None else len(hx), hx_nested=hx_nested,
                dtype=str(dtype).replace("torch.", ""))
    data["meta"] = np.array(json.dumps(meta))
    for k, v in sd.items():
        data["sd." + k] = v
    for i, t in enumerate(ins_all):
        data[f"in.{i}"] = t.detach().numpy()
    for k, v in call_kwargs.items():
        if isinstance(v, torch.Tensor):
            data["kw." + k] = v.numpy()
    for i, (o, c) in enumerate(zip(out, cts, strict=True)):
        data[f"out.{i}"] = o.detach().numpy()
        data[f"ct.{i}"] = c.numpy()
    n_in = sum(t.requires_grad for t in ins_all)
    gi = 0
    for i, t in enumerate(ins_all):
        if t.requires_grad:
            data[f"gin.{i}"] = grads[gi].numpy()
            gi += 1
    for (pname, _), g in zip(params.items(), grads[n_in:], strict=True):
        if g is not None:
            data["gsd." + pname] = g.numpy()
    if train:
        for k, v in mod.state_dict().items():
            if "running" in k or "num_batches" in k:
                data["newsd." + k] = v.numpy()
    np.savez_compressed(os.path.join(OUT, name + ".npz"), **data)


def layers():
    f64 = torch.float64
    r = record
    r("linear", "Linear", (5, 3), inputs=[(4, 5)])
    r("linear_unbatched", "Linear", (5, 3), inputs=[(5,)])
    r("linear_nobias_3d", "Linear", (5, 3), {"bias": False}, inputs=[(2, 4, 5)])
    r("linear_f64", "Linear", (5, 3), inputs=[(4, 5)], dtype=f64)
    r("conv1d", "Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}, inputs=[(2, 3, 9)])
    r("conv1d_unbatched", "Conv1d", (3, 4, 3), inputs=[(3, 9)])
    r("conv2d", "Conv2d", (3, 4, 3), {"padding": 1}, inputs=[(2, 3, 8, 8)])
    r("conv2d_f64", "Conv2d", (3, 4, 3), {"padding": 1}, inputs=[(2, 3, 8, 8)], dtype=f64)
    r("conv2d_groups", "Conv2d", (4, 6, 3), {"stride": 2, "padding": 2, "dilation": 2,
                                             "groups": 2}, inputs=[(2, 4, 9, 9)])
    r("conv2d_same", "Conv2d", (2, 3, (3, 4)), {"padding": "same", "dilation": (1, 2)},
      inputs=[(2, 2, 7, 8)])
    r("conv2d_valid_nobias", "Conv2d", (2, 3, 2), {"padding": "valid", "bias": False},
      inputs=[(2, 5, 5)])
    for mode in ("reflect", "replicate", "circular"):
        r(f"conv2d_{mode}", "Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": mode},
          inputs=[(2, 2, 6, 5)])
    r("conv3d", "Conv3d", (2, 3, 2), {"stride": (1, 2, 1)}, inputs=[(1, 2, 4, 5, 4)])
    r("convt1d", "ConvTranspose1d", (3, 2, 3), {"stride": 2, "padding": 1}, inputs=[(2, 3, 5)])
    r("convt2d", "ConvTranspose2d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1,
                                                "groups": 2}, inputs=[(2, 4, 5, 5)])
    r("convt2d_dil", "ConvTranspose2d", (2, 3, 2), {"dilation": 2, "bias": False},
      inputs=[(2, 4, 4)])
    r("convt3d", "ConvTranspose3d", (2, 2, 2), {"stride": 2}, inputs=[(1, 2, 3, 3, 3)])
    r("maxpool2d", "MaxPool2d", (3, 2, 1), inputs=[(2, 3, 9, 9)])
    r("maxpool2d_ceil", "MaxPool2d", (3, 2), {"ceil_mode": True}, inputs=[(2, 3, 8, 8)])
    r("maxpool1d_dil", "MaxPool1d", (2,), {"stride": 1, "dilation": 2}, inputs=[(2, 3, 9)])
    r("maxpool3d", "MaxPool3d", (2,), inputs=[(1, 2, 4, 4, 4)])
    r("avgpool2d", "AvgPool2d", (3, 2, 1), inputs=[(2, 3, 9, 9)])
    r("avgpool2d_nopad", "AvgPool2d", (3, 2, 1), {"count_include_pad": False, "ceil_mode": True},
      inputs=[(2, 3, 8, 8)])
    r("avgpool2d_ceil", "AvgPool2d", (3, 2, 1), {"ceil_mode": True}, inputs=[(2, 3, 8, 8)])
    r("avgpool1d", "AvgPool1d", (3,), {"stride": 2}, inputs=[(3, 10)])
    r("avgpool3d", "AvgPool3d", (2,), inputs=[(1, 2, 4, 4, 4)])
    r("adaptiveavg2d", "AdaptiveAvgPool2d", ((3, 2),), inputs=[(2, 3, 7, 5)])
    r("adaptiveavg2d_1", "AdaptiveAvgPool2d", (1,), inputs=[(2, 3, 4, 4)])
    r("adaptiveavg1d", "AdaptiveAvgPool1d", (4,), inputs=[(2, 3, 10)])
    r("adaptivemax1d", "AdaptiveMaxPool1d", (3,), inputs=[(2, 3, 8)])
    r("adaptivemax2d", "AdaptiveMaxPool2d", ((3, 3),), inputs=[(2, 3, 8, 7)])
    for train in (True, False):
        t = "train" if train else "eval"
        r(f"bn1d_{t}", "BatchNorm1d", (4,), inputs=[(8, 4)], train=train)
        r(f"bn1d_3d_{t}", "BatchNorm1d", (4,), inputs=[(3, 4, 5)], train=train)
        r(f"bn2d_{t}", "BatchNorm2d", (3,), inputs=[(4, 3, 5, 5)], train=train)
        r(f"bn2d_{t}_f64", "BatchNorm2d", (3,), inputs=[(4, 3, 5, 5)], train=train, dtype=f64)
    r("bn2d_cumulative_train", "BatchNorm2d", (3,), {"momentum": None}, inputs=[(4, 3, 2, 2)],
      train=True)
    r("bn2d_noaffine_train", "BatchNorm2d", (3,), {"affine": False}, inputs=[(4, 3, 2, 2)],
      train=True)
    r("bn2d_nostats_eval", "BatchNorm2d", (3,), {"track_running_stats": False},
      inputs=[(4, 3, 2, 2)])
    r("bn3d_train", "BatchNorm3d", (2,), inputs=[(2, 2, 3, 3, 3)], train=True)
    r("layernorm", "LayerNorm", (5,), inputs=[(3, 4, 5)])
    r("layernorm_2d", "LayerNorm", ((4, 5),), {"eps": 1e-3}, inputs=[(3, 4, 5)])
    r("layernorm_f64", "LayerNorm", (5,), inputs=[(3, 5)], dtype=f64)
    r("groupnorm", "GroupNorm", (2, 6), inputs=[(3, 6, 4)])
    r("rmsnorm", "RMSNorm", (5,), inputs=[(3, 5)])
    r("instancenorm2d", "InstanceNorm2d", (3,), {"affine": True}, inputs=[(2, 3, 4, 5)])
    r("instancenorm2d_stats_train", "InstanceNorm2d", (3,), {"track_running_stats": True},
      inputs=[(2, 3, 4, 5)], train=True)
    r("instancenorm1d_stats_eval", "InstanceNorm1d", (3,), {"track_running_stats": True,
                                                            "affine": True}, inputs=[(2, 3, 6)])
    r("instancenorm2d_unbatched", "InstanceNorm2d", (3,), inputs=[(3, 4, 5)])
    r("embedding", "Embedding", (10, 4), {"padding_idx": 2},
      inputs=[np.array([[1, 2, 3, 2, 9], [0, 0, 5, 2, 7]])])
    r("lstm", "LSTM", (4, 6), {"num_layers": 2}, inputs=[(7, 3, 4)])
    r("lstm_f64", "LSTM", (4, 6), inputs=[(5, 2, 4)], dtype=f64)
    r("lstm_bi_bf", "LSTM", (4, 5), {"bidirectional": True, "batch_first": True},
      inputs=[(3, 6, 4)], call_kwargs={"hx": [(2, 3, 5), (2, 3, 5)]}, hx_nested=True)
    r("lstm_unbatched", "LSTM", (3, 4), inputs=[(5, 3)])
    r("gru_bi", "GRU", (4, 5), {"bidirectional": True, "num_layers": 2}, inputs=[(6, 2, 4)])
    r("gru_hx", "GRU", (4, 5), inputs=[(6, 2, 4)], call_kwargs={"hx": [(1, 2, 5)]})
    r("rnn_relu", "RNN", (4, 5), {"nonlinearity": "relu", "bias": False}, inputs=[(6, 2, 4)])
    r("rnn_tanh_bf", "RNN", (4, 5), {"batch_first": True, "num_layers": 2}, inputs=[(2, 6, 4)])
    r("lstmcell", "LSTMCell", (4, 5), inputs=[(3, 4)], call_kwargs={"hx": [(3, 5), (3, 5)]},
      hx_nested=True)
    r("lstmcell_unbatched", "LSTMCell", (4, 5), inputs=[(4,)])
    r("grucell", "GRUCell", (4, 5), inputs=[(3, 4)], call_kwargs={"hx": [(3, 5)]})
    r("rnncell", "RNNCell", (4, 5), {"nonlinearity": "relu"}, inputs=[(3, 4)])
    r("mha", "MultiheadAttention", (8, 2), inputs=[(5, 3, 8), (6, 3, 8), (6, 3, 8)])
    r("mha_f64", "MultiheadAttention", (8, 2), inputs=[(5, 3, 8), (6, 3, 8), (6, 3, 8)],
      dtype=f64)
    kpm = np.zeros((3, 6), bool)
    kpm[1, 4:] = True
    r("mha_masks_bf", "MultiheadAttention", (8, 4), {"batch_first": True},
      inputs=[(3, 5, 8), (3, 6, 8), (3, 6, 8)],
      call_kwargs={"key_padding_mask": torch.from_numpy(kpm),
                   "attn_mask": torch.randn(5, 6, generator=torch.Generator().manual_seed(1)),
                   "average_attn_weights": False})
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    r("mha_causal_unbatched", "MultiheadAttention", (8, 2), inputs=[(5, 8), (5, 8), (5, 8)],
      call_kwargs={"attn_mask": causal, "is_causal": True})
    r("mha_noweights", "MultiheadAttention", (8, 2), {"bias": False},
      inputs=[(5, 3, 8), (5, 3, 8), (5, 3, 8)], call_kwargs={"need_weights": False})
    r("encoder", "TransformerEncoderLayer", (8, 2, 16), {"dropout": 0.0}, inputs=[(5, 3, 8)],
      train=True)
    r("encoder_normfirst_gelu_bf", "TransformerEncoderLayer", (8, 2, 16),
      {"dropout": 0.0, "norm_first": True, "activation": "gelu", "batch_first": True},
      inputs=[(3, 5, 8)], call_kwargs={"src_mask": causal, "is_causal": True})
    r("decoder", "TransformerDecoderLayer", (8, 2, 16), {"dropout": 0.0},
      inputs=[(5, 3, 8), (4, 3, 8)])
    r("decoder_normfirst", "TransformerDecoderLayer", (8, 2, 16),
      {"dropout": 0.0, "norm_first": True}, inputs=[(5, 3, 8), (4, 3, 8)],
      call_kwargs={"tgt_mask": causal, "tgt_is_causal": True})
    r("pixelshuffle", "PixelShuffle", (2,), inputs=[(2, 8, 3, 3)])
    r("pixelunshuffle", "PixelUnshuffle", (2,), inputs=[(2, 2, 4, 6)])
    r("upsample_nearest", "Upsample", (), {"scale_factor": 2}, inputs=[(2, 3, 4, 5)])
    r("upsample_nearest_size", "Upsample", (), {"size": (7, 3)}, inputs=[(2, 3, 4, 5)])
    r("upsample_bilinear", "Upsample", (), {"scale_factor": 2, "mode": "bilinear"},
      inputs=[(2, 3, 4, 5)])
    r("upsample_bilinear_ac", "Upsample", (), {"size": (7, 9), "mode": "bilinear",
                                               "align_corners": True}, inputs=[(2, 3, 4, 5)])
    r("upsample_linear", "Upsample", (), {"scale_factor": 3, "mode": "linear"},
      inputs=[(2, 3, 4)])
    r("bilinear", "Bilinear", (3, 4, 5), inputs=[(6, 3), (6, 4)])
    r("bilinear_unbatched_nobias", "Bilinear", (3, 4, 5), {"bias": False}, inputs=[(3,), (4,)])
    r("bilinear_3d_f64", "Bilinear", (3, 4, 5), inputs=[(2, 6, 3), (2, 6, 4)], dtype=f64)
    r("mha_kvdim", "MultiheadAttention", (8, 2), {"kdim": 5, "vdim": 3},
      inputs=[(5, 3, 8), (6, 3, 5), (6, 3, 3)])
    r("mha_kvdim_f64", "MultiheadAttention", (8, 2), {"kdim": 5, "vdim": 3},
      inputs=[(5, 3, 8), (6, 3, 5), (6, 3, 3)], dtype=f64)
    r("mha_bias_kv_zero_attn", "MultiheadAttention", (8, 2),
      {"add_bias_kv": True, "add_zero_attn": True}, inputs=[(5, 3, 8), (6, 3, 8), (6, 3, 8)],
      call_kwargs={"key_padding_mask": torch.from_numpy(kpm),
                   "attn_mask": torch.randn(5, 6, generator=torch.Generator().manual_seed(2))})
    r("mha_bias_kv_kdim_bf", "MultiheadAttention", (8, 4),
      {"add_bias_kv": True, "batch_first": True, "kdim": 6},
      inputs=[(3, 5, 8), (3, 6, 6), (3, 6, 8)], call_kwargs={"average_attn_weights": False})
    r("mha_bias_kv_unbatched_causal", "MultiheadAttention", (8, 2), {"add_bias_kv": True},
      inputs=[(5, 8), (5, 8), (5, 8)], call_kwargs={"attn_mask": causal, "is_causal": True})
    r("mha_zero_attn_f64", "MultiheadAttention", (8, 2), {"add_zero_attn": True, "vdim": 4},
      inputs=[(5, 3, 8), (6, 3, 8), (6, 3, 4)], dtype=f64)
    r("lstm_proj", "LSTM", (4, 6), {"num_layers": 2, "proj_size": 3}, inputs=[(7, 3, 4)])
    r("lstm_proj_bi_bf_hx", "LSTM", (4, 6), {"proj_size": 2, "bidirectional": True,
                                             "batch_first": True},
      inputs=[(3, 5, 4)], call_kwargs={"hx": [(2, 3, 2), (2, 3, 6)]}, hx_nested=True)
    r("lstm_proj_unbatched_f64", "LSTM", (4, 5), {"proj_size": 3, "num_layers": 2},
      inputs=[(6, 4)], dtype=f64)
    r("maxpool2d_indices", "MaxPool2d", (3, 2, 1), {"return_indices": True},
      inputs=[(2, 3, 9, 9)])
    r("maxpool2d_indices_f64", "MaxPool2d", (2,), {"return_indices": True, "ceil_mode": True},
      inputs=[(2, 3, 5, 7)], dtype=f64)
    r("maxpool1d_indices_dil_ceil", "MaxPool1d", (3, 2, 1),
      {"dilation": 2, "ceil_mode": True, "return_indices": True}, inputs=[(2, 3, 10)])
    r("maxpool3d_indices_unbatched", "MaxPool3d", (2,), {"return_indices": True},
      inputs=[(2, 4, 4, 5)])
    gen = torch.Generator().manual_seed(3)
    _, idx = torch.nn.functional.max_pool2d(torch.randn(2, 3, 9, 9, generator=gen), 2,
                                            return_indices=True)
    r("maxunpool2d", "MaxUnpool2d", (2,), inputs=[(2, 3, 4, 4), idx.numpy()],
      call_kwargs={"output_size": [9, 9]})
    _, idx = torch.nn.functional.max_pool1d(torch.randn(3, 8, generator=gen), 3, 2, 1,
                                            return_indices=True)
    r("maxunpool1d_unbatched", "MaxUnpool1d", (3, 2, 1), inputs=[(3, 4), idx.numpy()])
    _, idx = torch.nn.functional.max_pool2d(torch.randn(2, 3, 8, 8, generator=gen), 2,
                                            return_indices=True)
    r("maxunpool2d_f64", "MaxUnpool2d", (2,), inputs=[(2, 3, 4, 4), idx.numpy()], dtype=f64)
    r("upsample_bicubic", "Upsample", (), {"scale_factor": 2, "mode": "bicubic"},
      inputs=[(2, 3, 4, 5)])
    r("upsample_bicubic_ac", "Upsample", (), {"size": (7, 9), "mode": "bicubic",
                                              "align_corners": True}, inputs=[(2, 3, 4, 5)])
    r("upsample_bicubic_down_f64", "Upsample", (), {"size": (3, 4), "mode": "bicubic"},
      inputs=[(1, 2, 5, 7)], dtype=f64)
    r("upsample_trilinear", "Upsample", (), {"scale_factor": (2, 1.5, 2), "mode": "trilinear"},
      inputs=[(1, 2, 3, 4, 3)])
    r("upsample_trilinear_ac_f64", "Upsample", (), {"size": (4, 5, 2), "mode": "trilinear",
                                                    "align_corners": True},
      inputs=[(1, 2, 3, 4, 3)], dtype=f64)
    enc = module("TransformerEncoderLayer", 8, 2, 16, dropout=0.0)
    r("tencoder", "TransformerEncoder", (enc, 2), {"norm": module("LayerNorm", 8)},
      inputs=[(5, 3, 8)], train=True)
    kpm5 = np.zeros((3, 5), bool)
    kpm5[2, 3:] = True
    r("tencoder_bf_normfirst_masks", "TransformerEncoder",
      (module("TransformerEncoderLayer", 8, 2, 16, dropout=0.0, batch_first=True,
              norm_first=True, activation="gelu"), 3),
      inputs=[(3, 5, 8)], call_kwargs={"mask": causal, "is_causal": True,
                                       "src_key_padding_mask": torch.from_numpy(kpm5)},
      train=True)
    causal4 = torch.triu(torch.ones(4, 4, dtype=torch.bool), 1)
    r("tdecoder", "TransformerDecoder", (module("TransformerDecoderLayer", 8, 2, 16,
                                                dropout=0.0), 2),
      {"norm": module("LayerNorm", 8)}, inputs=[(4, 3, 8), (5, 3, 8)],
      call_kwargs={"tgt_mask": causal4, "tgt_is_causal": True}, train=True)
    small = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                 dim_feedforward=16, dropout=0.0)
    r("transformer", "Transformer", (), small, inputs=[(5, 3, 8), (4, 3, 8)],
      call_kwargs={"tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(4),
                   "src_key_padding_mask": torch.from_numpy(kpm5)}, train=True)
    r("transformer_bf_normfirst_unbatched_f64", "Transformer", (),
      dict(small, batch_first=True, norm_first=True), inputs=[(5, 8), (4, 8)],
      call_kwargs={"tgt_is_causal": True, "tgt_mask": causal4}, dtype=f64, train=True)
    r("instancenorm3d_affine", "InstanceNorm3d", (2,), {"affine": True},
      inputs=[(2, 2, 3, 4, 3)])
    r("instancenorm3d_stats_train_unbatched_f64", "InstanceNorm3d", (2,),
      {"track_running_stats": True}, inputs=[(2, 3, 4, 3)], train=True, dtype=f64)
    r("adaptiveavg3d", "AdaptiveAvgPool3d", ((2, 3, None),), inputs=[(2, 3, 4, 5, 6)])
    r("adaptivemax3d_unbatched", "AdaptiveMaxPool3d", (2,), inputs=[(3, 4, 5, 3)])
    r("zeropad2d", "ZeroPad2d", ((1, 2, 0, 3),), inputs=[(2, 3, 4, 5)])
    r("zeropad1d_crop", "ZeroPad1d", ((-1, 2),), inputs=[(2, 3, 4)])
    r("constantpad3d", "ConstantPad3d", (1, 2.5), inputs=[(1, 2, 2, 3, 2)])
    r("reflectionpad1d_unbatched", "ReflectionPad1d", ((3, 1),), inputs=[(3, 5)])
    r("reflectionpad2d_f64", "ReflectionPad2d", ((1, 2, 2, 1),), inputs=[(2, 3, 4, 5)],
      dtype=f64)
    r("reflectionpad3d", "ReflectionPad3d", (1,), inputs=[(1, 2, 3, 3, 4)])
    r("replicationpad2d", "ReplicationPad2d", ((2, 0, 1, 3),), inputs=[(2, 3, 4, 5)])
    r("replicationpad1d_f64", "ReplicationPad1d", (2,), inputs=[(2, 3, 4)], dtype=f64)
    r("replicationpad3d_unbatched", "ReplicationPad3d", ((1, 0, 2, 1, 0, 1),),
      inputs=[(2, 3, 3, 4)])
    r("circularpad2d", "CircularPad2d", ((1, 2, 3, 0),), inputs=[(2, 3, 4, 5)])
    r("circularpad1d_unbatched", "CircularPad1d", (4,), inputs=[(3, 4)])
    for act, a, shape in [("Softmin", (1,), (3, 8)), ("Softmax2d", (), (2, 3, 4, 5)),
                          ("Tanhshrink", (), (3, 8)), ("Softshrink", (0.3,), (3, 8)),
                          ("Hardshrink", (0.4,), (3, 8)), ("Threshold", (0.1, -2.0), (3, 8))]:
        r("act_" + act.lower(), act, a, inputs=[shape])
    r("upsamplingnearest2d", "UpsamplingNearest2d", (), {"scale_factor": 2},
      inputs=[(2, 3, 3, 4)])
    r("upsamplingbilinear2d", "UpsamplingBilinear2d", ((5, 7),), inputs=[(2, 3, 3, 4)])
    r("lrn", "LocalResponseNorm", (3,), {"alpha": 0.1, "beta": 0.6, "k": 1.5},
      inputs=[(2, 5, 4, 3)])
    r("lrn_3d_f64", "LocalResponseNorm", (2,), inputs=[(2, 4, 6)], dtype=f64)
    r("channelshuffle", "ChannelShuffle", (3,), inputs=[(2, 6, 2, 3)])
    r("cosinesimilarity", "CosineSimilarity", (), inputs=[(3, 4, 5), (3, 4, 5)])
    r("cosinesimilarity_bcast_f64", "CosineSimilarity", (-1,), inputs=[(3, 4, 5), (4, 1)],
      dtype=f64)
    r("pairwisedistance", "PairwiseDistance", (), inputs=[(6, 5), (6, 5)])
    r("pairwisedistance_p3_keepdim", "PairwiseDistance", (3.0,), {"keepdim": True},
      inputs=[(2, 6, 5), (2, 6, 5)])
    pos = np.abs(np.random.default_rng(4).standard_normal((2, 3, 7, 8))) + 0.1
    r("lppool2d_ceil", "LPPool2d", (2.0, (3, 2)), {"stride": 2, "ceil_mode": True},
      inputs=[torch.from_numpy(pos.astype(np.float32)).requires_grad_(True)])
    r("lppool1d_p3_f64", "LPPool1d", (3, 2), inputs=[(2, 3, 8)], dtype=f64)
    r("lppool3d_unbatched", "LPPool3d", (1.5, 2), inputs=[
        torch.from_numpy(pos[0, :, :4, :6].reshape(3, 4, 2, 3).astype(np.float32) + 0
                         ).requires_grad_(True)])
    r("unfold", "Unfold", ((2, 3),), {"dilation": (1, 2), "padding": 1, "stride": (2, 1)},
      inputs=[(2, 3, 5, 6)])
    r("unfold_unbatched_f64", "Unfold", (2,), inputs=[(2, 4, 4)], dtype=f64)
    r("fold", "Fold", ((5, 6), (2, 3)), {"dilation": (1, 2), "padding": 1, "stride": (2, 1)},
      inputs=[(2, 18, 12)])
    r("fold_unbatched_f64", "Fold", ((4, 4), 2), inputs=[(8, 9)], dtype=f64)
    bags = np.array([[1, 2, 4, 2], [0, 0, 9, 3], [7, 2, 2, 2]])
    r("embeddingbag_mean_pad", "EmbeddingBag", (10, 3), {"padding_idx": 2}, inputs=[bags])
    r("embeddingbag_max", "EmbeddingBag", (10, 3), {"mode": "max"}, inputs=[bags])
    flat, offs = np.array([1, 2, 4, 2, 0, 9, 3, 7]), np.array([0, 3, 3, 5])
    r("embeddingbag_sum_offsets_weights", "EmbeddingBag", (10, 3), {"mode": "sum"},
      inputs=[flat, offs, (8,)])
    r("embeddingbag_mean_lastoffset_f64", "EmbeddingBag", (10, 3),
      {"include_last_offset": True}, inputs=[flat, np.array([0, 2, 2, 8])], dtype=f64)
    r("embeddingbag_max_offsets", "EmbeddingBag", (10, 3), {"mode": "max"},
      inputs=[flat, np.array([0, 1, 4])])
    r("rrelu_eval", "RReLU", (0.1, 0.4), inputs=[(3, 8)])
    r("flatten", "Flatten", (), inputs=[(2, 3, 4, 5)])
    r("unflatten", "Unflatten", (1, (3, 4)), inputs=[(2, 12)])
    for act, a, kw in [("ReLU", (), {}), ("ReLU6", (), {}), ("GELU", (), {}),
                       ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}), ("Tanh", (), {}),
                       ("Sigmoid", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (0.7,), {}),
                       ("CELU", (1.3,), {}), ("SELU", (), {}), ("Softplus", (2.0, 3.0), {}),
                       ("Softsign", (), {}), ("Hardtanh", (-0.5, 0.7), {}), ("Mish", (), {}),
                       ("Hardswish", (), {}), ("Hardsigmoid", (), {}), ("LogSigmoid", (), {}),
                       ("Softmax", (1,), {}), ("LogSoftmax", (-1,), {}), ("GLU", (1,), {}),
                       ("PReLU", (3,), {})]:
        tag = act.lower() + ("_" + "_".join(map(str, kw.values())) if kw else "")
        shape = (2, 3, 4) if act == "PReLU" else (3, 8)
        r("act_" + tag, act, a, kw, inputs=[(shape) if act != "PReLU" else shape])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    layers()
    print("recorded", len(os.listdir(OUT)), "files", file=sys.stderr)
