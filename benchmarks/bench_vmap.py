"""Per-example gradients with vmap(grad), one run, reported as ratios (issue 5).

MLP 784-512-512-10 (ReLU, softmax cross-entropy), batch 128, float32, eager:

* ``vmap(grad(loss))`` over the batch, against one ``grad`` of the batch loss (target: at most
  2x) and against a Python loop of per-example ``grad`` calls (target: at least 20x faster);
* ``torch.func.vmap(torch.func.grad(...))`` and JAX's ``jit(vmap(grad))`` of the same function
  when they are importable (scratch environment only; never vfunc dependencies).

Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_vmap.py
"""

from __future__ import annotations

import numpy as np
from mlp_data import BATCH, SIZES, mlp_data
from timing import best_time

import vfunc
import vfunc.numpy as vnp


def loss(params, x, labels):
    """Softmax cross-entropy of the MLP; ``x`` and ``labels`` may be one example or a batch."""
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = vnp.maximum(h, 0.0)
    return -(vfunc.nn.log_softmax(h) * labels).sum(axis=-1).mean()


def main() -> None:
    params_np, x_np, labels_np = mlp_data(0)
    params = [vnp.asarray(p) for p in params_np]
    x, labels = vnp.asarray(x_np), vnp.asarray(labels_np)

    grad = vfunc.grad(loss)
    per_example = vfunc.vmap(grad, in_axes=(None, 0, 0))
    rows = {
        "vfunc grad (batch loss)": best_time(lambda: grad(params, x, labels)),
        "vfunc vmap(grad)": best_time(lambda: per_example(params, x, labels)),
        "vfunc loop of grad": best_time(
            lambda: [grad(params, x[i], labels[i]) for i in range(BATCH)], repeat=2
        ),
    }
    # A floor no per-example method can beat: allocating and writing the B gradient copies
    # (BATCH x every parameter, 343 MB here) once, with numpy on one core.
    rows["floor: write the output"] = best_time(
        lambda: [np.full((BATCH, *p.shape), 1.0, np.float32) for p in params_np]
    )
    # The per-example gradients agree with the loop's (checked once, outside the timing).
    got = per_example(params, x, labels)
    one = grad(params, x[5], labels[5])
    np.testing.assert_allclose(np.asarray(got[0][5]), np.asarray(one[0]), rtol=1e-4, atol=1e-6)

    try:
        import torch
        from torch.func import grad as tgrad
        from torch.func import vmap as tvmap

        torch.set_num_threads(2)
        tparams = [torch.from_numpy(p) for p in params_np]

        def tloss(ps, xi, yi):
            h = xi
            for i in range(0, len(ps), 2):
                h = h @ ps[i] + ps[i + 1]
                if i + 2 < len(ps):
                    h = torch.relu(h)
            return -(torch.log_softmax(h, -1) * yi).sum(-1).mean()

        tper = tvmap(tgrad(tloss), in_dims=(None, 0, 0))
        tx, ty = torch.from_numpy(x_np), torch.from_numpy(labels_np)
        rows["torch.func vmap(grad)"] = best_time(lambda: tper(tparams, tx, ty))
    except ImportError:
        rows["torch.func vmap(grad)"] = None
    try:
        import jax
        import jax.numpy as jnp

        jparams = [jnp.asarray(p) for p in params_np]

        def jloss(ps, xi, yi):
            h = xi
            for i in range(0, len(ps), 2):
                h = h @ ps[i] + ps[i + 1]
                if i + 2 < len(ps):
                    h = jnp.maximum(h, 0.0)
            return -(jax.nn.log_softmax(h) * yi).sum(-1).mean()

        jper = jax.jit(jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0)))
        jx, jy = jnp.asarray(x_np), jnp.asarray(labels_np)
        rows["JAX jit(vmap(grad))"] = best_time(
            lambda: jax.block_until_ready(jper(jparams, jx, jy))
        )
    except ImportError:
        rows["JAX jit(vmap(grad))"] = None

    print(f"Per-example gradients, MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32")
    base = rows["vfunc vmap(grad)"]
    for name, t in rows.items():
        if t is None:
            print(f"  {name:26s}  not installed")
        else:
            print(f"  {name:26s} {t * 1e3:9.2f} ms   this / vfunc vmap(grad) = {t / base:6.2f}")
    print(
        "  (vmap(grad) writes a gradient per example, so the output-writing floor above bounds "
        "it,\n   not the batched grad, which writes one)"
    )
    print(
        f"  vmap(grad) / batched grad = {base / rows['vfunc grad (batch loss)']:.2f}x "
        "(target <= 2x)"
    )
    print(f"  loop / vmap(grad) = {rows['vfunc loop of grad'] / base:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
