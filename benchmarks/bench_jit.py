"""``vfunc.jit`` against NumPy, vfunc eager, JAX's jit and PyTorch eager, one run, as ratios.

Float32 throughout, the same seeded data for every framework (JAX gets it via ``jnp.asarray``);
JAX and PyTorch rows appear when they are importable (scratch environment only, never vfunc
dependencies). Targets (the jit issue, JAX 0.10 CPU figures from this 2-core machine in brackets,
used when JAX is not installed):

1. Call overhead: a jitted ``a + b`` on 8-element arrays, per call: vfunc <= JAX [4.1 us, JAX's
   asynchronous dispatch without ``block_until_ready``; both JAX rows are printed].
2. GELU (tanh form, ``x**3`` as the issue writes it) over 4M elements: vfunc jit <= JAX jit
   [0.97 ms] and >= 9x faster than NumPy [8.5 ms; NumPy cubes by ``x * x * x``, see below].
3. Adam update of a 4M-element parameter (step count a traced scalar): vfunc jit with
   ``donate_argnums`` >= 5x faster than NumPy [16.9 ms; JAX 14.8 ms, 2.5 ms donated].
4. MLP training step (784-512-512-10, ReLU, softmax cross-entropy, batch 128, SGD lr 0.01) as one
   jitted ``value_and_grad`` + update: vfunc <= 1.0x JAX's jit [1.56 ms].
5. First-call compile of that step in a fresh process (so no in-process cache hides it) with an
   empty on-disk cache (``VFUNC_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` point at a new temporary
   directory): <= 0.5 s [JAX 0.19 s]; more fresh processes sharing that directory show what
   the on-disk numba cache saves.
6. Transformations of jit (issue 18): ``grad(jit(f))`` of a 4-layer tanh MLP (256 wide, batch
   128) at most ``jit(grad(f))``'s time, JAX's two rows beside them; an eager ``lax.scan`` of
   20 RNN steps at most the same under jit. ``--transforms`` runs only this section.

Every vfunc jit result is checked once against NumPy's (allclose), outside the timing. Until
``vfunc.jit`` exists its rows print "vfunc.jit not available" and the rest still runs.
``--show-code`` also prints the optimized jaxpr and generated source of GELU and Adam.

Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_jit.py [--show-code]
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from mlp_data import BATCH, SIZES, mlp_data
from timing import best_time

import vfunc
import vfunc.numpy as vnp

HAVE_JIT = hasattr(vfunc, "jit")
NO_JIT = "vfunc.jit not available"
N = 4 * 1024 * 1024
LR_SGD = 0.01
LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8
ADAM_STEP = 10
# This 2-core VM's timings drift (JAX's GELU: 1.2 to 4 ms from one second to the next), so the
# fast jit rows take the best of more rounds, and each first-call figure is the best of two
# processes.
FAST_REPEAT = 20
PROBES = 2
GELU_C = math.sqrt(2.0 / math.pi)
# The issue's JAX 0.10 CPU figures (seconds), the yardstick when JAX is not importable.
ISSUE_JAX = {"overhead": 4.1e-6, "gelu": 0.97e-3, "mlp": 1.56e-3, "compile": 0.19}

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = jnp = None
try:
    import torch

    torch.set_num_threads(2)
except ImportError:
    torch = None


def print_rows(title: str, rows: dict, unit: str = "ms") -> None:
    """One table: time per call and ratio to the NumPy row (the first one)."""
    scale = 1e6 if unit == "us" else 1e3
    base = next(iter(rows.values()))
    print(title)
    for name, t in rows.items():
        if isinstance(t, str):
            print(f"  {name:30s} {t}")
        else:
            print(f"  {name:30s} {t * scale:9.3f} {unit}   numpy / this = {base / t:6.2f}")


def check(name: str, target: str, ok: bool, detail: str) -> None:
    print(f"  {name}: {detail} (target {target}): {'PASS' if ok else 'FAIL'}")


def jax_or_issue(rows: dict, key: str, issue_key: str) -> tuple[float, str]:
    t = rows.get(key)
    if isinstance(t, float):
        return t, "JAX"
    return ISSUE_JAX[issue_key], "JAX (issue figure)"


def allclose(got, want, rtol: float, atol: float) -> None:
    for g, w in zip(vfunc.tree.leaves(got), vfunc.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def show_code(name: str, fn, *args) -> None:
    lowered = fn.lower(*args)
    print(f"--- {name}: optimized jaxpr ---\n{lowered.as_text()}")
    print(f"--- {name}: generated source ---\n{lowered.compile().as_text()}")


# 1. Call overhead ------------------------------------------------------------------------------


def bench_overhead() -> dict:
    a = np.arange(8, dtype=np.float32)
    b = np.ones(8, dtype=np.float32)
    x, y = vnp.asarray(a), vnp.asarray(b)
    number = 20_000
    rows = {
        "numpy np.add": best_time(lambda: np.add(a, b), number=number),
        "vfunc eager x + y": best_time(lambda: x + y, number=number),
    }
    if HAVE_JIT:
        add = vfunc.jit(lambda u, v: u + v)
        allclose(add(x, y), a + b, 0, 0)
        rows["vfunc jit"] = best_time(lambda: add(x, y), number=number)
    else:
        rows["vfunc jit"] = NO_JIT
    if jax is not None:
        jadd = jax.jit(lambda u, v: u + v)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        rows["JAX jit (block_until_ready)"] = best_time(
            lambda: jax.block_until_ready(jadd(ja, jb)), number=number
        )
        rows["JAX jit (no block)"] = best_time(lambda: jadd(ja, jb), number=number)
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        rows["PyTorch eager a + b"] = best_time(lambda: ta + tb, number=number)
    print_rows("Call overhead: jitted a + b on 8-element float32 arrays", rows, unit="us")
    return rows


# 2. GELU ---------------------------------------------------------------------------------------


def gelu(x, tanh, cube=lambda v: v**3):
    return 0.5 * x * (1 + tanh(GELU_C * (x + 0.044715 * cube(x))))


def gelu_numpy(x):
    # x * x * x: np.power(x, 3) on float32 calls powf per element, some 30x slower than two
    # multiplications here (the "x**3 as written" row shows it); JAX's jit turns x**3 into
    # integer_pow, i.e. multiplications, too.
    return gelu(x, np.tanh, cube=lambda v: v * v * v)


def bench_gelu(show: bool) -> dict:
    x_np = np.random.default_rng(0).normal(size=N).astype(np.float32)
    want = gelu_numpy(x_np)
    x = vnp.asarray(x_np)

    def vgelu(v):
        return gelu(v, vnp.tanh)

    rows = {
        "numpy": best_time(lambda: gelu_numpy(x_np), number=3),
        "numpy, x**3 as written": best_time(lambda: gelu(x_np, np.tanh), repeat=1),
        "vfunc eager": best_time(lambda: vgelu(x), repeat=2),
    }
    allclose(vgelu(x), want, 1e-5, 1e-6)
    if HAVE_JIT:
        jgelu = vfunc.jit(vgelu)
        allclose(jgelu(x), want, 1e-5, 1e-6)
        rows["vfunc jit"] = best_time(lambda: jgelu(x), repeat=FAST_REPEAT, number=5)
        if show:
            show_code("GELU", jgelu, x)
    else:
        rows["vfunc jit"] = NO_JIT
    if jax is not None:
        jax_gelu = jax.jit(lambda v: gelu(v, jnp.tanh))
        xj = jnp.asarray(x_np)
        rows["JAX jit"] = best_time(
            lambda: jax.block_until_ready(jax_gelu(xj)), repeat=FAST_REPEAT, number=5
        )
    if torch is not None:
        xt = torch.from_numpy(x_np)
        rows["PyTorch eager"] = best_time(lambda: gelu(xt, torch.tanh), number=3)
    print_rows(f"GELU (tanh form) over {N} float32", rows)
    return rows


# 3. Adam ---------------------------------------------------------------------------------------


def make_adam(sqrt):
    """One Adam step ``(p, g, m, v, t) -> (p, m, v)``; ``t`` is the step count, a float32 scalar
    array (traced under jit)."""

    def adam(p, g, m, v, t):
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * (g * g)
        m_hat = m / (1 - B1**t)
        v_hat = v / (1 - B2**t)
        return p - LR * m_hat / (sqrt(v_hat) + EPS), m, v

    return adam


def make_adam_eager(sqrt):
    """NumPy and PyTorch: the bias corrections in Python floats (``B1 ** np.float32(t)`` is a
    float64 NumPy scalar, which would promote the whole update to float64)."""
    adam = make_adam(sqrt)
    return lambda p, g, m, v, t: adam(p, g, m, v, float(t))


def bench_adam(show: bool) -> dict:
    rng = np.random.default_rng(1)
    p_np, g_np = (rng.normal(size=N).astype(np.float32) for _ in range(2))
    m_np = (0.1 * rng.normal(size=N)).astype(np.float32)
    v_np = np.abs(0.01 * rng.normal(size=N)).astype(np.float32)
    t_np = np.float32(ADAM_STEP)
    want = make_adam_eager(np.sqrt)(p_np, g_np, m_np, v_np, t_np)

    def fresh():
        """New vfunc copies: donation may overwrite them, and asarray would share numpy's."""
        return tuple(vnp.asarray(a.copy()) for a in (p_np, g_np, m_np, v_np)) + (vnp.asarray(t_np),)

    def timed(step, args, repeat: int = 7) -> float:
        """Time ``step`` fed back its own outputs, as a training loop does (needed for donation:
        a donated input is consumed)."""
        p, g, m, v, t = args
        state = [p, m, v]

        def once():
            state[:] = step(state[0], g, state[1], state[2], t)

        return best_time(once, repeat=repeat, number=5)

    rows = {"numpy": timed(make_adam_eager(np.sqrt), (p_np, g_np, m_np, v_np, t_np))}
    adam = make_adam(vnp.sqrt)
    allclose(adam(*fresh()), want, 1e-5, 1e-7)
    rows["vfunc eager"] = timed(adam, fresh())
    if HAVE_JIT:
        for name, donate in (("vfunc jit", ()), ("vfunc jit, donate p, m, v", (0, 2, 3))):
            step = vfunc.jit(adam, donate_argnums=donate)
            allclose(step(*fresh()), want, 1e-5, 1e-7)
            if show and not donate:
                show_code("Adam", step, *fresh())
            rows[name] = timed(step, fresh(), FAST_REPEAT)
            # The step count is traced: new values of it reuse the one compiled version.
            p, g, m, v, _ = fresh()
            step(p, g, m, v, vnp.asarray(np.float32(ADAM_STEP + 1)))
            if step._cache_size() != 1:
                print(f"  warning: {name} compiled {step._cache_size()} versions, expected 1")
    else:
        rows["vfunc jit"] = rows["vfunc jit, donate p, m, v"] = NO_JIT
    if jax is not None:
        jargs = tuple(jnp.asarray(a) for a in (p_np, g_np, m_np, v_np, t_np))
        for name, donate in (("JAX jit", ()), ("JAX jit, donate p, m, v", (0, 2, 3))):
            jstep = jax.jit(make_adam(jnp.sqrt), donate_argnums=donate)
            rows[name] = timed(
                lambda *a, f=jstep: jax.block_until_ready(f(*a)),
                tuple(jnp.array(a, copy=True) for a in jargs),
                FAST_REPEAT,
            )
    if torch is not None:
        rows["PyTorch eager"] = timed(
            make_adam_eager(torch.sqrt),
            tuple(torch.from_numpy(a.copy()) for a in (p_np, g_np, m_np, v_np)) + (t_np,),
        )
    print_rows(f"Adam update of a {N}-element float32 parameter", rows)
    return rows


