"""The MLP every benchmark trains (784-512-512-10, batch 128, float32), as numpy arrays."""

from __future__ import annotations

import numpy as np

SIZES = [784, 512, 512, 10]
BATCH = 128


def mlp_data(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``(params, x, one_hot_labels)``: He-style weights and zero biases, interleaved
    ``[w0, b0, w1, b1, w2, b2]``, a standard-normal batch and random one-hot labels."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        params.append(rng.normal(0, n_in**-0.5, (n_in, n_out)).astype(np.float32))
        params.append(np.zeros(n_out, np.float32))
    x = rng.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    labels = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], BATCH)]
    return params, x, labels
