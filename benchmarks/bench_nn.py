"""vfunc.nn training-step speed against PyTorch eager, one run (issue 14).

Forward + backward of three models, vfunc ``jit(value_and_grad)`` against PyTorch eager
(``loss.backward()``), each framework in its own subprocess (so neither's thread pool idles on
the cores the other needs), with the same weights (drawn per state-dict key from one seed; the
keys are PyTorch's on both sides) and the same inputs; the losses are compared as a check:

- LeNet-5, batch 64, 1x28x28, cross-entropy on 10 classes;
- a ResNet basic-block stack (2 blocks, BatchNorm in training mode), batch 32, 64ch, 56x56;
- a 2-layer LSTM, batch 32, seq 64, input 128, hidden 256.

Also the ``jit`` call overhead of a model with 100 leaves (50 Linear(4, 4) layers, a function
that returns its input's first leaf), which must not be dominated by flattening.

Targets: at most 1.0x PyTorch's time on each model; jit overhead at most 15 us.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_nn.py

The PyTorch half runs with this interpreter when it can import torch, else with the one named
by ``BENCH_PEER_PYTHON`` (a scratch environment: torch is never a vfunc dependency), e.g.
``BENCH_PEER_PYTHON=/path/to/scratch/bin/python PYTHONPATH=$PWD python benchmarks/bench_nn.py``.

On a loaded machine, also try ``OPENBLAS_NUM_THREADS=1``: OpenBLAS's threads contend for the
cores on small products (an LSTM step's (32, 256) x (256, 1024) took 30 ms with 2 threads under
load, 1 ms with 1), which dominates the LSTM figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_time  # noqa: E402

MODELS = ("lenet", "resnet", "lstm")
# BENCH_NN_MODELS=lenet,lstm times a subset (an empty value: the jit overheads alone).
SELECTED = tuple(m for m in os.environ.get("BENCH_NN_MODELS", ",".join(MODELS)).split(",") if m)


def weight(key: str, shape: tuple[int, ...]) -> np.ndarray:
    if not shape:  # num_batches_tracked
        return np.zeros((), np.float32)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    if "running_var" in key:
        return np.ones(shape, np.float32)
    if "running_mean" in key or "num_batches" in key:
        return np.zeros(shape, np.float32)
    return (rng.uniform(-1, 1, shape) / np.sqrt(max(fan_in, 1))).astype(np.float32)


def inputs(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(0)
    if name == "lenet":
        return rng.standard_normal((64, 1, 28, 28), np.float32), rng.integers(0, 10, 64)
    if name == "resnet":
        return rng.standard_normal((32, 64, 56, 56), np.float32), None
    return rng.standard_normal((64, 32, 128), np.float32), None


def run_torch() -> dict:
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.conv2, self.bn2 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(x + self.bn2(self.conv2(y)))

    class LSTMModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(128, 256, num_layers=2)

        def forward(self, x):
            return self.lstm(x)[0]

    models = {
        "lenet": nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                               nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                               nn.Linear(84, 10)),
        "resnet": nn.Sequential(Block(), Block()),
        "lstm": LSTMModel(),
    }
    out = {}
    for name, model in models.items():
        if name not in SELECTED:
            continue
        model.load_state_dict({k: torch.from_numpy(weight(k, tuple(v.shape)).astype(
            np.int64 if "num_batches" in k else np.float32)) for k, v in
            model.state_dict().items()})
        x, y = inputs(name)
        xt = torch.from_numpy(x)

        def step(model=model, xt=xt, y=y, name=name):
            model.zero_grad(set_to_none=True)
            o = model(xt)
            if name == "lenet":
                loss = torch.nn.functional.cross_entropy(o, torch.from_numpy(y))
            else:
                loss = (o * o).mean()
            loss.backward()
            return float(loss)

        loss = step()
        out[name] = {"time": best_time(step, repeat=5), "loss": loss}
    out["threads"] = torch.get_num_threads()
    return out


def run_vfunc() -> dict:
    import vfunc
    import vfunc.numpy as vnp
    from vfunc import losses, nn

    class Block(nn.Module):
        conv1: nn.Conv2d
        bn1: nn.BatchNorm2d
        conv2: nn.Conv2d
        bn2: nn.BatchNorm2d

        def __init__(self):
            self.conv1 = nn.Conv2d(64, 64, 3, padding=1, bias=False, init=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False, init=False)
            self.bn2 = nn.BatchNorm2d(64)

        def __call__(self, x):
            y = nn.relu(self.bn1(self.conv1(x)))
            return nn.relu(x + self.bn2(self.conv2(y)))

    class LSTMModel(nn.Module):
        lstm: nn.LSTM

        def __init__(self):
            self.lstm = nn.LSTM(128, 256, num_layers=2, init=False)

        def __call__(self, x):
            return self.lstm(x)[0]

    models = {
        "lenet": nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, init=False), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Conv2d(6, 16, 5, init=False), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120, init=False),
                               nn.ReLU(), nn.Linear(120, 84, init=False), nn.ReLU(),
                               nn.Linear(84, 10, init=False)),
        "resnet": nn.Sequential(Block(), Block()),
        "lstm": LSTMModel(),
    }
    out = {}
    for name, model in models.items():
        if name not in SELECTED:
            continue
        model = nn.load_state_dict(model, {k: weight(k, tuple(np.shape(v))).astype(
            np.int64 if "num_batches" in k else np.float32) for k, v in
            nn.state_dict(model).items()})
        x, y = inputs(name)
        xv = vnp.asarray(x)
        yv = None if y is None else vnp.asarray(y.astype(np.int32))

        def loss_fn(m, x, y, name=name):
            o, state = nn.call_with_state(m, x)
            if name == "lenet":
                return vnp.mean(losses.softmax_cross_entropy_with_integer_labels(o, y)), state
            return vnp.mean(o * o), state

        step = vfunc.jit(vfunc.value_and_grad(loss_fn, has_aux=True))

        def call(step=step, model=model, xv=xv, yv=yv):
            (loss, _), grads = step(model, xv, yv)
            return vfunc.block_until_ready(grads), float(loss)

        loss = call()[1]
        out[name] = {"time": best_time(call, repeat=5), "loss": loss}
    many = nn.Sequential(*[nn.Linear(4, 4, init=False) for _ in range(50)])
    assert len(vfunc.tree.leaves(many)) == 100
    # Overheads are microseconds: many short bursts (200 calls) find the machine's quiet
    # moments, where a few long ones would all be disturbed by other work on a loaded machine.
    ident = vfunc.jit(lambda m: m[0].weight)
    out["jit_overhead_us"] = best_time(lambda: ident(many), repeat=50, number=200) * 1e6
    # The same 100 arrays as nested dicts: the cost of the jit call itself, without modules.
    as_dict = {f"{i}": {"weight": m.weight, "bias": m.bias} for i, m in enumerate(many)}
    ident_dict = vfunc.jit(lambda d: d["0"]["weight"])
    out["jit_overhead_dict_us"] = best_time(lambda: ident_dict(as_dict), repeat=50,
                                            number=200) * 1e6
    # A new model instance every call, as a training loop that rebuilds the model outside jit
    # would pass (a model returned by a jitted step arrives with its flatten kept instead).
    # Each instance is called once (the second call of an instance would keep its flatten).
    best = float("inf")
    for _ in range(30):
        copies = [vfunc.tree.map(lambda a: a, many) for _ in range(200)]
        start = time.perf_counter()
        for copy in copies:
            ident(copy)
        best = min(best, (time.perf_counter() - start) / len(copies))
    out["jit_overhead_fresh_us"] = best * 1e6
    small = vnp.ones(3)
    plain = vfunc.jit(lambda x: x)
    out["jit_overhead_small_us"] = best_time(lambda: plain(small), repeat=50, number=200) * 1e6
    return out


def _python_for(framework: str) -> str:
    """The interpreter that runs one half: torch's may live in another environment."""
    if framework == "torch" and importlib.util.find_spec("torch") is None:
        return os.environ.get("BENCH_PEER_PYTHON", sys.executable)
    return sys.executable


