"""Saving and loading a 100M-parameter float32 state: vfunc.io against safetensors and torch.

Targets (issue 16): within 1.2x of `safetensors.numpy.save_file`/`load_file` on the same
arrays, faster than `torch.save`/`torch.load` of the equivalent state dict, and peak extra
memory on load at most one copy of the largest tensor. One run, side by side, warm page cache
(every file is read right after it is written). torch rows only if torch imports:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_io.py

vfunc.io.save is durable (fsync of the file and its folder, as the issue requires) and
safetensors' save_file is not, so "save_file + fsync" is listed as well: the fair comparison.
Peak extra memory is measured in a fresh process per loader: its peak resident memory
(VmHWM; ru_maxrss would include the parent's at fork) less what it held just before the call
and the loaded tensors' own bytes. Timings: best of --repeat, loaders taking turns, `os.sync()`
before each call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

import vfunc
import vfunc.numpy as vnp
from vfunc import io

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

def make_state(params: int, layers: int) -> dict[str, Any]:
    """`layers` square weight matrices with biases, about `params` float32s in all."""
    width = int((params / layers) ** 0.5)
    rng = np.random.default_rng(0)
    return {
        f"layers.{i}.{name}": vnp.asarray(rng.standard_normal(shape, dtype=np.float32))
        for i in range(layers)
        for name, shape in (("weight", (width, width)), ("bias", (width,)))
    }


def time_round_robin(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Wall times of each function; the functions take turns in a rotating order, so a slow
    spell of the shared disk hits them all alike, each starting from a clean page cache."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_ in range(repeat):
        # Each round starts with the next function: none is always first after the sync.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            fn = fns[name]
            # Flush every dirty page first: otherwise the next fsync (ours or a peer's) also
            # waits for the data an earlier, unsynced save left behind.
            os.sync()
            start = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - start)
            del out
    return times


def without_fsync(fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` with os.fsync a no-op: what vfunc.io.save costs apart from durability."""

    def run() -> Any:
        real = os.fsync
        os.fsync = lambda fd: None
        try:
            return fn()
        finally:
            os.fsync = real

    return run


def peak_extra_in_subprocess(code: str, path: str) -> float:
    """MiB of peak resident memory a fresh process uses to load `path`, above what it held
    before the call and the loaded tensors' own bytes (`code` sets `out` from `path`)."""
    script = (
        "import sys\n"
        "import numpy as np\n"
        f"{code.split(chr(10))[0]}\n"
        "path = sys.argv[1]\n"
        "def status(field):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(field):\n"
        "            return int(line.split()[1]) * 1024\n"
        "before = status('VmRSS:')\n"
        f"{code.split(chr(10))[1]}\n"
        "size = sum(np.asarray(v).nbytes for v in out.values())\n"
        "print((status('VmHWM:') - before - size) / 2**20)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", script, path], capture_output=True,
                            text=True, env=env, check=True)
    return float(result.stdout.strip())


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", type=int, default=100_000_000)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=None, help="folder for the files (default: a temp dir)")
    args = parser.parse_args()

    state = make_state(args.params, args.layers)
    arrays = {k: np.asarray(v) for k, v in state.items()}  # views of the same buffers
    count = sum(a.size for a in arrays.values())
    largest = max(a.nbytes for a in arrays.values())
    folder = tempfile.mkdtemp(dir=args.dir)
    paths = {n: os.path.join(folder, n) for n in ("vfunc.st", "st.st", "st_sync.st", "t.pt")}
    print(f"{count / 1e6:.1f}M float32 parameters in {len(arrays)} tensors "
          f"({count * 4 / 2**20:.0f} MiB, largest {largest / 2**20:.0f} MiB); files in {folder}")

    like = {k: vfunc.ShapeDtypeStruct(a.shape, a.dtype) for k, a in arrays.items()}
    fns: dict[str, Callable[[], Any]] = {
        "save: vfunc.io.save (atomic, fsync)": lambda: io.save(paths["vfunc.st"], state),
        "save: vfunc.io.save, fsync disabled": without_fsync(
            lambda: io.save(paths["vfunc.st"], state)),
        "save: safetensors save_file": lambda: save_file(arrays, paths["st.st"]),
        "save: safetensors save_file + fsync": lambda: (
            save_file(arrays, paths["st_sync.st"]), fsync_file(paths["st_sync.st"])),
    }
    if torch is not None:
        tensors = {k: torch.from_numpy(np.array(a)) for k, a in arrays.items()}
        fns["save: torch.save"] = lambda: torch.save(tensors, paths["t.pt"])
        fns["save: torch.save + fsync"] = lambda: (
            torch.save(tensors, paths["t.pt"]), fsync_file(paths["t.pt"]))
    rows = time_round_robin(fns, args.repeat)
    fns = {
        "load: vfunc.io.load (nested dicts)": lambda: io.load(paths["vfunc.st"]),
        "load: vfunc.io.load(like=...)": lambda: io.load(paths["vfunc.st"], like=like),
        "load: safetensors load_file": lambda: load_file(paths["st.st"]),
    }
    if torch is not None:
        fns["load: torch.load(weights_only=True)"] = lambda: torch.load(
            paths["t.pt"], weights_only=True)
    rows.update(time_round_robin(fns, args.repeat))

    print(f"\n{'':40s} {'best s':>8s} {'median':>8s} {'GB/s':>6s}")
    for name, times in sorted(rows.items()):
        best, median = min(times), sorted(times)[len(times) // 2]
        print(f"{name:40s} {best:8.3f} {median:8.3f} {count * 4 / best / 1e9:6.2f}")

    def ratio(a: str, b: str) -> str:
        best = min(rows[a]) / min(rows[b])
        median = sorted(rows[a])[len(rows[a]) // 2] / sorted(rows[b])[len(rows[b]) // 2]
        return f"{best:.2f}x (median {median:.2f}x)"

    print("\nratios of best times (time / peer time; < 1 is faster):")
    save, load = "save: vfunc.io.save (atomic, fsync)", "load: vfunc.io.load (nested dicts)"
    pairs = [
        (save, "save: safetensors save_file", "target <= 1.2x; the peer does not fsync"),
        (save, "save: safetensors save_file + fsync", "the durable equivalent"),
        ("save: vfunc.io.save, fsync disabled", "save: safetensors save_file", "overhead"),
        (load, "load: safetensors load_file", "target <= 1.2x"),
        ("load: vfunc.io.load(like=...)", "load: safetensors load_file", ""),
        (save, "save: torch.save", "target < 1; the peer does not fsync"),
        (save, "save: torch.save + fsync", "the durable equivalent"),
        (load, "load: torch.load(weights_only=True)", "target < 1"),
    ]
    for a, b, note in pairs:
        if a in rows and b in rows:
            print(f"  {a[6:]:36s} / {b[6:]:36s} = {ratio(a, b)}  {note}")

    print(f"\npeak extra memory on load, MiB, each in a fresh process (largest tensor: "
          f"{largest / 2**20:.0f} MiB):")
    cases = [
        ("vfunc.io.load", "from vfunc import io\nout = io.load(path, flat=True)", "vfunc.st"),
        ("safetensors load_file", "from safetensors.numpy import load_file\nout = load_file(path)",
         "st.st"),
    ]
    if torch is not None:
        cases.append(("torch.load", "import torch\nout = torch.load(path, weights_only=True)",
                      "t.pt"))
    for name, code, file in cases:
        print(f"  {name:24s} {peak_extra_in_subprocess(code, paths[file]):8.1f}")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
