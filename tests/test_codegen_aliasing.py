"""Compiled code never writes into a buffer that a live view still sees.

The code generator writes a ufunc's result into an operand read for the last time (``out=``),
a fused kernel's output into an input, and donated arguments likewise. Many impls return views
(``reshape``, ``squeeze``, ``transpose``, slices) or their very operand, so the reuse must wait
until every variable viewing the buffer is dead: issue 11's wrong RNN gradient was a stacked
``reshape`` of a cotangent overwritten by the in-place update of a carried sum. Each test puts a
view (or any primitive's result) and an in-place candidate side by side and compares compiled
with eager.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import vfunc.numpy as vnp
from vfunc import jit, lax
from vfunc.core import registry
from vfunc.transforms.compiler import fusion

from cases import ALL_CASES, Case, as_list, to_vfunc


def _same(got, want):
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def _float_positions(case: Case) -> list[int]:
    return [
        i for i, a in enumerate(case.args)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size
    ]  # fmt: skip


@pytest.mark.parametrize(
    "case", [c for c in ALL_CASES if _float_positions(c)], ids=lambda c: c.id
)
def test_primitive_result_survives_an_in_place_update_of_its_operand(case: Case):
    # t is a fresh temporary equal to the operand (-(-x): no pass cancels it); the primitive
    # reads it, then neg(t) is t's last use and may be written into t's buffer. Whatever the primitive returned (a view of t, t itself) must be
    # unchanged by that.
    prim = registry[case.prim]
    args = [to_vfunc(a) for a in case.args]
    for k in _float_positions(case):

        def program(*a, k=k):
            a = list(a)
            t = lax.neg(lax.neg(a[k]))
            a[k] = t
            return [*as_list(prim.bind(*a, **case.params)), lax.neg(t)]

        _same(jit(program)(*args), program(*args))


VIEWS = {
    "reshape": lambda t: t.reshape(3, 4),
    "transpose": lambda t: t.T,
    "expand_dims": lambda t: t[None],
    "slice": lambda t: t[1:],
    "rev": lambda t: lax.rev(t, (0,)),
    "broadcast": lambda t: vnp.broadcast_to(t, (2, 4, 3)),
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_a_view_kept_past_the_in_place_update_of_its_base(view):
    x, a = vnp.arange(12.0).reshape(4, 3), vnp.ones((4, 3))

    def f(x, a):
        t = x * 2.0
        v = VIEWS[view](t)
        w = a + t  # t's last use: the result may take t's buffer
        return v * 1.5, w  # ...but v still reads it

    _same(jit(f)(x, a), f(x, a))


@pytest.mark.parametrize("view", list(VIEWS))
def test_a_returned_view_of_a_temporary_is_not_overwritten(view):
    def f(x, a):
        t = x * 2.0
        return VIEWS[view](t), vnp.exp(a + t)

    x, a = vnp.arange(12.0).reshape(4, 3), vnp.ones((4, 3))
    _same(jit(f)(x, a), f(x, a))


def test_scan_body_stacks_a_view_while_its_base_is_accumulated_in_place():
    # The shape of issue 11's fault, forward only: y is a view of t, the carry update writes
    # into t's buffer before the loop stores y.
    def step(acc, x):
        t = acc * 0.5 + x
        y = t.reshape(1, 3)
        return acc + t, y

    def loop(acc, xs):
        ys = []
        for x in xs:
            acc, y = step(acc, x)
            ys.append(y)
        return acc, vnp.stack(ys)

    xs = vnp.arange(15.0).reshape(5, 3)
    want = loop(vnp.zeros(3), xs)
    _same(jit(lambda a, x: lax.scan(step, a, x))(vnp.zeros(3), xs), want)
    _same(lax.scan(step, vnp.zeros(3), xs), want)


def test_donated_buffer_is_not_overwritten_while_a_view_of_it_lives():
    @functools.partial(jit, donate_argnums=0)
    def f(x):
        return x.reshape(2, 500), -x  # neg could write into the donated x: not while v lives

    x = np.linspace(0.0, 1.0, 1000, dtype=np.float32)
    got = f(vnp.asarray(x.copy()))
    np.testing.assert_array_equal(np.asarray(got[0]), x.reshape(2, 500))
    np.testing.assert_array_equal(np.asarray(got[1]), -x)


@pytest.fixture
def small_fusion(monkeypatch):
    """Fuse elementwise chains of any size, so small tests reach the fused kernels."""
    monkeypatch.setattr(fusion, "MIN_FUSED_SIZE", 16)


def test_fused_kernel_does_not_write_into_an_input_another_input_views(small_fusion):
    # The kernel reads element k of every input, then writes element k of its output: writing
    # into t while also reading t.T would read overwritten elements. (The bias makes the kernel
    # loop over the broadcast shape instead of raveled copies.)
    def f(x, b):
        t = -x
        return vnp.tanh(t + t.T + b) * 2.0 - t

    rng = np.random.default_rng(0)
    x = vnp.asarray(rng.standard_normal((8, 8)).astype(np.float32))
    b = vnp.asarray(rng.standard_normal(8).astype(np.float32))
    assert "fused" in jit(f).lower(x, b).compile().as_text()  # the path under test was taken
    np.testing.assert_allclose(np.asarray(jit(f)(x, b)), np.asarray(f(x, b)), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


def test_fused_kernel_does_not_overwrite_a_live_view(small_fusion):
    def f(x):
        t = -x
        v = t.reshape(4, 16)
        return v, vnp.exp(t) * 2.0 + 1.0

    x = vnp.asarray(np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32))
    assert "fused" in jit(f).lower(x).compile().as_text()
    got, want = jit(f)(x), f(x)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), rtol=1e-6)


def test_in_place_reuse_still_happens_without_views():
    # The aliasing check must not switch the optimisation off.
    def f(x, a):
        return vnp.exp(x * 2.0 + a)

    assert "out=" in jit(f).lower(vnp.ones(8), vnp.ones(8)).compile().as_text()
