"""Record the PyTorch fixtures of tests/test_io_torch.py (run once, with the scratch venv).

    cd <worktree> && PYTHONPATH=$PWD /work/scratch/bin/python scripts/record_fixtures/record_io.py

Writes tests/fixtures/io/: state dicts of a small network saved by `safetensors.torch.save_file`
in float32, bfloat16 and float16 and under DataParallel's "module." prefix, and an .npz with an
input batch, the network's eval-mode output and the exact float32 values of the 16-bit weights.
Then checks the other direction: a file written by vfunc.io.save_state_dict loads into PyTorch
with load_state_dict(strict=True) and gives the same output (printed; nothing recorded).
"""

import os
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "io")


class Net(torch.nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> fused qkv projection -> q * k + v -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.qkv = torch.nn.Linear(8, 24)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.fc1(x)))
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        return self.out(q * k + v)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    net = Net()
    net.train()
    for _ in range(3):  # non-trivial running statistics and num_batches_tracked = 3
        net(torch.randn(16, 4))
    net.eval()
    x = torch.randn(5, 4)
    with torch.no_grad():
        y = net(x)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(sd, os.path.join(OUT, "torch_net.safetensors"), metadata={"format": "pt"})
    low = {}
    for name, dtype in [("bf16", torch.bfloat16), ("f16", torch.float16)]:
        cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
        save_file(cast, os.path.join(OUT, f"torch_net_{name}.safetensors"))
        low.update({f"{name}/{k}": v.float().numpy() for k, v in cast.items()})
    save_file(
        {"module." + k: v for k, v in sd.items() if k.startswith("fc1.")},
        os.path.join(OUT, "torch_dataparallel.safetensors"),
    )
    np.savez(
        os.path.join(OUT, "torch_net_io.npz"),
        x=x.numpy(), y=y.numpy(), **{f"f32/{k}": v.numpy() for k, v in sd.items()}, **low,
    )
    print("recorded", sorted(os.listdir(OUT)))
    check_vfunc_to_torch(net, x, y)


def check_vfunc_to_torch(net: Net, x: torch.Tensor, y: torch.Tensor) -> None:
    """vfunc.io writes a state dict (from a differently laid out pytree); PyTorch loads it."""
    try:
        from vfunc import io
    except ImportError:
        print("vfunc not importable (set PYTHONPATH): reverse check skipped")
        return
    fused = net.state_dict()
    # A vfunc-side layout: nested dicts, q/k/v apart, weights stored (in, out).
    qkv_w, qkv_b = fused["qkv.weight"].numpy(), fused["qkv.bias"].numpy()
    tree = {
        "fc1": {"weight": fused["fc1.weight"].numpy().T, "bias": fused["fc1.bias"].numpy()},
        "bn": {k: fused[f"bn.{k}"].numpy() for k in
               ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")},
        "out": {"weight": fused["out.weight"].numpy().T, "bias": fused["out.bias"].numpy()},
        "qkv": {"weight": qkv_w.T, "bias": qkv_b},
    }
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "from_vfunc.safetensors")
        report = io.save_state_dict(path, tree, map=[io.Transpose(r"(fc1|out|qkv)\.weight$")])
        print(report)
        fresh = Net().eval()
        fresh.load_state_dict(load_file(path), strict=True)
        with torch.no_grad():
            err = (fresh(x) - y).abs().max().item()
    print(f"vfunc -> torch: max |output difference| = {err}")
    if err > 1e-6:
        sys.exit("reverse check FAILED")


if __name__ == "__main__":
    main()
