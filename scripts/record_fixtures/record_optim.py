"""Record optax (and torch.optim) trajectories and schedule values for tests/test_optim*.py.

Run once in the scratch environment (jax, optax 0.2.8, torch):

    /work/scratch/bin/python scripts/record_fixtures/record_optim.py

Writes tests/fixtures/optim/: ``problems.npz`` (the problems' data and starting points),
``trajectories.npz`` (per problem and config: the flattened params after each of 30 steps,
float64 and float32, the torch.optim trajectory where torch has the same equations, and
optax's final float64 state leaves), ``schedules.json``, ``configs.json``, ``noise.npz``
(add_noise draws) and ``muon_dims.npz`` (Muon on a conv kernel with dimension numbers).
``--small-only`` rewrites just the last two.

torch.optim is driven with JAX's gradients at its current params (the same loss), so only the
optimisers differ. Where torch's equations differ from optax's, the configs set hyperparameters
that make them equal (see optim_configs.py): AMSGrad with b2 = 0, RAdam and Adagrad with
eps = 0, RMSprop with eps outside the square root. NAdam is not compared with torch (torch's
NAdam has a momentum-decay schedule that optax's lacks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import optax.contrib  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from optim_configs import (  # noqa: E402
    CONFIGS,
    LEARNING_RATES,
    SCHEDULE_STEPS,
    SCHEDULES,
    STEPS,
)

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "optim"


def problems() -> dict:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    data = {
        "quadratic/A": m @ m.T / 5 + np.eye(5),
        "quadratic/b": rng.normal(size=5),
        "quadratic/x0": rng.normal(size=5),
        "rosenbrock/x0": np.array([-1.2, 1.0]),
        "mlp/X": rng.normal(size=(16, 4)),
        "mlp/Y": rng.normal(size=(16, 3)),
        "mlp/W1": rng.normal(size=(4, 8)) * 0.5,
        "mlp/b1": rng.normal(size=8) * 0.1,
        "mlp/W2": rng.normal(size=(8, 3)) * 0.5,
        "mlp/b2": rng.normal(size=3) * 0.1,
    }
    return data


def losses(data: dict) -> dict:
    a, b = jnp.asarray(data["quadratic/A"]), jnp.asarray(data["quadratic/b"])
    x_in, y_out = jnp.asarray(data["mlp/X"]), jnp.asarray(data["mlp/Y"])

    def quadratic(x):
        return 0.5 * x @ a @ x - b @ x

    def rosenbrock(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    def mlp(p):
        h = jnp.tanh(x_in @ p["W1"] + p["b1"])
        return jnp.mean((h @ p["W2"] + p["b2"] - y_out) ** 2)

    mlp_x0 = {k: data[f"mlp/{k}"] for k in ("W1", "b1", "W2", "b2")}
    return {
        "quadratic": (quadratic, data["quadratic/x0"]),
        "rosenbrock": (rosenbrock, data["rosenbrock/x0"]),
        "mlp": (mlp, mlp_x0),
    }


def resolve(value, lr, module):
    if value == "LR":
        return lr
    if isinstance(value, dict) and "schedule" in value:
        return make_schedule(value["schedule"], value["kwargs"], module, lr)
    return value


def make_schedule(name, kwargs, module, lr=None):
    kwargs = {k: resolve(v, lr, module) for k, v in kwargs.items()}
    if "boundaries_and_scales" in kwargs:
        kwargs["boundaries_and_scales"] = {
            int(k): v for k, v in kwargs["boundaries_and_scales"].items()
        }
    return getattr(module, name)(**kwargs)


def make_optax(config, lr):
    parts = []
    for name, kwargs in config:
        kwargs = {k: resolve(v, lr, optax) for k, v in kwargs.items()}
        fn = optax.contrib.muon if name == "muon" else getattr(optax, name)
        parts.append(fn(**kwargs))
    return parts[0] if len(parts) == 1 else optax.chain(*parts)


def flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def run_optax(loss, x0, config, lr, dtype):
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), x0)
    opt = make_optax(config, lr)
    state = opt.init(params)
    grad = jax.grad(loss)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(grad(params), state, params)
        return optax.apply_updates(params, updates), state

    out = [flat(params)]
    for _ in range(STEPS):
        params, state = step(params, state)
        out.append(flat(params))
    return np.stack(out), state


def run_torch(loss, x0, spec, lr):
    cls, kwargs = spec
    kwargs = {k: resolve(v, lr, None) for k, v in kwargs.items()}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    leaves, treedef = jax.tree.flatten(x0)
    tensors = [torch.tensor(np.asarray(x, np.float64), requires_grad=True) for x in leaves]
    opt = getattr(torch.optim, cls)(tensors, **kwargs)
    grad = jax.jit(jax.grad(loss))
    out = [np.concatenate([t.detach().numpy().ravel() for t in tensors])]
    for _ in range(STEPS):
        params = jax.tree.unflatten(treedef, [jnp.asarray(t.detach().numpy()) for t in tensors])
        for t, g in zip(tensors, jax.tree.leaves(grad(params)), strict=True):
            t.grad = torch.tensor(np.asarray(g))
        opt.step()
        out.append(np.concatenate([t.detach().numpy().ravel() for t in tensors]))
    return np.stack(out)


def record_noise() -> None:
    """add_noise's updates for three steps from key 0: the check, once vfunc.random exists,
    that vfunc draws optax's noise (JAX's Threefry streams)."""
    opt = optax.add_noise(eta=0.01, gamma=0.55, key=0)
    updates = {"a": jnp.zeros((3, 4), jnp.float32), "b": jnp.zeros(5, jnp.float32)}
    state = opt.init(updates)
    arrays = {}
    for step in range(3):
        out, state = opt.update(updates, state)
        for k in ("a", "b"):
            arrays[f"step{step}/{k}"] = np.asarray(out[k])
    arrays["final_key"] = np.asarray(jax.random.key_data(state.rng_key))
    np.savez(OUT / "noise.npz", **arrays)


def record_muon_dimension_numbers() -> None:
    """Three muon steps on a conv kernel (reduction axes (1, 2, 3), output axis 0), a matrix
    and a bias (None: AdamW), with weight decay: optax's final params."""
    rng = np.random.default_rng(0)
    params = {"conv": rng.normal(size=(6, 3, 2, 2)), "b": rng.normal(size=6),
              "fc": rng.normal(size=(5, 6))}  # fmt: skip
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    dims = optax.contrib.MuonDimensionNumbers
    opt = optax.contrib.muon(
        0.02, weight_decay=0.1,
        muon_weight_dimension_numbers={"conv": dims((1, 2, 3), 0), "b": None, "fc": dims()},
    )  # fmt: skip
    p = jax.tree.map(jnp.asarray, params)
    state = opt.init(p)
    for _ in range(3):
        updates, state = opt.update(jax.tree.map(jnp.asarray, grads), state, p)
        p = optax.apply_updates(p, updates)
    arrays = {f"params/{k}": v for k, v in params.items()}
    arrays.update({f"grads/{k}": v for k, v in grads.items()})
    arrays.update({f"after/{k}": np.asarray(v) for k, v in p.items()})
    np.savez(OUT / "muon_dims.npz", **arrays)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    record_noise()
    record_muon_dimension_numbers()
    if sys.argv[1:] == ["--small-only"]:  # the two small fixtures above, not the trajectories
        return
    data = problems()
    np.savez(OUT / "problems.npz", **data)
    arrays = {}
    for problem, (loss, x0) in losses(data).items():
        lr = LEARNING_RATES[problem]
        for name, config in CONFIGS.items():
            traj64, state = run_optax(loss, x0, config["optax"], lr, jnp.float64)
            traj32, _ = run_optax(loss, x0, config["optax"], lr, jnp.float32)
            assert np.all(np.isfinite(traj64)), (problem, name)
            arrays[f"{problem}/{name}/f64"] = traj64
            arrays[f"{problem}/{name}/f32"] = traj32
            for i, leaf in enumerate(jax.tree.leaves(state)):
                leaf = np.asarray(leaf)
                if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                    continue
                arrays[f"{problem}/{name}/state/{i:03d}"] = leaf
            if config["torch"] is not None:
                traj = run_torch(loss, x0, config["torch"], lr)
                arrays[f"{problem}/{name}/torch"] = traj
                gap = np.max(np.abs(traj - traj64) / (np.abs(traj64) + 1e-8))
                print(f"{problem:10s} {name:28s} torch vs optax max rel diff {gap:.2e}")
    np.savez_compressed(OUT / "trajectories.npz", **arrays)

    schedules = {}
    for name, (fn, kwargs) in SCHEDULES.items():
        schedule = make_schedule(fn, kwargs, optax)
        schedules[name] = [float(schedule(jnp.asarray(i, jnp.int32))) for i in
                           range(SCHEDULE_STEPS)]  # fmt: skip
    (OUT / "schedules.json").write_text(json.dumps(schedules, indent=1) + "\n")
    meta = {"optax": optax.__version__, "jax": jax.__version__, "torch": torch.__version__,
            "configs": CONFIGS, "learning_rates": LEARNING_RATES, "steps": STEPS,
            "schedules": SCHEDULES}  # fmt: skip
    (OUT / "configs.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