# 4./5. MLP training step -----------------------------------------------------------------------


def make_step(vg, tree_map, maximum, log_softmax):
    """``step(params, x, y) -> (new_params, loss)`` for vfunc (``vg`` = value_and_grad) or JAX."""

    def loss(params, x, y):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = maximum(h, 0.0)
        return -(log_softmax(h) * y).sum(axis=-1).mean()

    def step(params, x, y):
        value, grads = vg(loss)(params, x, y)
        return tree_map(lambda p, g: p - LR_SGD * g, params, grads), value

    return step


def vfunc_step():
    return make_step(vfunc.value_and_grad, vfunc.tree.map, vnp.maximum, vfunc.nn.log_softmax)


def jax_step():
    return make_step(jax.value_and_grad, jax.tree.map, jnp.maximum, jax.nn.log_softmax)


def numpy_step(params, x, y):
    """The same step with a hand-written backward pass."""
    acts, pre = [x], []
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            pre.append(h)
            h = np.maximum(h, 0.0)
            acts.append(h)
    shifted = h - h.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    value = -((shifted - np.log(total)) * y).sum(axis=-1).mean()
    # d loss / d logits = (softmax * sum(y) - y) / B
    d = (exp / total * y.sum(axis=-1, keepdims=True) - y) * np.float32(1 / len(x))
    grads = [None] * len(params)
    for layer in reversed(range(len(params) // 2)):
        grads[2 * layer] = acts[layer].T @ d
        grads[2 * layer + 1] = d.sum(axis=0)
        if layer:
            d = (d @ params[2 * layer].T) * (pre[layer - 1] > 0)
    return [p - LR_SGD * g for p, g in zip(params, grads, strict=True)], value


def bench_mlp() -> dict:
    params_np, x_np, y_np = mlp_data()
    want = numpy_step(params_np, x_np, y_np)
    params = [vnp.asarray(p) for p in params_np]
    x, y = vnp.asarray(x_np), vnp.asarray(y_np)
    step = vfunc_step()
    allclose(step(params, x, y), want, 1e-4, 1e-6)
    rows = {
        "numpy (hand-written backward)": best_time(lambda: numpy_step(params_np, x_np, y_np)),
        "vfunc eager": best_time(lambda: step(params, x, y)),
    }
    if HAVE_JIT:
        jstep = vfunc.jit(step)
        allclose(jstep(params, x, y), want, 1e-4, 1e-6)
        rows["vfunc jit"] = best_time(lambda: jstep(params, x, y), repeat=FAST_REPEAT, number=5)
    else:
        rows["vfunc jit"] = NO_JIT
    if jax is not None:
        jax_jstep = jax.jit(jax_step())
        jp = [jnp.asarray(p) for p in params_np]
        jx, jy = jnp.asarray(x_np), jnp.asarray(y_np)
        rows["JAX jit"] = best_time(
            lambda: jax.block_until_ready(jax_jstep(jp, jx, jy)), repeat=FAST_REPEAT, number=5
        )
    if torch is not None:
        tparams = [torch.from_numpy(p).requires_grad_() for p in params_np]
        tx, ty = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def torch_step():
            h = tx
            for i in range(0, len(tparams), 2):
                h = h @ tparams[i] + tparams[i + 1]
                if i + 2 < len(tparams):
                    h = torch.relu(h)
            value = -(torch.log_softmax(h, -1) * ty).sum(-1).mean()
            grads = torch.autograd.grad(value, tparams)
            with torch.no_grad():
                return [p - LR_SGD * g for p, g in zip(tparams, grads, strict=True)], value

        rows["PyTorch eager (autograd)"] = best_time(torch_step)
    print_rows(f"MLP training step {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD", rows)
    return rows


# 6. Transformations of jit ---------------------------------------------------------------------

TANH_SIZES = (256, 256, 256, 256, 10)


def tanh_mlp_loss(tanh, params, x):
    h = x
    for w, b in params:
        h = tanh(h @ w + b)
    return (h * h).mean()


# BENCH_JIT_TIMER=cpu: the interleaved rows take the process's CPU time (every thread's) instead
# of wall time: on a machine shared with other work a call waiting for a core counts nothing.
CLOCK = time.process_time if os.environ.get("BENCH_JIT_TIMER") == "cpu" else time.perf_counter


def interleaved(fns: dict, rounds: int = 40) -> dict:
    """Best time per call of each function, calls alternating, each round in another order
    (the first call of a round may find colder caches): on a loaded machine, a ratio of two
    rows is then measured over the same stretch of time."""
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        fn()
    items = list(fns.items())
    for k in range(rounds):
        for name, fn in items[k % len(items):] + items[: k % len(items)]:
            start = CLOCK()
            fn()
            best[name] = min(best[name], CLOCK() - start)
    return best


def bench_transforms() -> dict:
    """``grad(jit(f))`` (jit a call primitive whose VJP is a compiled forward call returning the
    residuals and a compiled backward call) against ``jit(grad(f))`` (one compiled program)."""
    rng = np.random.default_rng(0)
    pairs = list(zip(TANH_SIZES[:-1], TANH_SIZES[1:], strict=True))
    params_np = [(rng.normal(0, a**-0.5, (a, b)).astype(np.float32),
                  np.zeros(b, np.float32)) for a, b in pairs]  # fmt: skip
    x_np = rng.normal(size=(128, TANH_SIZES[0])).astype(np.float32)
    params = [(vnp.asarray(w), vnp.asarray(b)) for w, b in params_np]
    x = vnp.asarray(x_np)

    def loss(p, x):
        return tanh_mlp_loss(vnp.tanh, p, x)

    fns = {"vfunc eager grad": lambda: vfunc.grad(loss)(params, x)}
    if HAVE_JIT:
        grad_of_jit, jit_of_grad = vfunc.grad(vfunc.jit(loss)), vfunc.jit(vfunc.grad(loss))
        allclose(grad_of_jit(params, x), jit_of_grad(params, x), 1e-4, 1e-6)
        allclose(grad_of_jit(params, x), vfunc.grad(loss)(params, x), 1e-4, 1e-6)
        fns["vfunc grad(jit(f))"] = lambda: grad_of_jit(params, x)
        fns["vfunc jit(grad(f))"] = lambda: jit_of_grad(params, x)
    if jax is not None:
        jparams = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params_np]
        jx = jnp.asarray(x_np)

        def jloss(p, x):
            return tanh_mlp_loss(jnp.tanh, p, x)

        jax_gj, jax_jg = jax.grad(jax.jit(jloss)), jax.jit(jax.grad(jloss))
        fns["JAX grad(jit(f))"] = lambda: jax.block_until_ready(jax_gj(jparams, jx))
        fns["JAX jit(grad(f))"] = lambda: jax.block_until_ready(jax_jg(jparams, jx))
    rows = interleaved(fns)
    sizes = "-".join(map(str, TANH_SIZES))
    print_rows(f"grad of a 4-layer tanh MLP {sizes}, batch 128 (calls interleaved)", rows)
    return rows | bench_short_scan(rng)


def bench_short_scan(rng: np.random.Generator) -> dict:
    """An eager ``lax.scan`` of 20 RNN steps (hidden 128, batch 32) against the same under jit:
    eager control flow stages its body once and reuses the compiled loop."""
    hidden = 128
    params = {k: vnp.asarray(rng.normal(0, hidden**-0.5, (hidden, hidden)).astype(np.float32))
              for k in ("wx", "wh")}  # fmt: skip
    xs = vnp.asarray(rng.normal(size=(20, 32, hidden)).astype(np.float32))
    h0 = vnp.zeros((32, hidden), np.float32)

    def rnn(params, h0, xs):
        def step(h, x):
            h = vnp.tanh(x @ params["wx"] + h @ params["wh"])
            return h, h.mean()

        h, means = vfunc.lax.scan(step, h0, xs)
        return h.mean() + means.mean()

    fns = {"vfunc eager lax.scan": lambda: rnn(params, h0, xs)}
    if HAVE_JIT:
        jitted = vfunc.jit(rnn)
        allclose(jitted(params, h0, xs), rnn(params, h0, xs), 1e-5, 1e-6)
        fns["vfunc jit(scan)"] = lambda: jitted(params, h0, xs)
    rows = interleaved(fns, rounds=100)
    print_rows("RNN lax.scan of 20 steps, hidden 128, batch 32 (calls interleaved)", rows)
    return rows


def compile_probe(which: str) -> None:
    """Child-process entry: print the first call's wall time of the jitted MLP step (trace,
    optimize, compile and one run) in seconds, imports excluded."""
    params_np, x_np, y_np = mlp_data()
    if which == "vfunc":
        if not HAVE_JIT:
            print("nan")
            return
        args = ([vnp.asarray(p) for p in params_np], vnp.asarray(x_np), vnp.asarray(y_np))
        start = time.perf_counter()
        vfunc.jit(vfunc_step())(*args)
    else:
        args = ([jnp.asarray(p) for p in params_np], jnp.asarray(x_np), jnp.asarray(y_np))
        start = time.perf_counter()
        jax.block_until_ready(jax.jit(jax_step())(*args))
    print(f"{time.perf_counter() - start:.6f}")


def run_probe(which: str, env: dict) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--compile-probe", which],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def cache_env(directory: str) -> dict:
    return dict(os.environ, VFUNC_CACHE_DIR=directory, NUMBA_CACHE_DIR=directory)


def bench_compile() -> dict:
    rows = {}
    if HAVE_JIT:
        with tempfile.TemporaryDirectory(prefix="bench_jit_numba_cache_") as root:
            # Each cold process gets empty cache directories of its own (vfunc's generated
            # kernels, numba's compiled code); the warm ones then share the first's.
            envs = [cache_env(os.path.join(root, str(i))) for i in range(PROBES)]
            cold = [run_probe("vfunc", env) for env in envs]
            warm = [run_probe("vfunc", envs[0]) for _ in range(PROBES)]
        rows["vfunc, fresh process, empty cache"] = min(cold)
        rows["vfunc, fresh process, warm cache"] = min(warm)
    else:
        rows["vfunc, fresh process"] = NO_JIT
    if jax is not None:
        rows["JAX, fresh process"] = min(run_probe("jax", dict(os.environ)) for _ in range(PROBES))
    print(
        "First call of the jitted MLP step (trace + compile + one run), imports excluded, "
        f"best of {PROBES} processes"
    )
    for name, t in rows.items():
        print(f"  {name:36s} {t if isinstance(t, str) else f'{t:8.3f} s'}")
    return rows


def report_transforms(rows: dict) -> None:
    if not HAVE_JIT:
        return
    ratio = rows["vfunc grad(jit(f))"] / rows["vfunc jit(grad(f))"]
    check("grad(jit(f)) / jit(grad(f))", "<= 1.0x", ratio <= 1.0, f"{ratio:.2f}x")
    ratio = rows["vfunc eager lax.scan"] / rows["vfunc jit(scan)"]
    check("eager scan / jit(scan), 20 steps", "<= 1.0x", ratio <= 1.0, f"{ratio:.2f}x")


def main() -> None:
    show = "--show-code" in sys.argv
    print(f"vfunc {vfunc.__version__}, numpy {np.__version__}, "
          f"JAX {jax.__version__ if jax else 'not installed'}, "
          f"PyTorch {torch.__version__ if torch else 'not installed'}\n")  # fmt: skip
    if "--transforms" in sys.argv:  # only section 6
        report_transforms(bench_transforms())
        return
    overhead = bench_overhead()
    gelu_rows = bench_gelu(show)
    adam_rows = bench_adam(show)
    mlp = bench_mlp()
    compile_rows = bench_compile()
    transform_rows = bench_transforms()

    print("\nTargets")
    if not HAVE_JIT:
        print(f"  {NO_JIT}: no target can be checked")
        return
    # Against JAX's bare dispatch (the issue's 4.1 us is that), the stricter of its two rows.
    ref, src = jax_or_issue(overhead, "JAX jit (no block)", "overhead")
    t = overhead["vfunc jit"]
    check("call overhead", f"<= {src}", t <= ref, f"{t * 1e6:.2f} us vs {ref * 1e6:.2f} us")
    ref, src = jax_or_issue(gelu_rows, "JAX jit", "gelu")
    t = gelu_rows["vfunc jit"]
    check("GELU", f"<= {src}", t <= ref, f"{t * 1e3:.3f} ms vs {ref * 1e3:.3f} ms")
    speedup = gelu_rows["numpy"] / t
    check("GELU", ">= 9x", speedup >= 9, f"{speedup:.1f}x faster than numpy")
    speedup = adam_rows["numpy"] / adam_rows["vfunc jit, donate p, m, v"]
    check("Adam, donated", ">= 5x", speedup >= 5, f"{speedup:.1f}x faster than numpy")
    ref, src = jax_or_issue(mlp, "JAX jit", "mlp")
    ratio = mlp["vfunc jit"] / ref
    check("MLP step", f"<= 1.0x {src}", ratio <= 1.0, f"{ratio:.2f}x {src}")
    first = compile_rows["vfunc, fresh process, empty cache"]
    ref, src = jax_or_issue(compile_rows, "JAX, fresh process", "compile")
    check("MLP first call, cold", "<= 0.5 s", first <= 0.5, f"{first:.3f} s, {src} {ref:.3f} s")
    second = compile_rows["vfunc, fresh process, warm cache"]
    print(f"  MLP first call with the on-disk cache: {second:.3f} s ({first / second:.1f}x less)")
    report_transforms(transform_rows)
    print(
        "  (the issue's JAX figures: call 4.1 us, GELU 0.97 ms, MLP step 1.56 ms, first call "
        "0.19 s;\n   JAX's timings here swing between runs, GELU from 1.2 to 6 ms: rerun before "
        "trusting a verdict against JAX)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compile-probe":
        compile_probe(sys.argv[2])
    else:
        main()