def main() -> None:
    if len(sys.argv) > 1:
        result = run_torch() if sys.argv[1] == "torch" else run_vfunc()
        print(json.dumps(result))
        return
    results = {}
    for fw in ("vfunc", "torch"):
        proc = subprocess.run([_python_for(fw), __file__, fw], capture_output=True, text=True)
        if proc.returncode:
            print(f"{fw} failed:\n{proc.stderr[-3000:]}")
            results[fw] = None
            continue
        results[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    v, t = results["vfunc"], results["torch"]
    print(f"{'model':8s} {'vfunc ms':>10s} {'torch ms':>10s} {'ratio':>7s}  losses (check)")
    for name in SELECTED:
        vt = v[name]["time"] * 1e3 if v else float("nan")
        tt = t[name]["time"] * 1e3 if t else float("nan")
        losses_ = (v[name]["loss"] if v else None, t[name]["loss"] if t else None)
        print(f"{name:8s} {vt:10.2f} {tt:10.2f} {vt / tt:7.2f}x  {losses_}")
    if v:
        print(f"jit call overhead, 100-leaf model: {v['jit_overhead_us']:.1f} us (target <= 15); "
              f"the same leaves as nested dicts: {v['jit_overhead_dict_us']:.1f} us; a new "
              f"model instance each call: {v['jit_overhead_fresh_us']:.1f} us; one small "
              f"array: {v['jit_overhead_small_us']:.2f} us")
    if t:
        print(f"torch threads: {t['threads']}")


if __name__ == "__main__":
    main()
