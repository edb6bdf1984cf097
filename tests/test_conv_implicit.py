"""The implicit-GEMM path of the packed family (unit strides on a zero-padded grid, many channels
per group), the conv worker pool's scheduling, and the conv workspace's bound: its extra memory
does not grow with the batch."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.primitives import conv_kernels
from vfunc.primitives.conv_kernels import ConvParams, packed, threads
from vfunc.primitives.conv_kernels.plan import conv_plan

from references import conv as cref


@pytest.fixture(autouse=True)
def _small_planes_take_the_implicit_path(monkeypatch):
    # These cases are small so the checks stay fast; by default planes this small take the
    # packed slabs (see test_small_planes_take_the_packed_slabs).
    monkeypatch.setattr(packed, "IMPLICIT_MIN_PIXELS", 1)


IMPLICIT_CASES = [  # (x shape, w shape, padding, rhs_dil, groups)
    ((2, 16, 9, 10), (32, 16, 3, 3), ((1, 1), (1, 1)), (1, 1), 1),  # SAME
    ((2, 32, 7, 8), (32, 16, 3, 2), ((2, 0), (1, 2)), (2, 1), 2),  # groups, dilation, skewed pads
    ((3, 16, 13), (16, 16, 3), ((0, 2),), (1,), 1),  # 1-D
    ((2, 16, 8, 8), (16, 16, 5, 5), ((0, 0), (0, 0)), (1, 1), 1),  # VALID
]  # fmt: skip


@pytest.mark.parametrize("band_bytes", [1 << 20, 1], ids=["whole_images", "one_row_bands"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", IMPLICIT_CASES, ids=lambda c: f"{c[0]}x{c[1]}")
def test_implicit_gemm_matches_reference(case, dtype, band_bytes, monkeypatch):
    monkeypatch.setattr(conv_kernels, "BAND_BYTES", band_bytes)
    xs, ws, pads, rds, groups = case
    nsp = len(xs) - 2
    params = ((1,) * nsp, pads, (1,) * nsp, rds, groups)
    cp = ConvParams.of(*params)
    assert packed.implicit_gemm(conv_plan(xs, ws, cp)), "the case no longer reaches the path"
    rng = np.random.default_rng(sum(xs))
    x, w = rng.normal(size=xs).astype(dtype), rng.normal(size=ws).astype(dtype)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
    y = conv_kernels.conv_forward(x, w, cp)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, cref.conv(x, w, *params), **tol)
    g = rng.normal(size=y.shape).astype(dtype)
    rdx, rdw = cref.conv_vjp(x, w, g, *params)
    np.testing.assert_allclose(conv_kernels.conv_input_grad(g, w, xs, cp), rdx, **tol)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp), rdw, **tol)


def test_tasks_run_once_each_and_states_are_per_thread():
    seen: list[int] = []
    states = threads.run_tasks(lambda t, st: (seen.append(t), st.append(t)), 50, list)
    assert sorted(seen) == list(range(50))
    assert sorted(t for st in states for t in st) == list(range(50))
    assert 1 <= len(states) <= threads.worker_count()


def test_caller_runs_the_tasks_itself_while_the_pool_is_busy():
    # Every pool worker is blocked: a region must not wait for them, the caller does all tasks.
    release = threading.Event()
    blockers = [threads.pool().submit(release.wait) for _ in range(threads.worker_count())]
    try:
        ran_on: list[int] = []
        threads.run_tasks(lambda t, _: ran_on.append(threading.get_ident()), 8)
        assert ran_on == [threading.get_ident()] * 8
    finally:
        release.set()
        for b in blockers:
            b.result()


def test_an_error_in_a_task_reaches_the_caller_and_the_pool_still_works():
    def work(t, _):
        if t == 5:
            raise ValueError("task 5 failed")

    with pytest.raises(ValueError, match="task 5 failed"):
        threads.run_tasks(work, 20)
    assert len(threads.run_tasks(lambda t, st: None, 20)) >= 1


# Three layers, one per kernel family: implicit GEMM (unit stride, 32 channels), packed slabs
# with col2im (stride 2), direct loops (4 channels).
MEMORY_CASES = {
    "implicit_gemm": ((32, 32, 32), (32, 32, 3, 3), (1, 1)),
    "packed_strided": ((32, 31, 31), (32, 32, 3, 3), (2, 2)),
    "direct": ((4, 12, 12), (4, 4, 3, 3), (1, 1)),
}


def _extra_bytes(batch: int, case) -> int:
    """Peak bytes numpy allocates during a conv's forward pass and both gradients, beyond the
    three results (tracemalloc tracks numpy's allocations; numba's are not seen, and the direct
    kernels' are a fixed number of plane-sized buffers)."""
    xs, ws, strides = case
    rng = np.random.default_rng(0)
    x = vnp.asarray(rng.normal(size=(batch, *xs)).astype(np.float32))
    w = vnp.asarray(rng.normal(size=ws).astype(np.float32))

    def conv(x, w):
        return lax.conv_general_dilated(x, w, strides, [(1, 1), (1, 1)])

    y, pullback = vfunc.vjp(conv, x, w)
    g = vnp.asarray(np.ones(y.shape, np.float32))
    pullback(g)  # compile, plan
    del y, pullback
    tracemalloc.start()
    try:
        y, pullback = vfunc.vjp(conv, x, w)
        dx, dw = pullback(g)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - sum(np.asarray(a).nbytes for a in (y, dx, dw))


@pytest.mark.parametrize("name", sorted(MEMORY_CASES))
def test_conv_workspace_does_not_grow_with_the_batch(name, monkeypatch):
    case = MEMORY_CASES[name]
    # One worker, so the number of per-thread workspaces does not depend on scheduling luck.
    threads.pool()
    monkeypatch.setattr(threads, "_WORKERS", 1)
    small, large = _extra_bytes(2, case), _extra_bytes(32, case)
    assert large <= small + (64 << 10), (name, small, large)
    monkeypatch.undo()
    assert _extra_bytes(32, case) <= 16 << 20


def test_implicit_gemm_without_cblas_falls_back_to_numpy(monkeypatch):
    from vfunc.primitives.conv_kernels import blas

    monkeypatch.setattr(blas, "_GEMM", {})  # as where NumPy's BLAS exports no CBLAS symbols
    xs, ws, pads, rds, groups = IMPLICIT_CASES[1]
    params = ((1, 1), pads, (1, 1), rds, groups)
    cp = ConvParams.of(*params)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    y = conv_kernels.conv_forward(x, w, cp)
    np.testing.assert_allclose(y, cref.conv(x, w, *params), rtol=1e-10, atol=1e-10)
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(conv_kernels.conv_weight_grad(x, g, ws, cp),
                               cref.conv_vjp(x, w, g, *params)[1], rtol=1e-10, atol=1e-10)


def test_summed_regions_add_their_slices_in_a_fixed_order():
    # float32 terms whose sum depends on the order of addition: the result must be the
    # slice-by-slice sum (each slice in task order, slices in order), whoever ran what.
    rng = np.random.default_rng(5)
    terms = (rng.normal(size=(37, 4)) * 10.0 ** rng.integers(-6, 6, size=(37, 1))).astype(
        np.float32
    )
    slices = min(len(terms), threads.SUM_SLICES)
    expected = np.zeros(4, np.float32)
    for i in range(slices):
        part = np.zeros(4, np.float32)
        for t in range(len(terms) * i // slices, len(terms) * (i + 1) // slices):
            part += terms[t]
        expected = part if i == 0 else expected + part

    def work(task, _, part):
        part += terms[task]

    for _ in range(5):
        got = threads.run_summed(work, len(terms), lambda: None, lambda: np.zeros(4, np.float32))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)], ids=["implicit", "strided"])
