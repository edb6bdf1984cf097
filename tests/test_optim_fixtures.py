"""vfunc.optim against recorded optax 0.2.8 and torch.optim trajectories and schedules.

Fixtures: tests/fixtures/optim/, written once by scripts/record_fixtures/record_optim.py.
Every optimiser runs 30 jitted steps on a quadratic, the Rosenbrock function and a small MLP
from the recorded starting points; gradients come from vfunc.grad of the same losses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import optim, tree

FIXTURES = Path(__file__).parent / "fixtures" / "optim"
META = json.loads((FIXTURES / "configs.json").read_text())
SCHEDULE_VALUES = json.loads((FIXTURES / "schedules.json").read_text())
CONFIGS = META["configs"]
PROBLEMS = ("quadratic", "rosenbrock", "mlp")


@pytest.fixture(scope="module")
def recorded():
    with np.load(FIXTURES / "trajectories.npz") as f:
        traj = dict(f)
    with np.load(FIXTURES / "problems.npz") as f:
        data = dict(f)
    return traj, data


def resolve(value, lr):
    if value == "LR":
        return lr
    if isinstance(value, dict) and "schedule" in value:
        return make_schedule(value["schedule"], value["kwargs"], lr)
    return value


def make_schedule(name, kwargs, lr=None):
    kwargs = {k: resolve(v, lr) for k, v in kwargs.items()}
    if "boundaries_and_scales" in kwargs:
        kwargs["boundaries_and_scales"] = {
            int(k): v for k, v in kwargs["boundaries_and_scales"].items()
        }
    return getattr(optim, name)(**kwargs)


def make_optimizer(config, lr):
    parts = [getattr(optim, name)(**{k: resolve(v, lr) for k, v in kwargs.items()})
             for name, kwargs in config]  # fmt: skip
    return parts[0] if len(parts) == 1 else optim.chain(*parts)


def problem(name, data, dtype):
    """(loss, x0) in vfunc, the same functions record_optim.py differentiates in JAX."""
    if name == "quadratic":
        a = vnp.asarray(data["quadratic/A"], dtype)
        b = vnp.asarray(data["quadratic/b"], dtype)
        return (lambda x: 0.5 * x @ a @ x - b @ x), vnp.asarray(data["quadratic/x0"], dtype)
    if name == "rosenbrock":
        return (
            lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
            vnp.asarray(data["rosenbrock/x0"], dtype),
        )
    x_in, y_out = vnp.asarray(data["mlp/X"], dtype), vnp.asarray(data["mlp/Y"], dtype)

    def mlp(p):
        h = vnp.tanh(x_in @ p["W1"] + p["b1"])
        return vnp.mean((h @ p["W2"] + p["b2"] - y_out) ** 2)

    return mlp, {k: vnp.asarray(data[f"mlp/{k}"], dtype) for k in ("W1", "b1", "W2", "b2")}


def flat(params):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in tree.leaves(params)])


def run(problem_name, config_name, data, dtype, jit=True):
    loss, params = problem(problem_name, data, dtype)
    opt = make_optimizer(CONFIGS[config_name]["optax"], META["learning_rates"][problem_name])
    state = opt.init(params)
    grad = vfunc.grad(loss)

    def step(params, state):
        updates, state = opt.update(grad(params), state, params)
        return optim.apply_updates(params, updates), state

    if jit:
        step = vfunc.jit(step)
    out = [flat(params)]
    for _ in range(META["steps"]):
        params, state = step(params, state)
        out.append(flat(params))
    return np.stack(out), state


CASES = [(p, c) for p in PROBLEMS for c in CONFIGS]


@pytest.mark.parametrize(("problem_name", "config_name"), CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_float64_trajectory_matches_optax(problem_name, config_name, recorded, x64):
    traj, data = recorded
    ours, state = run(problem_name, config_name, data, np.float64)
    key = f"{problem_name}/{config_name}"
    # JAX divides an int32 count by an int in float32 even with x64 on (vfunc.numpy: float64),
    # so optax's exponential_decay learning rate carries float32 rounding: ~1e-8 absolute
    # differences on the MLP's weights that cross zero.
    atol = 1e-7 if config_name == "adam_schedule_exp" else 1e-9
    np.testing.assert_allclose(ours, traj[f"{key}/f64"], rtol=1e-5, atol=atol)
    # The state interchanges with optax's: the same leaves in the same order, same values.
    theirs = [traj[k] for k in sorted(traj) if k.startswith(f"{key}/state/")]
    mine = tree.leaves(state)
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert np.asarray(a).shape == b.shape
        np.testing.assert_allclose(np.asarray(a, np.float64), b.astype(np.float64), rtol=1e-5,
                                   atol=atol)  # fmt: skip
    if CONFIGS[config_name]["torch"] is not None:
        np.testing.assert_allclose(ours, traj[f"{key}/torch"], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("problem_name", "config_name"), CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_float32_trajectory_matches_optax(problem_name, config_name, recorded, x64_off):
    traj, data = recorded
    ours, _ = run(problem_name, config_name, data, np.float32)
    theirs = traj[f"{problem_name}/{config_name}/f32"]
    # Rounding differs between XLA and NumPy (fused multiply-adds, summation order) and grows
    # along a trajectory; the scale of the values bounds the absolute error.
    scale = np.max(np.abs(theirs), axis=1, keepdims=True)
    assert np.all(np.abs(ours - theirs) <= 2e-3 * scale + 1e-5), np.max(np.abs(ours - theirs))


def test_eager_matches_jit(recorded, x64):
    traj, data = recorded
    for config in ("adamw", "muon", "rmsprop_centered_momentum"):
        ours, _ = run("mlp", config, data, np.float64, jit=False)
        np.testing.assert_allclose(ours, traj[f"mlp/{config}/f64"], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", sorted(SCHEDULE_VALUES))
def test_schedule_values_match_optax(name, x64):
    fn, kwargs = META["schedules"][name]
    schedule = make_schedule(fn, kwargs)
    expected = SCHEDULE_VALUES[name]
    ours = [float(schedule(vnp.asarray(i, vnp.int32))) for i in range(len(expected))]
    # rtol 1e-5, not 1e-12: JAX divides int32 counts in float32 even with x64 on (the one-cycle
    # schedule's interval fraction, exponential_decay's exponent); vfunc divides in float64.
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-12)
    # Python ints work too, and a jitted schedule gives the same values.
    assert float(schedule(7)) == pytest.approx(expected[7], rel=1e-5, abs=1e-12)
    jitted = vfunc.jit(schedule)
    np.testing.assert_allclose(float(jitted(vnp.asarray(11, vnp.int32))), expected[11],
                               rtol=1e-5, atol=1e-12)  # fmt: skip


def test_recorded_with_optax_0_2_8():
    assert META["optax"] == "0.2.8"


def test_muon_with_dimension_numbers_matches_optax(x64):
    with np.load(FIXTURES / "muon_dims.npz") as f:
        rec = dict(f)
    dims = optim.MuonDimensionNumbers
    opt = optim.muon(
        0.02, weight_decay=0.1,
        muon_weight_dimension_numbers={"conv": dims((1, 2, 3), 0), "b": None, "fc": dims()},
    )  # fmt: skip
    params = {k: vnp.asarray(rec[f"params/{k}"]) for k in ("conv", "b", "fc")}
    grads = {k: vnp.asarray(rec[f"grads/{k}"]) for k in params}
    state = opt.init(params)
    step = vfunc.jit(opt.update)
    for _ in range(3):
        updates, state = step(grads, state, params)
        params = optim.apply_updates(params, updates)
    for k in params:
        np.testing.assert_allclose(np.asarray(params[k]), rec[f"after/{k}"], rtol=1e-10)
