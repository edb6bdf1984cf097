"""Record jax.nn.initializers' orthogonal and delta_orthogonal draws into
tests/fixtures/nn/init_*.npz. vfunc.random reproduces JAX's Threefry bits, so the same key and
shape must give the same matrix. Run once, in the scratch venv:

    /work/scratch/bin/python scripts/record_fixtures/record_init.py

Each fixture: the initialiser's name, kwargs, shape, dtype and seed (JSON) and JAX's result.
"""

import json
import os

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "nn")

CASES = [
    ("orthogonal", {}, (4, 6), "float32", 0),
    ("orthogonal", {}, (6, 4), "float32", 1),
    ("orthogonal", {"scale": 2.0, "column_axis": 0}, (3, 4, 5), "float32", 2),
    ("orthogonal", {}, (5, 5), "float64", 3),
    ("delta_orthogonal", {}, (3, 3, 4), "float32", 4),
    ("delta_orthogonal", {"scale": 0.5}, (2, 4, 3, 5), "float32", 5),
    ("delta_orthogonal", {}, (3, 2, 3, 2, 2), "float64", 6),
]

if __name__ == "__main__":
    for i, (name, kwargs, shape, dtype, seed) in enumerate(CASES):
        init = getattr(jax.nn.initializers, name)(**kwargs)
        value = init(jax.random.key(seed), shape, jnp.dtype(dtype))
        meta = {"name": name, "kwargs": kwargs, "shape": list(shape), "dtype": dtype,
                "seed": seed}
        np.savez_compressed(os.path.join(OUT, f"init_{i}_{name}.npz"),
                            meta=np.array(json.dumps(meta)), value=np.asarray(value))
    print("recorded", len(CASES))
