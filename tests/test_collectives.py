"""Named-axis collectives under ``vmap(..., axis_name=...)``, against JAX.

The expectations are JAX 0.10.2's results for the same programs, recorded once by
``tests/fixtures/distributed/record_collectives_jax.py`` (float64).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import grad, jit, jvp, lax, vmap

pytestmark = pytest.mark.usefixtures("x64")

FIXTURES = Path(__file__).parent / "fixtures" / "distributed"
REF = np.load(FIXTURES / "collectives_jax.npz")
PERM = [(0, 2), (1, 0), (2, 3), (3, 1)]


def V(f):
    return vmap(f, axis_name="i")


def VV(f):
    return vmap(vmap(f, axis_name="j"), axis_name="i")


def check(name, got):
    got = np.asarray(got)
    assert got.shape == REF[name].shape, (name, got.shape, REF[name].shape)
    np.testing.assert_allclose(got, REF[name], rtol=1e-12, atol=1e-12, err_msg=name)


CASES = {
    "psum": lambda x: V(lambda v: lax.psum(v, "i"))(x),
    "pmean": lambda x: V(lambda v: lax.pmean(v, "i"))(x),
    "pmax": lambda x: V(lambda v: lax.pmax(v, "i"))(x),
    "pmin": lambda x: V(lambda v: lax.pmin(v, "i"))(x),
    "psum_const": lambda x: V(lambda v: lax.psum(2.0, "i") * v)(x),
    "all_gather_0": lambda x: V(lambda v: lax.all_gather(v, "i", axis=0))(x),
    "all_gather_1": lambda x: V(lambda v: lax.all_gather(v, "i", axis=1))(x),
    "all_gather_2": lambda x: V(lambda v: lax.all_gather(v, "i", axis=2))(x),
    "all_gather_tiled_0": lambda x: V(lambda v: lax.all_gather(v, "i", axis=0, tiled=True))(x),
    "all_gather_tiled_1": lambda x: V(lambda v: lax.all_gather(v, "i", axis=1, tiled=True))(x),
    "psum_scatter_1": lambda x: V(lambda v: lax.psum_scatter(v, "i", scatter_dimension=1))(x),
    "all_to_all_10": lambda x: V(lambda v: lax.all_to_all(v, "i", 1, 0))(x),
    "all_to_all_11": lambda x: V(lambda v: lax.all_to_all(v, "i", 1, 1))(x),
    "ppermute": lambda x: V(lambda v: lax.ppermute(v, "i", PERM))(x),
    "axis_index": lambda x: V(lambda v: lax.axis_index("i") * v)(x),
    "axis_size": lambda x: V(lambda v: v * lax.axis_size("i"))(x),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_collective_under_named_vmap(name):
    check(name, CASES[name](vnp.asarray(REF["x"])))


def test_psum_scatter_tiled():
    f = V(lambda v: lax.psum_scatter(v, "i", scatter_dimension=0, tiled=True))
    check("psum_scatter_tiled_0", f(vnp.asarray(REF["s_in"])))


@pytest.mark.parametrize("split, concat", [(0, 0), (0, 1), (1, 0)])
def test_all_to_all_tiled(split, concat):
    f = V(lambda v: lax.all_to_all(v, "i", split, concat, tiled=True))
    check(f"all_to_all_tiled_{split}{concat}", f(vnp.asarray(REF["z"])))


NESTED = {
    "nested_psum_i": lambda v: lax.psum(v, "i"),
    "nested_psum_j": lambda v: lax.psum(v, "j"),
    "nested_psum_ij": lambda v: lax.psum(v, ("i", "j")),
    "nested_index": lambda v: lax.axis_index("i") * 10 + lax.axis_index("j") + 0 * v,
    "nested_gather_i": lambda v: lax.all_gather(v, "i", axis=1),
    "nested_pmax_j": lambda v: lax.pmax(v, "j"),
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nested_named_vmaps(name):
    check(name, VV(NESTED[name])(vnp.asarray(REF["y"])))


def test_grad_inside_vmap_transposes_psum_to_psum():
    w = vnp.asarray(REF["w"])
    check("grad_psum_inside", V(grad(lambda v: vnp.sum(vnp.sin(lax.psum(v, "i")))))(w))
    check("grad_pmean_inside", V(grad(lambda v: vnp.sum(lax.pmean(v, "i") ** 2)))(w))


def test_grad_of_vmap():
    w, x = vnp.asarray(REF["w"]), vnp.asarray(REF["x"])
    check("grad_of_vmap_psum",
          grad(lambda v: vnp.sum(V(lambda u: vnp.sin(lax.psum(u, "i")) * u)(v)))(w))  # fmt: skip
    check("grad_of_vmap_pmean",
          grad(lambda v: vnp.sum(V(lambda u: (u - lax.pmean(u, "i")) ** 2)(v)))(w))  # fmt: skip
    weights = vnp.arange(4.0)[:, None]
    check(
        "grad_of_vmap_gather",
        grad(lambda v: vnp.sum(V(lambda u: vnp.cos(lax.all_gather(u, "i")) * weights)(v)))(w),
    )
    scatter = V(lambda u: vnp.sin(lax.psum_scatter(u, "i", scatter_dimension=0)))
    check("grad_of_vmap_scatter", grad(lambda v: vnp.sum(scatter(v) ** 2))(x.reshape(4, 4, 3)))
    a2a = V(lambda u: lax.all_to_all(u, "i", 1, 0))
    c48 = vnp.arange(48.0).reshape(4, 4, 3)
    check("grad_of_vmap_a2a", grad(lambda v: vnp.sum(vnp.cos(a2a(v)) * c48))(x))
    perm = V(lambda u: lax.ppermute(u, "i", PERM))
    c12 = vnp.arange(12.0).reshape(4, 3)
    check("grad_of_vmap_ppermute", grad(lambda v: vnp.sum(vnp.sin(perm(v)) * c12))(w))


def test_jvp_of_vmap_psum():
    w = vnp.asarray(REF["w"])
    f = V(lambda u: vnp.sin(lax.psum(u, "i")))
    check("jvp_psum", jvp(f, (w,), (vnp.ones_like(w),))[1])


def test_jit_of_vmap():
    x = vnp.asarray(REF["x"])
    check("psum", jit(V(lambda v: lax.psum(v, "i")))(x))
    check("all_to_all_10", jit(V(lambda v: lax.all_to_all(v, "i", 1, 0)))(x))
    check("axis_index", jit(V(lambda v: lax.axis_index("i") * v))(x))
    w = vnp.asarray(REF["w"])
    loss = grad(lambda v: vnp.sum(V(lambda u: (u - lax.pmean(u, "i")) ** 2)(v)))
    check("grad_of_vmap_pmean", jit(loss)(w))


def test_vmap_of_grad_per_example_normalisation():
    # Per-example gradients of a loss normalised by the batch mean (pmean of statistics),
    # against finite differences of the whole-batch function.
    x = vnp.asarray(REF["w"])

    def loss(v):
        return vnp.sum((v - lax.pmean(v, "i")) ** 2 * vnp.cos(v))

    per_member = V(grad(loss))(x)
    whole = grad(lambda xs: vnp.sum(V(loss)(xs)))(x)  # the sum over members' losses
    # grad inside vmap transposes pmean to pmean, which sums every member's dependence on v.
    np.testing.assert_allclose(np.asarray(per_member), np.asarray(whole), rtol=1e-12)


def test_unbound_axis_name_raises_name_error():
    with pytest.raises(NameError, match="'k'"):
        V(lambda v: lax.psum(v, "k"))(vnp.ones(3))
    with pytest.raises(NameError, match="'i'"):
        lax.axis_index("i")
    with pytest.raises(NameError, match="'q'"):
        lax.axis_size("q")
    # inside a loop body under the vmap, and across processes (a stand-in group of 2: the
    # name is looked up before anything is sent)
    with pytest.raises(NameError, match="unbound axis name: 'k'.*bound axis names here: \\['i'\\]"):
        V(lambda v: lax.scan(lambda c, y: (c + lax.psum(y, "k"), c), 0.0, v))(vnp.ones((2, 3)))

    class Group:
        size, rank = 2, 0

    from vfunc.distributed import spmd

    with pytest.raises(NameError, match="psum: unbound axis name: 'i'.*\\['p'\\]"):
        spmd(lambda v: lax.psum(v, "i"), "p", comm=Group())(vnp.ones(3))


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="psum_scatter.*axis size 4"):
        V(lambda v: lax.psum_scatter(v, "i", scatter_dimension=0))(vnp.ones((4, 3)))
    with pytest.raises(ValueError, match="all_to_all.*axis size 4"):
        V(lambda v: lax.all_to_all(v, "i", 0, 0))(vnp.ones((4, 3)))
    with pytest.raises(ValueError, match="ppermute.*repeats"):
        V(lambda v: lax.ppermute(v, "i", [(0, 1), (1, 1)]))(vnp.ones((4, 3)))


def test_partial_permutation_gives_zeros():
    out = V(lambda v: lax.ppermute(v, "i", [(0, 1)]))(vnp.arange(3.0))
    np.testing.assert_array_equal(np.asarray(out), [0.0, 0.0, 0.0])
    out = V(lambda v: lax.ppermute(v, "i", [(2, 0)]))(vnp.arange(3.0))
    np.testing.assert_array_equal(np.asarray(out), [2.0, 0.0, 0.0])


def test_pmax_differentiation():
    # Inside the vmap (grad inner) pmax has no derivative rule, as in JAX.
    with pytest.raises(NotImplementedError, match="pmax"):
        V(grad(lambda u: vnp.sum(lax.pmax(u, "i") * u)))(vnp.ones((2, 3)))
    # Differentiating the whole vmap (grad outer) goes through the reduce_max that implements
    # it, so it has the derivative of the same program written without collectives (JAX
    # refuses this case).
    w = vnp.asarray(REF["w"])
    got = grad(lambda v: vnp.sum(V(lambda u: lax.pmax(u, "i") * u)(v)))(w)
    want = grad(lambda v: vnp.sum(vnp.max(v, axis=0) * v))(w)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)


def test_vmap_without_name_binds_nothing():
    with pytest.raises(NameError):
        vmap(lambda v: lax.psum(v, "i"))(vnp.ones(3))
    assert vfunc.vmap(lambda v: v + 1)(vnp.ones(2)).shape == (2,)


def test_vmap_of_jit_with_a_collective():
    f = vmap(jit(lambda v: lax.psum(v, "i") * v), axis_name="i")
    np.testing.assert_array_equal(np.asarray(f(vnp.arange(3.0))), [0.0, 3.0, 6.0])


# --------------------------------------------------------------------------------------------
# Collectives inside cond / scan / while_loop / fori_loop bodies under named vmaps: the programs
# of fixtures/distributed/control_flow_programs.py, against JAX's results for the same source.


def _load_programs():
    spec = importlib.util.spec_from_file_location(
        "control_flow_programs", FIXTURES / "control_flow_programs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CF = _load_programs()
CF_REF = np.load(FIXTURES / "control_flow_jax.npz")
CF_PROGRAMS = CF.programs(vmap, lax, vnp, grad)


def check_tree(name, got):
    leaves = vfunc.tree.leaves(got)
    want = sorted((k for k in CF_REF.files if k.startswith(name + "/")), key=lambda k: int(k[-1]))
    assert len(leaves) == len(want), (name, len(leaves), want)
    for leaf, key in zip(leaves, want, strict=True):
        got_leaf = np.asarray(leaf)
        assert got_leaf.shape == CF_REF[key].shape, (key, got_leaf.shape, CF_REF[key].shape)
        np.testing.assert_allclose(got_leaf, CF_REF[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", sorted(CF_PROGRAMS))
def test_collectives_in_control_flow_match_jax(name):
    fun, arg = CF_PROGRAMS[name]
    check_tree(name, fun(vnp.asarray(CF_REF[arg])))


@pytest.mark.parametrize(
    "name", ["cf_scan_psum", "cf_cond_batched_pred", "cf_while_per_member", "cf_nested_scan",
             "cf_grad_of_vmap_scan", "cf_grad_inside_cond"],
)  # fmt: skip
def test_collectives_in_control_flow_under_jit(name):
    fun, arg = CF_PROGRAMS[name]
    check_tree(name, jit(fun)(vnp.asarray(CF_REF[arg])))


def test_collectives_in_control_flow_match_the_unrolled_program():
    # The same bodies as plain Python loops (no control-flow primitive) under the same vmap.
    x = vnp.asarray(CF_REF["x"])

    def scan_unrolled(v):
        c, ys = v[0], []
        for y in v:
            c = c * 0.5 + y - lax.pmean(c * y, "i")
            ys.append(lax.psum(c, "i") - c)
        return c, vnp.stack(ys)

    def fori_unrolled(v):
        for k in range(3):
            v = v * 0.5 + lax.pmean(v * k, "i")
        return v

    def while_unrolled(v):
        k = lax.axis_index("i")
        for i in range(4):  # member k runs k + 1 iterations
            step = v + lax.psum(v, "i") / 8.0
            v = vnp.where(i <= k, step, v)
        return v

    def cond_unrolled(v):
        return vnp.where(v.sum() > 0, v - lax.pmean(v, "i"), v * lax.psum(v, "i"))

    pairs = {
        "cf_scan_batched_carry": scan_unrolled,
        "cf_fori": fori_unrolled,
        "cf_cond_batched_pred": cond_unrolled,
    }
    for name, unrolled in pairs.items():
        got = vfunc.tree.leaves(CF_PROGRAMS[name][0](x))
        want = vfunc.tree.leaves(V(unrolled)(x))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, err_msg=name)
    _, got = CF_PROGRAMS["cf_while_per_member"][0](x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(V(while_unrolled)(x)), rtol=1e-12)
    # and the gradients through them
    for name, unrolled in (("cf_grad_of_vmap_scan", scan_unrolled),
                           ("cf_grad_of_vmap_fori", fori_unrolled)):  # fmt: skip
        loss = (lambda c, ys: (c**2).sum() + vnp.sin(ys).sum()) if "scan" in name else None

        def total(xs, unrolled=unrolled, loss=loss):
            out = V(unrolled)(xs)
            return loss(*out) if loss else vnp.sin(out).sum()

        want = np.asarray(grad(total)(x))
        np.testing.assert_allclose(np.asarray(CF_PROGRAMS[name][0](x)), want, rtol=1e-10)


def test_grad_through_control_flow_collectives_matches_finite_differences():
    x = vnp.asarray(CF_REF["x"])
    scan = CF_PROGRAMS["cf_scan_batched_carry"][0]
    cond = CF_PROGRAMS["cf_cond_batched_pred"][0]
    while_loop = CF_PROGRAMS["cf_while_per_member"][0]  # forward mode: while_loop has a JVP
    vfunc.testing.check_grads(lambda xs: vnp.sin(scan(xs)[1]).sum(), (x,), order=1)
    vfunc.testing.check_grads(lambda xs: (cond(xs) ** 2).sum(), (x,), order=1)
    vfunc.testing.check_grads(lambda xs: vnp.cos(while_loop(xs)[1]), (x,), order=1,
                              modes=["fwd"])  # fmt: skip


def test_control_flow_on_constants_only_with_a_collective_is_refused_clearly():
    # vfunc reaches the vmap through the operands (JAX through its trace stack): a loop on
    # constants alone runs eagerly, and its collective cannot reach the vmap.
    def body(v):
        return lax.scan(lambda c, _: (c + lax.psum(c, "i"), c), 1.0, None, length=3)[0] * v

    with pytest.raises(NotImplementedError, match="operands are all constants"):
        V(body)(vnp.ones(3))
