"""Record JAX's random streams once, as facts, into tests/fixtures/random/*.npz.

Run with the scratch environment (jax 0.10, threefry partitionable, the default):

    /work/scratch/bin/python scripts/record_fixtures/record_random.py

Two files: ``jax_x32.npz`` (default 32-bit mode) and ``jax_x64.npz`` (``jax_enable_x64``).
Each entry is named ``<case>`` and holds the output array; keys are stored as their uint32 data.
The test module recomputes every case with vfunc.random from the name alone (the table of
cases lives there too), so both sides must agree on the names below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "random"


def record(x64: bool) -> dict[str, np.ndarray]:
    import jax

    jax.config.update("jax_enable_x64", x64)
    import jax.numpy as jnp
    from jax import random as jr

    assert jax.config.jax_threefry_partitionable, "record with JAX's default key derivation"
    out: dict[str, np.ndarray] = {}
    data = jr.key_data

    seeds = [0, 1, 42, 2**31 - 1, -1, -7, 2**32 + 5, 2**40 + 3, -(2**40), 2**63 - 1]
    for s in seeds:
        out[f"PRNGKey_{s}"] = np.asarray(jr.PRNGKey(s))
        out[f"key_{s}"] = np.asarray(data(jr.key(s)))
    out["PRNGKey_np_uint32_4000000000"] = np.asarray(jr.PRNGKey(np.uint32(4000000000)))
    out["PRNGKey_np_int8_-3"] = np.asarray(jr.PRNGKey(np.int8(-3)))
    if x64:
        out["PRNGKey_np_uint64_big"] = np.asarray(jr.PRNGKey(np.uint64(2**64 - 3)))

    k = jr.key(0)
    for num in (2, 3, 7):
        out[f"split_{num}"] = np.asarray(data(jr.split(k, num)))
    out["split_2x3"] = np.asarray(data(jr.split(k, (2, 3))))
    out["split_of_split"] = np.asarray(data(jr.split(jr.split(jr.key(5))[1], 4)))
    for d in (0, 1, 12345, 2**32 - 1):
        out[f"fold_in_{d}"] = np.asarray(data(jr.fold_in(k, d)))
    out["fold_in_neg"] = np.asarray(data(jr.fold_in(k, jnp.int32(-3))))

    k42 = jr.key(42)
    dts = ["uint8", "uint16", "uint32"] + (["uint64"] if x64 else [])
    for dt in dts:
        for shape in [(), (7,), (3, 5)]:
            name = "x".join(map(str, shape)) or "s"
            out[f"bits_{dt}_{name}"] = np.asarray(jr.bits(k42, shape, dt))
    out["bits_default_5"] = np.asarray(jr.bits(k42, (5,)))

    k7 = jr.key(7)
    ints = ["int8", "uint8", "int16", "int32", "uint32"] + (["int64", "uint64"] if x64 else [])
    for dt in ints:
        out[f"randint_{dt}_0_10"] = np.asarray(jr.randint(k7, (50,), 0, 10, dt))
        out[f"randint_{dt}_full"] = np.asarray(
            jr.randint(k7, (50,), np.array(np.iinfo(dt).min, dt), np.array(np.iinfo(dt).max, dt),
                       dt)
        )
    out["randint_default_-5_5"] = np.asarray(jr.randint(k7, (4, 5), -5, 5))
    out["randint_big_span"] = np.asarray(jr.randint(k7, (30,), -(2**31) + 3, 2**31 - 5))
    out["randint_arr_bounds"] = np.asarray(
        jr.randint(k7, (2, 3), jnp.array([0, 10, 100]), jnp.array([[5], [1000]]))
    )
    out["randint_empty_range"] = np.asarray(jr.randint(k7, (6,), 5, 5))

    fl = ["float32"] + (["float64"] if x64 else [])
    k3 = jr.key(3)
    for dt in fl:
        out[f"uniform_{dt}"] = np.asarray(jr.uniform(k3, (1000,), dt))
        out[f"uniform_{dt}_scalar"] = np.asarray(jr.uniform(k3, (), dt))
        out[f"uniform_{dt}_-3_5"] = np.asarray(jr.uniform(k3, (2, 50), dt, -3.0, 5.0))
        out[f"uniform_{dt}_arr"] = np.asarray(
            jr.uniform(k3, (4, 3), dt, jnp.array([0.0, 1.0, -2.0]), 7.5)
        )
        out[f"bernoulli_{dt}"] = np.asarray(jr.bernoulli(k3, jnp.asarray(0.3, dt), (200,)))
        out[f"bernoulli_{dt}_arr"] = np.asarray(
            jr.bernoulli(k3, jnp.asarray([0.1, 0.5, 0.9], dt), (4, 3))
        )
        out[f"normal_{dt}"] = np.asarray(jr.normal(k3, (2000,), dt))
        out[f"normal_{dt}_2x3"] = np.asarray(jr.normal(k3, (2, 3), dt))
        out[f"truncated_normal_{dt}"] = np.asarray(jr.truncated_normal(k3, -2.0, 2.0, (2000,), dt))
        out[f"truncated_normal_{dt}_-1_3"] = np.asarray(
            jr.truncated_normal(k3, -1.0, 3.0, (500,), dt)
        )
        for name in ("gumbel", "exponential", "laplace", "logistic", "cauchy"):
            out[f"{name}_{dt}"] = np.asarray(getattr(jr, name)(k3, (2000,), dt))
        a = jnp.asarray([0.2, 0.9, 1.0, 2.5, 30.0], dt)
        out[f"gamma_{dt}"] = np.asarray(jr.gamma(k3, a, (40, 5), dt))
        out[f"loggamma_{dt}"] = np.asarray(jr.loggamma(k3, a, (40, 5), dt))
        out[f"gamma_grad_{dt}"] = np.asarray(
            jax.grad(lambda a: jr.gamma(k3, a, (40, 5), dt).sum())(a)
        )
        b = jnp.asarray([0.5, 3.0, 1.0, 2.0, 0.7], dt)
        out[f"beta_{dt}"] = np.asarray(jr.beta(k3, a, b, (40, 5), dt))
        out[f"categorical_{dt}"] = np.asarray(
            jr.categorical(k3, jnp.log(jnp.asarray([0.1, 0.2, 0.7], dt)), shape=(300,))
        )

    k9 = jr.key(9)
    out["permutation_10"] = np.asarray(jr.permutation(k9, 10))
    out["permutation_1000"] = np.asarray(jr.permutation(k9, 1000))
    arr = jnp.arange(24).reshape(4, 6)
    out["permutation_arr_axis0"] = np.asarray(jr.permutation(k9, arr))
    out["permutation_arr_axis1"] = np.asarray(jr.permutation(k9, arr, axis=1))
    out["permutation_arr_indep"] = np.asarray(jr.permutation(k9, arr, axis=1, independent=True))
    out["choice_replace"] = np.asarray(jr.choice(k9, 10, (20,)))
    out["choice_noreplace"] = np.asarray(jr.choice(k9, 10, (5,), replace=False))
    out["rademacher"] = np.asarray(jr.rademacher(k9, (40,)))
    out["raw_key_normal"] = np.asarray(jr.normal(jr.PRNGKey(0), (5,)))
    return out


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else None
    if mode is None:  # one process per mode: x64 must be set before any array exists
        import subprocess

        for m in ("x32", "x64"):
            subprocess.run([sys.executable, __file__, m], check=True)
        return
    out = record(mode == "x64")
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / f"jax_{mode}.npz", **out)
    print(f"wrote {len(out)} arrays to {OUT / f'jax_{mode}.npz'}")


if __name__ == "__main__":
    main()
