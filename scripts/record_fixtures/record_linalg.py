"""Record JAX's values and gradients of linear-algebra losses (float64) for tests/test_linalg.py.

Run once with the scratch environment (it has jax):

    /work/scratch/bin/python scripts/record_fixtures/record_linalg.py

Writes tests/fixtures/linalg/jax_x64.npz: the inputs (``in_*``), and for each case ``NAME``
the loss value ``NAME_value`` and its gradient ``NAME_grad`` with respect to the first input.
The losses are sign-invariant where a decomposition's signs are not unique (eigenvectors,
singular vectors), so they compare across LAPACK builds. test_linalg.py writes the same losses
with vfunc; keep the two lists in step.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import jax.scipy.linalg as jsl  # noqa: E402

rng = np.random.default_rng(2026)
x = rng.standard_normal((4, 4))
spd = x @ x.T / 4 + np.eye(4)
INPUTS = {
    "lopsided_spd": spd + 0.2 * np.triu(rng.standard_normal((4, 4))),  # symmetric part is SPD
    "general": rng.standard_normal((4, 4)) + 4 * np.eye(4),
    "tall": rng.standard_normal((5, 3)),
    "w44": rng.standard_normal((4, 4)),
    "w53": rng.standard_normal((5, 3)),
    "w33": rng.standard_normal((3, 3)),
    "c4": rng.standard_normal(4),
    "c3": rng.standard_normal(3),
    "b42": rng.standard_normal((4, 2)),
}
i = INPUTS
CASES = {
    "cholesky": (lambda a: jnp.sum(jnp.linalg.cholesky(a) * i["w44"]), "lopsided_spd"),
    "eigh": (lambda a: jnp.sum(jnp.linalg.eigh(a)[0] * i["c4"])
             + jnp.sum(jnp.linalg.eigh(a)[1] ** 2 * i["w44"]), "lopsided_spd"),
    "eigvalsh_identity": (lambda a: jnp.sum(jnp.linalg.eigvalsh(a) * i["c3"]), "eye3"),
    "svd": (lambda a: jnp.sum(jnp.linalg.svd(a, full_matrices=False)[1] * i["c3"])
            + jnp.sum(jnp.linalg.svd(a, full_matrices=False)[0] ** 2 * i["w53"])
            + jnp.sum(jnp.linalg.svd(a, full_matrices=False)[2] ** 2 * i["w33"]), "tall"),
    "qr": (lambda a: jnp.sum(jnp.linalg.qr(a)[0] * i["w53"])
           + jnp.sum(jnp.linalg.qr(a)[1] * i["w33"]), "tall"),
    "det": (lambda a: jnp.linalg.det(a), "general"),
    "slogdet": (lambda a: jnp.linalg.slogdet(a)[1], "general"),
    "inv": (lambda a: jnp.sum(jnp.linalg.inv(a) * i["w44"]), "general"),
    "solve": (lambda a: jnp.sum(jnp.linalg.solve(a, i["b42"]) ** 2), "general"),
    "pinv": (lambda a: jnp.sum(jnp.linalg.pinv(a) * i["w53"].T), "tall"),
    "lstsq": (lambda a: jnp.sum(jnp.linalg.lstsq(a, i["w53"][:, 0])[0] * i["c3"]), "tall"),
    "matrix_power": (lambda a: jnp.sum(jnp.linalg.matrix_power(a / 4, 3) * i["w44"]), "general"),
    "cond": (lambda a: jnp.linalg.cond(a), "general"),
    "norm_nuc": (lambda a: jnp.linalg.norm(a, "nuc"), "tall"),
    "norm_2": (lambda a: jnp.linalg.norm(a, 2), "tall"),
    "expm": (lambda a: jnp.sum(jsl.expm(a / 3) * i["w44"]), "general"),
    "cho_solve": (lambda a: jnp.sum(jsl.cho_solve(jsl.cho_factor(a), i["b42"]) * i["b42"]),
                  "lopsided_spd"),
    "lu_factor": (lambda a: jnp.sum(jsl.lu_factor(a)[0] * i["w44"]), "general"),
    "solve_triangular": (lambda a: jnp.sum(jsl.solve_triangular(a, i["b42"], lower=True,
                                                                trans=1) ** 2), "general"),
}


def main() -> None:
    inputs = {**INPUTS, "eye3": np.eye(3)}
    out = {f"in_{k}": v for k, v in inputs.items()}
    for name, (fun, arg) in CASES.items():
        value, grad = jax.value_and_grad(fun)(jnp.asarray(inputs[arg]))
        out[f"{name}_value"], out[f"{name}_grad"] = np.asarray(value), np.asarray(grad)
    path = Path(__file__).parents[2] / "tests" / "fixtures" / "linalg" / "jax_x64.npz"
    np.savez(path, **out)
    print(f"wrote {path} ({len(CASES)} cases, jax {jax.__version__})")


if __name__ == "__main__":
    main()