def test_weight_gradient_has_the_same_bits_every_run(strides):
    # Per-thread partial sums made the weight gradient depend on which pool thread claimed
    # which image: a resumed training run drifted from the uninterrupted one.
    rng = np.random.default_rng(0)
    x = vnp.asarray(rng.normal(size=(64, 16, 8, 8)).astype(np.float32))
    w = vnp.asarray(rng.normal(size=(32, 16, 3, 3)).astype(np.float32))
    grad = vfunc.jit(vfunc.grad(
        lambda w: vnp.sum(vnp.tanh(lax.conv_general_dilated(x, w, strides, "SAME")))))  # fmt: skip
    first = np.asarray(grad(w))
    for _ in range(10):
        np.testing.assert_array_equal(np.asarray(grad(w)), first)


def test_small_planes_take_the_packed_slabs(monkeypatch):
    monkeypatch.undo()  # the default threshold
    same = ConvParams.of((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 1)
    # The digits CNN's second conv (4x4 planes): one GEMM per tap would be 21,000 tiny calls
    # an epoch, 2.5x slower than the packed slabs.
    assert not packed.implicit_gemm(conv_plan((64, 32, 4, 4), (64, 32, 3, 3), same))
    assert packed.implicit_gemm(conv_plan((32, 64, 56, 56), (64, 64, 3, 3), same))
