"""Whole training steps against PyTorch eager and JAX jit, one run (issue 18).

Two steps, each forward + backward + an SGD update of every parameter, float32:

- MLP 784-512-512-10 (ReLU), batch 128, cross-entropy on 10 classes;
- LeNet-5 (conv 5x5 pad 2 -> 6ch, ReLU, 2x2 max-pool, conv 5x5 -> 16ch, ReLU, max-pool, 120,
  84, 10), batch 64, 1x28x28; the max-pool is written as JAX code writes it: a reshape to
  ``(n, c, h/2, 2, w/2, 2)`` and a max over axes (3, 5).

vfunc and JAX run the same function (``jit(value_and_grad)`` then SGD, inside the jit), written
once over a ``(numpy, lax, jit, value_and_grad, log_softmax)`` namespace; PyTorch runs the same
model eagerly (``loss.backward()`` then an in-place SGD update). Every framework runs in its
own subprocess with the same weights and inputs; the losses are printed as a check.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=$PWD \\
        BENCH_PEER_PYTHON=/path/to/scratch/bin/python python benchmarks/bench_train.py

The peers run with this interpreter when it can import them, else with ``BENCH_PEER_PYTHON``
(jax and torch are never vfunc dependencies). ``BENCH_TRAIN_FRAMEWORKS=vfunc`` times one side.

``BENCH_TRAIN_TIMER=cpu`` times the CPU time of the whole process (every thread's, BLAS and
XLA pools included) instead of wall time: on a machine shared with other work, a thread
waiting for a core counts nothing, so the figures move less between runs; a framework
spinning idle threads pays for their spinning. ``BENCH_TRAIN_REPEAT`` sets the timed steps
(20), ``BENCH_TRAIN_MODELS=mlp`` the models.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_time  # noqa: E402

MODELS = tuple(os.environ.get("BENCH_TRAIN_MODELS", "mlp,lenet").split(","))
TIMER = os.environ.get("BENCH_TRAIN_TIMER", "wall")
REPEAT = int(os.environ.get("BENCH_TRAIN_REPEAT", "20"))
FRAMEWORKS = tuple(os.environ.get("BENCH_TRAIN_FRAMEWORKS", "vfunc,torch,jax").split(","))
LR = 0.01


def timed(fn) -> float:
    """The best time of one call of ``fn`` (wall or process CPU time, see ``TIMER``)."""
    if TIMER == "wall":
        return best_time(fn, repeat=REPEAT)
    fn()
    best = float("inf")
    for _ in range(REPEAT):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def params(name: str) -> list[np.ndarray]:
    """Weights (OIHW convs, (in, out) dense) and biases, uniform +-1/sqrt(fan_in), seed 0."""
    rng = np.random.default_rng(0)
    if name == "mlp":
        shapes = [((784, 512), 784), ((512, 512), 512), ((512, 10), 512)]
    else:
        shapes = [((6, 1, 5, 5), 25), ((16, 6, 5, 5), 150), ((400, 120), 400),
                  ((120, 84), 120), ((84, 10), 84)]  # fmt: skip
    out = []
    for shape, fan_in in shapes:
        bound = 1 / np.sqrt(fan_in)
        out.append(rng.uniform(-bound, bound, shape).astype(np.float32))
        out.append(rng.uniform(-bound, bound, shape[:1] if len(shape) == 4 else shape[1:])
                   .astype(np.float32))  # fmt: skip
    return out


def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    n, shape = (128, (784,)) if name == "mlp" else (64, (1, 28, 28))
    return rng.standard_normal((n, *shape), np.float32), rng.integers(0, 10, n).astype(np.int32)


def make_step(name: str, np_, lax, jit, value_and_grad, log_softmax):
    """The jitted SGD step ``step(params, x, y) -> (loss, new_params)`` of model ``name``."""

    def pool(h):  # 2x2 max-pool, stride 2, as JAX code writes it
        n, c, hh, ww = h.shape
        return h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))

    def conv(h, w, b, pad):
        out = lax.conv_general_dilated(h, w, (1, 1), [(pad, pad), (pad, pad)])
        return out + b.reshape(1, -1, 1, 1)

    def forward(p, x):
        if name == "mlp":
            h = np_.maximum(x @ p[0] + p[1], 0)
            h = np_.maximum(h @ p[2] + p[3], 0)
            return h @ p[4] + p[5]
        h = pool(np_.maximum(conv(x, p[0], p[1], 2), 0))
        h = pool(np_.maximum(conv(h, p[2], p[3], 0), 0))
        h = h.reshape(h.shape[0], -1)
        h = np_.maximum(h @ p[4] + p[5], 0)
        h = np_.maximum(h @ p[6] + p[7], 0)
        return h @ p[8] + p[9]

    def loss_fn(p, x, y):
        logp = log_softmax(forward(p, x), axis=-1)
        return -np_.mean(np_.take_along_axis(logp, y[:, None], axis=1))

    def step(p, x, y):
        loss, grads = value_and_grad(loss_fn)(p, x, y)
        return loss, [w - LR * g for w, g in zip(p, grads, strict=True)]

    return jit(step)


def run_array_framework(fw: str) -> dict:
    if fw == "jax":
        import jax
        import jax.numpy as jnp

        ns = (jnp, jax.lax, jax.jit, jax.value_and_grad, jax.nn.log_softmax)
        to, ready = jnp.asarray, jax.block_until_ready
    else:
        import vfunc
        import vfunc.lax
        import vfunc.numpy as vnp
        from vfunc.scipy.special import log_softmax

        ns = (vnp, vfunc.lax, vfunc.jit, vfunc.value_and_grad, log_softmax)
        to, ready = vnp.asarray, vfunc.block_until_ready
    out = {}
    for name in MODELS:
        p = [to(a) for a in params(name)]
        x, y = (to(a) for a in batch(name))
        step = make_step(name, *ns)
        loss = float(step(p, x, y)[0])
        call = functools.partial(step, p, x, y)
        out[name] = {"time": timed(lambda call=call: ready(call())), "loss": loss}
    return out


def run_torch() -> dict:
    import torch
    import torch.nn.functional as F

    out = {}
    for name in MODELS:
        p = [torch.from_numpy(a).requires_grad_() for a in params(name)]
        x, y = (torch.from_numpy(a) for a in batch(name))
        y = y.long()

        def forward(x, p=p, name=name):
            if name == "mlp":
                h = torch.relu(x @ p[0] + p[1])
                h = torch.relu(h @ p[2] + p[3])
                return h @ p[4] + p[5]
            h = F.max_pool2d(torch.relu(F.conv2d(x, p[0], p[1], padding=2)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, p[2], p[3])), 2).flatten(1)
            h = torch.relu(h @ p[4] + p[5])
            h = torch.relu(h @ p[6] + p[7])
            return h @ p[8] + p[9]

        def step(p=p, x=x, y=y, forward=forward):
            for w in p:
                w.grad = None
            loss = F.cross_entropy(forward(x), y)
            loss.backward()
            with torch.no_grad():
                for w in p:
                    w -= LR * w.grad
            return float(loss)

        loss = step()
        for w, a in zip(p, params(name), strict=True):  # the timed steps start from the same
            with torch.no_grad():
                w.copy_(torch.from_numpy(a))
        out[name] = {"time": timed(step), "loss": loss}
    out["threads"] = torch.get_num_threads()
    return out


def _python_for(framework: str) -> str:
    if framework != "vfunc" and importlib.util.find_spec(framework) is None:
        return os.environ.get("BENCH_PEER_PYTHON", sys.executable)
    return sys.executable


def main() -> None:
    if len(sys.argv) > 1:
        fw = sys.argv[1]
        print(json.dumps(run_torch() if fw == "torch" else run_array_framework(fw)))
        return
    results = {}
    for fw in FRAMEWORKS:
        proc = subprocess.run([_python_for(fw), __file__, fw], capture_output=True, text=True)
        if proc.returncode:
            print(f"{fw} failed:\n{proc.stderr[-3000:]}")
            continue
        results[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    peers = [fw for fw in results if fw != "vfunc"]
    print(f"{TIMER} time, best of {REPEAT} steps")
    head = f"{'step':6s} " + " ".join(f"{fw + ' ms':>10s}" for fw in results)
    print(head + ("  vfunc / best peer" if "vfunc" in results and peers else "") + "  losses")
    for name in MODELS:
        times = {fw: r[name]["time"] * 1e3 for fw, r in results.items()}
        line = f"{name:6s} " + " ".join(f"{t:10.2f}" for t in times.values())
        if "vfunc" in times and peers:
            line += f"  {times['vfunc'] / min(times[fw] for fw in peers):17.2f}x"
        print(line + "  " + str({fw: round(r[name]["loss"], 5) for fw, r in results.items()}))


if __name__ == "__main__":
    main()
