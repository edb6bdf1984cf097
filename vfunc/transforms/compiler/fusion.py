"""Elementwise fusion: chains of elementwise equations become one numba loop (placeholder)."""

from __future__ import annotations

from typing import Any


class Cluster:
    """A group of fused elementwise equations with its external inputs and outputs."""

    inputs: list
    outputs: list
    shape: tuple


def plan(jaxpr: Any) -> list:
    """The equations of ``jaxpr`` in order, with fusible chains grouped into Clusters."""
    return list(jaxpr.eqns)


def build_kernel(cluster: Cluster) -> Any:  # pragma: no cover - filled in with fusion
    raise NotImplementedError
