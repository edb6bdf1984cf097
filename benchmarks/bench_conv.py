"""Convolution speed, memory and compile time, one run (issue 8).

For four float32 NCHW shapes (LeNet, a ResNet 3x3 block, the ResNet 7x7 stem, a depthwise 3x3)
it times the forward pass and the forward pass plus both gradients of
``lax.conv_general_dilated`` against a naive NumPy im2col baseline and PyTorch CPU (when
importable; install it in a scratch environment), reports GFLOP/s beside the machine's float32
matmul GFLOP/s, and the peak extra memory of forward+gradients: the growth of the peak resident
set (VmHWM, reset through /proc/self/clear_refs) over the resident set with the operands
allocated, less the results the call returns (output and both gradients), as a multiple of
input + weights + output. Every framework runs in its own subprocess, so no thread pool idles
on the cores the other one needs. Finally it times first calls of each kernel family with an
empty numba cache, then again from the cache in a new process.

Targets (issue 18.4): resnet3x3 forward+gradients at >= 70% of the machine's measured float32
matmul GFLOP/s (the better of NumPy's threaded BLAS and one single-threaded BLAS per core) and
at most 1.0x PyTorch's time in the same run; faster than PyTorch on stem7x7, depthwise and
lenet; extra memory <= 1.25x (input + weights + output); first-call compile <= 5 s per kernel,
cached across processes. (That the workspace does not grow with the batch is a test:
tests/test_conv_implicit.py.)

Run with the OpenBLAS overrides unset (BENCH_PEER_PYTHON: an interpreter with torch, when this
one has none):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# name: (x shape, w shape, strides, padding, groups)
SHAPES = {
    "lenet": ((64, 1, 28, 28), (6, 1, 5, 5), (1, 1), 2, 1),
    "resnet3x3": ((32, 64, 56, 56), (64, 64, 3, 3), (1, 1), 1, 1),
    "stem7x7": ((16, 3, 224, 224), (64, 3, 7, 7), (2, 2), 3, 1),
    "depthwise": ((32, 128, 28, 28), (128, 1, 3, 3), (1, 1), 1, 128),
}


# BENCH_CONV_SHAPES=resnet3x3 times a subset (the memory and compile sections still run).
SELECTED = [n for n in os.environ.get("BENCH_CONV_SHAPES", ",".join(SHAPES)).split(",") if n]


def out_shape(name: str) -> tuple[int, ...]:
    (n, _, h, w), (o, _, kh, kw), (sh, sw), p, _ = SHAPES[name]
    return (n, o, (h + 2 * p - kh) // sh + 1, (w + 2 * p - kw) // sw + 1)


def flops(name: str) -> float:
    """Multiply-adds x 2 of one forward pass."""
    _, (o, cg, kh, kw), *_ = SHAPES[name]
    n, _, oh, ow = out_shape(name)
    return 2.0 * n * o * oh * ow * cg * kh * kw


def operands(name: str):
    rng = np.random.default_rng(0)
    xs, ws, *_ = SHAPES[name]
    x = rng.normal(size=xs).astype(np.float32)
    w = (rng.normal(size=ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    g = rng.normal(size=out_shape(name)).astype(np.float32)
    return x, w, g


def best_time(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# ----------------------------------------------------------------------------------------------
# The three implementations: each returns (forward, forward_and_gradients) closures


def vfunc_fns(name: str):
    import vfunc
    from vfunc import lax

    x, w, g = operands(name)
    _, _, strides, p, groups = SHAPES[name]

    def conv(x, w):
        return lax.conv_general_dilated(x, w, strides, [(p, p)] * 2, feature_group_count=groups)

    xa, wa, ga = (vfunc.numpy.asarray(a) for a in (x, w, g))

    def fwd_bwd():
        y, pullback = vfunc.vjp(conv, xa, wa)
        return (y, *pullback(ga))

    return (lambda: conv(xa, wa)), fwd_bwd


def torch_fns(name: str):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    x, w, g = operands(name)
    _, _, strides, p, groups = SHAPES[name]
    xt, wt, gt = (torch.from_numpy(a) for a in (x, w, g))
    xg, wg = xt.clone().requires_grad_(), wt.clone().requires_grad_()

    def fwd():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, stride=strides, padding=p, groups=groups)

    def fwd_bwd():
        y = torch.nn.functional.conv2d(xg, wg, stride=strides, padding=p, groups=groups)
        return (y, *torch.autograd.grad(y, (xg, wg), gt))

    return fwd, fwd_bwd


def numpy_fns(name: str):
    """The naive baseline: the whole im2col matrix, one matmul per group, col2im by taps."""
    x, w, g = operands(name)
    _, _, (sh, sw), p, groups = SHAPES[name]
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    _, _, oh, ow = out_shape(name)
    og = o // groups

    def im2col(x):
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
        win = win[:, :, ::sh, ::sw]  # n, c, oh, ow, kh, kw
        cols = win.reshape(n, groups, cg, oh, ow, kh, kw).transpose(0, 1, 2, 5, 6, 3, 4)
        return np.ascontiguousarray(cols).reshape(n, groups, cg * kh * kw, oh * ow)

    wm = w.reshape(groups, og, cg * kh * kw)

    def fwd():
        return np.matmul(wm[None], im2col(x)).reshape(n, o, oh, ow)

    def fwd_bwd():
        cols = im2col(x)
        y = np.matmul(wm[None], cols).reshape(n, o, oh, ow)
        gm = g.reshape(n, groups, og, oh * ow)
        dw = np.matmul(gm, cols.transpose(0, 1, 3, 2)).sum(0).reshape(w.shape)
        dcols = np.matmul(wm.transpose(0, 2, 1)[None], gm)
        dcols = dcols.reshape(n, c, kh, kw, oh, ow)
        dxp = np.zeros((n, c, x.shape[2] + 2 * p, x.shape[3] + 2 * p), np.float32)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += dcols[:, :, i, j]
        return y, dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw

    return fwd, fwd_bwd


FNS = {"vfunc": vfunc_fns, "torch": torch_fns, "numpy": numpy_fns}


# ----------------------------------------------------------------------------------------------
# Subprocess roles


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def role_time(impl: str, name: str) -> dict:
    fwd, fwd_bwd = FNS[impl](name)
    repeat = 2 if impl == "numpy" else 7
    return {"fwd": best_time(fwd, repeat), "fwd_bwd": best_time(fwd_bwd, repeat)}


def role_memory(impl: str, name: str) -> dict:
    _, fwd_bwd = FNS[impl](name)
    fwd_bwd()  # compile, start thread pools, let the allocator settle
    fwd_bwd()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set
    results = fwd_bwd()
    peak = _status("VmHWM")
    kept = sum(np.asarray(r.detach() if hasattr(r, "detach") else r).nbytes for r in results)
    return {"grown": peak - base, "extra": peak - base - kept}


def role_compile() -> dict:
    """First call of each kernel family: fresh numba cache in one process, warm in the next."""
    from vfunc.primitives import conv_kernels as ck
    from vfunc.primitives import window_kernels as wk

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 9, 9)).astype(np.float32)
    probs = {  # family: (w shape, strides, padding)
        "direct grid (unit stride)": ((4, 4, 3, 3), (1, 1), ((1, 1), (1, 1))),
        "direct strided": ((4, 4, 3, 3), (2, 2), ((1, 1), (1, 1))),
        "packed tiles + BLAS": ((32, 4, 3, 3), (1, 1), ((1, 1), (1, 1))),
        "packed tiles, strided (col2im)": ((32, 4, 3, 3), (2, 2), ((0, 0), (1, 1))),
    }
    out = {}
    for family, (ws, s, pad) in probs.items():
        w = rng.normal(size=ws).astype(np.float32)
        args = ck.ConvParams(s, pad, (1, 1), (1, 1), 1)
        t0 = time.perf_counter()
        y = ck.conv_forward(x, w, args)
        t1 = time.perf_counter()
        ck.conv_input_grad(y, w, x.shape, args)
        t2 = time.perf_counter()
        ck.conv_weight_grad(x, y, w.shape, args)
        t3 = time.perf_counter()
        out[family] = [t1 - t0, t2 - t1, t3 - t2]
    win = wk.WindowParams((1, 1, 2, 2), (1, 1, 2, 2), ((0, 0),) * 4, (1,) * 4, (1,) * 4)
    for kind in ("max", "sum"):
        t0 = time.perf_counter()
        y = wk.window_reduce(kind, x, win)
        t1 = time.perf_counter()
        if kind == "max":
            wk.window_select(True, y, x, win)
        else:
            wk.window_sum_transpose(y, x.shape, win)
        out[f"pooling ({kind}) [fwd, vjp]"] = [t1 - t0, time.perf_counter() - t1]
    return out


def _python_for(args: list[str]) -> str:
    """The interpreter of one role: PyTorch's may live in another environment, named by
    BENCH_PEER_PYTHON."""
    if "torch" in args and importlib.util.find_spec("torch") is None:
        return os.environ.get("BENCH_PEER_PYTHON", sys.executable)
    return sys.executable


def run_role(args: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run(
        [_python_for(args), __file__, "--role", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------


def matmul_gflops() -> tuple[float, float]:
    """float32 2048^3 matmul GFLOP/s: NumPy's threaded BLAS, and one single-threaded BLAS per
    core side by side (how vfunc's conv workers call it)."""
    from vfunc.primitives.conv_kernels import threads

    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype(np.float32)
    threaded = 2 * 2048**3 / best_time(lambda: a @ a, 5) / 1e9
    pool, workers = threads.pool(), threads.worker_count()

    def per_core():
        with threads.single_threaded_blas():
            for f in [pool.submit(lambda: a @ a) for _ in range(workers)]:
                f.result()

    return threaded, 2 * 2048**3 * workers / best_time(per_core, 5) / 1e9


def main() -> None:
    peer = importlib.util.find_spec("torch") is not None or "BENCH_PEER_PYTHON" in os.environ
    impls = ["numpy", "vfunc", "torch"] if peer else ["numpy", "vfunc"]
    threaded, per_core = matmul_gflops()
    print(f"float32 matmul (2048^3) on {os.cpu_count()} cores: {threaded:.0f} GFLOP/s with "
          f"NumPy's threaded BLAS, {per_core:.0f} GFLOP/s as one single-threaded BLAS per "
          "core\n")  # fmt: skip
    header = (
        f"{'shape':<10} {'pass':<8} {'im2col ms':>9} {'vfunc ms':>9} {'torch ms':>9} "
        f"{'vf/torch':>8} {'vfunc GF/s':>10} {'torch GF/s':>10}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    peak_share = float("nan")
    for name in SELECTED:
        # Two rounds, alternating frameworks, best of each: this shared machine is noisy.
        times: dict = {}
        for _ in range(2):
            for impl in impls:
                t = run_role(["time", impl, name])
                prev = times.setdefault(impl, t)
                times[impl] = {k: min(v, prev[k]) for k, v in t.items()}
        for kind, mult in (("fwd", 1), ("fwd_bwd", 3)):
            fl = flops(name) * mult
            v = times["vfunc"][kind]
            t = times.get("torch", {}).get(kind)
            ratio = f"{v / t:8.2f}" if t else f"{'-':>8}"
            t_ms = f"{t * 1e3:9.1f}" if t else f"{'-':>9}"
            t_gf = f"{fl / t / 1e9:10.1f}" if t else f"{'-':>10}"
            print(
                f"{name:<10} {kind:<8} {times['numpy'][kind] * 1e3:9.1f} {v * 1e3:9.1f} {t_ms} "
                f"{ratio} {fl / v / 1e9:10.1f} {t_gf}"
            )
            if kind == "fwd_bwd" and t:
                verdicts.append((name, v / t))
            if kind == "fwd_bwd" and name == "resnet3x3":
                peak_share = fl / v / 1e9 / max(threaded, per_core)
    print("\nPeak extra memory of forward+gradients (workspace beyond operands and results):")
    header = (
        f"{'shape':<10} {'in+w+out MB':>11} {'vfunc MB':>9} {'x':>6} {'im2col MB':>10} {'x':>6}"
    )
    print(header)
    print("-" * len(header))
    mem_ok = True
    for name in SELECTED:
        x, w, g = operands(name)
        base = (x.nbytes + w.nbytes + g.nbytes) / 2**20
        row = f"{name:<10} {base:11.1f}"
        for impl in ("vfunc", "numpy"):
            # A fixed mmap threshold returns every large freed buffer to the OS at once, so the
            # resident set tracks live memory instead of glibc's cached heap.
            env = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
            m = run_role(["memory", impl, name], env)["extra"] / 2**20
            row += (
                f" {m:9.1f} {m / base:6.2f}" if impl == "vfunc" else f" {m:10.1f} {m / base:6.2f}"
            )
            if impl == "vfunc":
                mem_ok &= m / base <= 1.25
        print(row)
    print("\nFirst calls (s) per kernel family, [forward, input grad, weight grad]:")
    with tempfile.TemporaryDirectory() as cache:
        cold = run_role(["compile"], {"NUMBA_CACHE_DIR": cache})
        warm = run_role(["compile"], {"NUMBA_CACHE_DIR": cache})
    worst = 0.0
    for family in cold:
        c = ", ".join(f"{t:.2f}" for t in cold[family])
        h = ", ".join(f"{t:.3f}" for t in warm[family])
        worst = max(worst, *cold[family])
        print(f"  {family:<30} empty cache [{c}]   cached, new process [{h}]")
    print("\nVerdicts:")
    for name, ratio in verdicts:
        ok = ratio <= 1.0 if name == "resnet3x3" else ratio < 1.0
        goal = "<= 1.0x" if name == "resnet3x3" else "faster than"
        print(f"  {name:<10} forward+gradients {ratio:.2f}x PyTorch ({goal} PyTorch): "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    print(f"  resnet3x3 forward+gradients at {peak_share:.0%} of the float32 matmul peak "
          f"(>= 70%): {'PASS' if peak_share >= 0.7 else 'FAIL'}")  # fmt: skip
    print(f"  peak extra memory <= 1.25x (input + weights + output) on every shape: "
          f"{'PASS' if mem_ok else 'FAIL'}")  # fmt: skip
    print(f"  first call <= 5 s per kernel family (worst {worst:.2f} s): "
          f"{'PASS' if worst <= 5 else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        role, *rest = sys.argv[2:]
        if role == "time":
            result = role_time(*rest)
        elif role == "memory":
            result = role_memory(*rest)
        else:
            result = role_compile()
        print(json.dumps(result))
    else:
        main()
