"""vfunc.optim behaviour: combinators, hyperparameter injection, accumulation, bad input, dtypes,
Muon's orthogonalisation and composition with jit/vmap/grad/scan. (Trajectories against optax
and torch.optim: test_optim_fixtures.py.)"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax, optim, tree
from vfunc.optim import TreeStructureError

pytestmark = pytest.mark.usefixtures("x64_off")


def params_tree(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "dense": {"w": vnp.asarray(rng.normal(size=(3, 4)), vnp.float32),
                  "b": vnp.asarray(rng.normal(size=4), vnp.float32)},
        "scale": vnp.asarray(rng.normal(size=2), vnp.float32),
    }  # fmt: skip


def assert_tree_close(a, b, **kw):
    assert tree.structure(a) == tree.structure(b)
    for x, y in zip(tree.leaves(a), tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


# ----------------------------------------------------------------------------------------------
# Bad input


def test_update_with_gradients_of_another_structure_names_both_and_the_key():
    opt = optim.adam(0.1)
    params = params_tree()
    state = opt.init(params)
    grads = {"dense": {"w": params["dense"]["w"], "bias": params["dense"]["b"]},
             "scale": params["scale"]}  # fmt: skip
    with pytest.raises(TreeStructureError, match="scale_by_adam") as info:
        opt.update(grads, state, params)
    message = str(info.value)
    assert "updates:" in message and "state.mu:" in message
    assert "['dense']['bias']" in message and "['dense']['b']" in message
    assert isinstance(info.value, ValueError)


def test_update_with_params_of_another_structure():
    opt = optim.adamw(0.1)
    params = params_tree()
    state = opt.init(params)
    with pytest.raises(TreeStructureError, match=r"add_decayed_weights.*\n.*updates:") as info:
        opt.update(params, state, {"dense": params["dense"]})
    assert "['scale']" in str(info.value) and "present only in updates" in str(info.value)


def test_apply_updates_with_another_structure():
    params = params_tree()
    updates = [params["dense"]["b"], params["dense"]["w"], params["scale"]]
    with pytest.raises(TreeStructureError, match="apply_updates: params and updates") as info:
        optim.apply_updates(params, updates)
    assert "params:" in str(info.value) and "updates:" in str(info.value)
    assert "first differing key" in str(info.value)


def test_structure_error_also_under_jit():
    opt = optim.sgd(0.1, momentum=0.9)
    state = opt.init({"a": vnp.ones(2)})
    step = vfunc.jit(lambda g, s: opt.update(g, s))
    with pytest.raises(TreeStructureError, match=r"trace: updates and state.trace(.|\n)*\['b'\]"):
        step({"b": vnp.ones(2)}, state)


def test_chain_with_wrong_state_says_so():
    opt = optim.chain(optim.scale(1.0), optim.scale(2.0))
    with pytest.raises(ValueError, match="chain: expected a tuple of 2 states"):
        opt.update(vnp.ones(1), (optim.EmptyState(),))


def test_transformation_needing_params_says_so():
    opt = optim.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="add_decayed_weights: .*passing `params`"):
        opt.update(vnp.ones(1), opt.init(vnp.ones(1)))


# ----------------------------------------------------------------------------------------------
# apply_updates


def test_apply_updates_keeps_each_parameter_dtype(x64):
    params = {"h": vnp.ones(3, vnp.float16), "s": vnp.ones(3, vnp.float32),
              "d": vnp.ones(3, vnp.float64)}  # fmt: skip
    updates = tree.map(lambda p: vnp.full(p.shape, 0.25, vnp.float64), params)
    new = optim.apply_updates(params, updates)
    for k in params:
        assert new[k].dtype == params[k].dtype
        np.testing.assert_allclose(np.asarray(new[k], np.float64), 1.25)
    new = vfunc.jit(optim.apply_updates)(params, updates)
    assert {k: v.dtype for k, v in new.items()} == {k: v.dtype for k, v in params.items()}


# ----------------------------------------------------------------------------------------------
# inject_hyperparams


def test_inject_hyperparams_changes_learning_rate_inside_jit_without_recompiling():
    opt = optim.inject_hyperparams(optim.adam)(learning_rate=0.1, b1=0.9)
    params = params_tree()
    state = opt.init(params)
    assert isinstance(state, optim.InjectStatefulHyperparamsState)
    assert state.hyperparams["learning_rate"].dtype == np.float32

    @vfunc.jit
    def step(params, state):
        grads = tree.map(lambda p: p * 2.0, params)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    p1, s1 = step(params, state)
    state.hyperparams["learning_rate"] = vnp.asarray(0.01, vnp.float32)
    p2, s2 = step(params, state)
    assert step._cache_size() == 1
    # The step with lr 0.01 equals plain adam(0.01); with 0.1, adam(0.1).
    for lr, got in ((0.1, p1), (0.01, p2)):
        plain = optim.adam(lr)
        updates, _ = plain.update(tree.map(lambda p: p * 2.0, params), plain.init(params), params)
        assert_tree_close(got, optim.apply_updates(params, updates), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(float(s2.hyperparams["learning_rate"]), 0.01, rtol=1e-7)


def test_inject_hyperparams_with_a_schedule_records_its_value():
    schedule = optim.linear_schedule(1.0, 0.0, transition_steps=4)
    opt = optim.inject_hyperparams(optim.sgd)(learning_rate=schedule)
    state = opt.init(vnp.zeros(1))
    seen = []
    for _ in range(3):
        updates, state = opt.update(vnp.ones(1), state)
        seen.append(float(updates[0]))
    assert seen == pytest.approx([-1.0, -0.75, -0.5])
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(0.5)


def test_inject_hyperparams_rejects_unknown_static_args():
    with pytest.raises(ValueError, match="static_args"):
        optim.inject_hyperparams(optim.adam, static_args=("nope",))


# ----------------------------------------------------------------------------------------------
# MultiSteps, apply_if_finite


def test_multisteps_applies_the_mean_of_k_gradients_every_k_calls():
    k = 3
    inner = optim.adam(0.1)
    opt = optim.MultiSteps(inner, every_k_schedule=k)
    params = params_tree()
    state = opt.init(params)
    ref_state = inner.init(params)
    rng = np.random.default_rng(1)
    step = vfunc.jit(opt.update)
    for round_ in range(2):
        grads = [tree.map(lambda p: vnp.asarray(rng.normal(size=p.shape), p.dtype), params)
                 for _ in range(k)]  # fmt: skip
        for i, g in enumerate(grads):
            updates, state = step(g, state, params)
            emitted = i == k - 1
            assert bool(opt.has_updated(state)) == emitted
            if not emitted:
                assert all(np.all(np.asarray(u) == 0) for u in tree.leaves(updates))
        mean = tree.map(lambda *gs: sum(gs) / k, *grads)
        expected, ref_state = inner.update(mean, ref_state, params)
        assert_tree_close(updates, expected, rtol=1e-5, atol=1e-7)
        assert int(state.gradient_step) == round_ + 1
    assert step._cache_size() == 1


def test_multisteps_sum_and_skip_not_finite():
    opt = optim.MultiSteps(optim.sgd(1.0), 2, use_grad_mean=False,
                           should_skip_update_fn=optim.skip_not_finite)  # fmt: skip
    state = opt.init(vnp.zeros(2))
    _, state = opt.update(vnp.array([1.0, 2.0]), state)
    updates, skipped = opt.update(vnp.array([np.nan, 1.0]), state)
    assert np.all(np.asarray(updates) == 0)
    assert int(skipped.mini_step) == int(state.mini_step) == 1
    assert bool(skipped.skip_state["should_skip"])
    assert int(skipped.skip_state["num_not_finite"]) == 1
    updates, state = opt.update(vnp.array([3.0, 4.0]), skipped)
    np.testing.assert_allclose(np.asarray(updates), [-4.0, -6.0])


def test_apply_if_finite_skips_then_gives_up():
    opt = optim.apply_if_finite(optim.sgd(1.0, momentum=0.5), max_consecutive_errors=2)
    state = opt.init(vnp.zeros(2))
    updates, state = opt.update(vnp.array([1.0, 1.0]), state)
    trace_before = np.asarray(state.inner_state[0].trace)
    bad = vnp.array([np.inf, 1.0])
    for i in range(2):
        updates, state = opt.update(bad, state)
        assert np.all(np.asarray(updates) == 0)
        np.testing.assert_array_equal(np.asarray(state.inner_state[0].trace), trace_before)
        assert not bool(state.last_finite) and int(state.notfinite_count) == i + 1
    updates, state = opt.update(bad, state)  # the third in a row is applied
    assert np.isinf(np.asarray(updates)[0])
    assert int(state.total_notfinite) == 3
    updates, state = vfunc.jit(opt.update)(vnp.array([1.0, 1.0]), state)
    assert int(state.notfinite_count) == 0 and bool(state.last_finite)


# ----------------------------------------------------------------------------------------------
# masked, multi_transform, named_chain


def test_masked_applies_inner_only_where_the_mask_is_true():
    params = params_tree()
    grads = tree.map(vnp.ones_like, params)
    mask = {"dense": True, "scale": False}  # a prefix of the params' structure
    opt = optim.masked(optim.sgd(0.5, momentum=0.9), mask)
    state = opt.init(params)
    assert tree.structure(state.inner_state[0].trace) != tree.structure(params)
    updates, state = opt.update(grads, state)
    np.testing.assert_array_equal(np.asarray(updates["dense"]["w"]), -0.5)
    np.testing.assert_array_equal(np.asarray(updates["scale"]), 1.0)
    by_fn = optim.masked(optim.sgd(0.5, momentum=0.9),
                         lambda p: tree.map(lambda x: x.ndim == 2, p))  # fmt: skip
    updates, _ = by_fn.update(grads, by_fn.init(params))
    np.testing.assert_array_equal(np.asarray(updates["dense"]["b"]), 1.0)
    np.testing.assert_array_equal(np.asarray(updates["dense"]["w"]), -0.5)


def test_adamw_mask_excludes_leaves_from_weight_decay():
    params = params_tree()
    grads = tree.map(vnp.ones_like, params)
    mask = tree.map(lambda p: p.ndim == 2, params)
    masked_opt = optim.adamw(0.1, weight_decay=0.5, mask=mask)
    no_decay = optim.adamw(0.1, weight_decay=0.0)
    decay = optim.adamw(0.1, weight_decay=0.5)
    got, _ = masked_opt.update(grads, masked_opt.init(params), params)
    plain, _ = no_decay.update(grads, no_decay.init(params), params)
    full, _ = decay.update(grads, decay.init(params), params)
    np.testing.assert_allclose(np.asarray(got["dense"]["w"]), np.asarray(full["dense"]["w"]))
    np.testing.assert_allclose(np.asarray(got["dense"]["b"]), np.asarray(plain["dense"]["b"]))
    assert not np.allclose(np.asarray(full["dense"]["b"]), np.asarray(plain["dense"]["b"]))


def test_multi_transform_gives_each_label_its_own_optimizer():
    params = params_tree()
    grads = tree.map(lambda p: p * 3.0, params)
    labels = {"dense": {"w": "adam", "b": "sgd"}, "scale": "frozen"}
    txs = {"adam": optim.adam(0.1), "sgd": optim.sgd(0.2), "frozen": optim.set_to_zero()}
    opt = optim.multi_transform(txs, labels)
    state = opt.init(params)
    assert isinstance(state, optim.MultiTransformState)
    assert set(state.inner_states) == {"adam", "sgd", "frozen"}
    updates, state = vfunc.jit(opt.update)(grads, state, params)
    adam_u, _ = txs["adam"].update(grads["dense"]["w"], txs["adam"].init(params["dense"]["w"]))
    np.testing.assert_allclose(np.asarray(updates["dense"]["w"]), np.asarray(adam_u), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(updates["dense"]["b"]),
                               -0.2 * np.asarray(grads["dense"]["b"]), rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(updates["scale"]), 0.0)
    with pytest.raises(ValueError, match="no transformation"):
        optim.multi_transform({"adam": optim.adam(0.1)}, labels).init(params)


def test_named_chain_equals_chain_with_a_named_state():
    named = optim.named_chain(("clip", optim.clip_by_global_norm(1.0)), ("adam", optim.adam(0.1)))
    plain = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.1))
    params = params_tree()
    grads = tree.map(lambda p: p * 10.0, params)
    s_named, s_plain = named.init(params), plain.init(params)
    assert list(s_named) == ["clip", "adam"]
    for _ in range(2):
        u_named, s_named = named.update(grads, s_named, params)
        u_plain, s_plain = plain.update(grads, s_plain, params)
        assert_tree_close(u_named, u_plain, rtol=0)
    assert int(s_named["adam"][0].count) == 2
    with pytest.raises(ValueError, match="unique names"):
        optim.named_chain(("a", optim.identity()), ("a", optim.identity()))


def test_clip_by_global_norm_bounds_the_global_norm():
    grads = {"a": vnp.array([3.0, 0.0]), "b": vnp.array([[4.0]])}
    clipped, _ = optim.clip_by_global_norm(1.0).update(grads, optim.EmptyState())
    assert float(optim.global_norm(clipped)) == pytest.approx(1.0, rel=1e-6)
    kept, _ = optim.clip_by_global_norm(10.0).update(grads, optim.EmptyState())
    assert_tree_close(kept, grads, rtol=0)


def test_zero_nans_and_ema():
    opt = optim.zero_nans()
    updates, state = opt.update({"a": vnp.array([np.nan, 1.0]), "b": vnp.ones(1)},
                                opt.init({"a": vnp.zeros(2), "b": vnp.zeros(1)}))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(updates["a"]), [0.0, 1.0])
    assert bool(state.found_nan["a"]) and not bool(state.found_nan["b"])
    avg = optim.ema(0.5)
    s = avg.init(vnp.zeros(1))
    u, s = avg.update(vnp.array([2.0]), s)
    u, s = avg.update(vnp.array([4.0]), s)
    # ema = 0.5 * 4 + 0.25 * 2 = 2.5, debiased by 1 - 0.25
    np.testing.assert_allclose(np.asarray(u), [2.5 / 0.75], rtol=1e-6)


NEEDS_RANDOM = pytest.mark.skipif(importlib.util.find_spec("vfunc.random") is None,
                                  reason="vfunc.random is not merged yet")  # fmt: skip


@NEEDS_RANDOM
def test_add_noise_variance_and_determinism():
    from vfunc import random

    opt = optim.add_noise(eta=0.5, gamma=0.0, key=random.PRNGKey(3))
    grads = {"a": vnp.zeros((200, 100))}
    state = opt.init(grads)
    u1, state1 = opt.update(grads, state)
    u2, _ = opt.update(grads, state)
    np.testing.assert_array_equal(np.asarray(u1["a"]), np.asarray(u2["a"]))  # same key
    assert np.std(np.asarray(u1["a"])) == pytest.approx(np.sqrt(0.5), rel=0.05)
    u3, _ = opt.update(grads, state1)
    assert not np.allclose(np.asarray(u1["a"]), np.asarray(u3["a"]))


@NEEDS_RANDOM
def test_add_noise_draws_optax_noise():
    from pathlib import Path

    recorded = np.load(Path(__file__).parent / "fixtures" / "optim" / "noise.npz")
    opt = optim.add_noise(eta=0.01, gamma=0.55, key=0)
    updates = {"a": vnp.zeros((3, 4)), "b": vnp.zeros(5)}
    state = opt.init(updates)
    for step in range(3):
        out, state = opt.update(updates, state)
        for k in ("a", "b"):
            np.testing.assert_allclose(np.asarray(out[k]), recorded[f"step{step}/{k}"],
                                       rtol=1e-6, atol=1e-7)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(state.rng_key).ravel(),
                                  recorded["final_key"].ravel())  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Muon


@pytest.mark.parametrize("shape", [(8, 8), (16, 6), (5, 12)])
def test_newton_schulz_orthogonalizes(shape, x64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    out = np.asarray(optim.orthogonalize_via_newton_schulz(vnp.asarray(x),
                                                           vnp.asarray((3.4445, -4.7750, 2.0315))))
    # The quintic iteration maps singular values into roughly (0.7, 1.2), keeping U and V.
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    s_out = np.linalg.svd(out, compute_uv=False)
    assert s_out.min() > 0.6 and s_out.max() < 1.25
    np.testing.assert_allclose(u.T @ out @ vt.T, np.diag(np.diag(u.T @ out @ vt.T)), atol=1e-8)
    # Against the iteration written out in NumPy.
    y = x.T if shape[0] > shape[1] else x
    y = y / (np.linalg.norm(y) + 1e-8)
    for _ in range(5):
        a = y @ y.T
        y = 3.4445 * y + (-4.7750 * a + 2.0315 * a @ a) @ y
    np.testing.assert_allclose(out, y.T if shape[0] > shape[1] else y, rtol=1e-10, atol=1e-12)


def test_newton_schulz_with_dimension_numbers_is_per_slice(x64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5))  # axis 1 reduction, axis 2 output, axis 0 batch
    coeffs = vnp.asarray((3.4445, -4.7750, 2.0315))
    dims = optim.MuonDimensionNumbers(reduction_axis=1, output_axis=2)
    out = optim.orthogonalize_via_newton_schulz(vnp.asarray(x), coeffs, dimension_numbers=dims)
    for i in range(3):
        ref = optim.orthogonalize_via_newton_schulz(vnp.asarray(x[i]), coeffs)
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(ref), rtol=1e-12)
    with pytest.raises(ValueError, match="must be a matrix"):
        optim.orthogonalize_via_newton_schulz(vnp.asarray(x), coeffs)


def test_muon_splits_matrices_from_the_rest():
    params = params_tree()
    opt = optim.muon(0.02)
    state = opt.init(params)
    muon_state = state.inner_states["muon"].inner_state[0]
    adam_state = state.inner_states["adam"].inner_state[0]
    assert isinstance(muon_state, optim.MuonState)
    assert isinstance(adam_state, optim.ScaleByAdamState)
    assert len(tree.leaves(muon_state.mu)) == 1 and len(tree.leaves(adam_state.mu)) == 2
    grads = tree.map(lambda p: p * 2.0, params)
    updates, _ = vfunc.jit(opt.update)(grads, state, params)
    # The matrix update is orthogonalised (scaled by sqrt(max(1, 4/3)) and -lr).
    w = np.asarray(updates["dense"]["w"]) / (-0.02 * np.sqrt(4 / 3))
    s = np.linalg.svd(w, compute_uv=False)
    assert s.min() > 0.6 and s.max() < 1.25
    # The vectors take AdamW-Nesterov's step, sharing eps and the learning rate.
    nadam = optim.adamw(0.02, eps=1e-8, weight_decay=0.0, nesterov=True)
    ref, _ = nadam.update(grads["scale"], nadam.init(params["scale"]), params["scale"])
    np.testing.assert_allclose(np.asarray(updates["scale"]), np.asarray(ref), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Composition with the transformations


def quadratic(p):
    return sum(vnp.sum(x * x * (i + 1)) for i, x in enumerate(tree.leaves(p)))


def test_optimizer_steps_inside_scan_match_a_python_loop():
    opt = optim.adamw(0.05)
    params = params_tree()

    def step(carry, _):
        params, state = carry
        updates, state = opt.update(vfunc.grad(quadratic)(params), state, params)
        return (optim.apply_updates(params, updates), state), quadratic(params)

    (scanned, _), losses = lax.scan(step, (params, opt.init(params)), None, length=5)
    carry = (params, opt.init(params))
    for _ in range(5):
        carry, _ = step(carry, None)
    assert_tree_close(scanned, carry[0], rtol=1e-5, atol=1e-6)
    assert float(losses[-1]) < float(losses[0])


def test_vmap_over_a_batch_of_models():
    opt = optim.adam(0.1)
    batch = tree.map(lambda *xs: vnp.stack(xs), params_tree(0), params_tree(1))

    def one_step(params):
        state = opt.init(params)
        updates, _ = opt.update(vfunc.grad(quadratic)(params), state, params)
        return optim.apply_updates(params, updates)

    batched = vfunc.vmap(one_step)(batch)
    for i, seed in enumerate((0, 1)):
        single = one_step(params_tree(seed))
        assert_tree_close(tree.map(lambda x: x[i], batched), single, rtol=1e-6)


def test_grad_through_an_optimizer_step_matches_finite_differences(x64):
    # Meta-gradient: d/d(lr) of the loss after one momentum-SGD step with lr injected.
    params = tree.map(lambda x: x.astype(vnp.float64), params_tree())

    def after_step(lr):
        opt = optim.inject_hyperparams(optim.sgd)(learning_rate=lr, momentum=0.9)
        state = opt.init(params)
        updates, _ = opt.update(vfunc.grad(quadratic)(params), state, params)
        return quadratic(optim.apply_updates(params, updates))

    lr, h = 0.05, 1e-6
    fd = (after_step(lr + h) - after_step(lr - h)) / (2 * h)
    np.testing.assert_allclose(float(vfunc.grad(after_step)(lr)), float(fd), rtol=1e-6)
    np.testing.assert_allclose(float(vfunc.jit(vfunc.grad(after_step))(lr)), float(fd), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Compiled form: one fused, parallel loop per large leaf, donated state written in place


def test_jitted_donated_adamw_step_fuses_each_leaf_and_updates_in_place():
    from vfunc.transforms.compiler import fusion

    n = fusion.PARALLEL_MIN_SIZE  # the smallest leaf whose fused loop runs in parallel
    rng = np.random.default_rng(3)
    params = {"a": vnp.asarray(rng.normal(size=n).astype(np.float32)),
              "b": vnp.asarray(rng.normal(size=(n // 64, 64)).astype(np.float32))}  # fmt: skip
    grads = tree.map(lambda p: p * 0.5, params)
    opt = optim.adamw(1e-2, weight_decay=1e-3)

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    jitted = vfunc.jit(step, donate_argnums=(0, 1))
    state = opt.init(params)
    compiled = jitted.lower(params, state, grads).compile()
    # One kernel per leaf reading g, p, mu, nu once and writing p, mu, nu once.
    assert len(compiled.kernels) == 2
    assert all("parallel=True" in k.source for k in compiled.kernels)
    # Outside the kernels only scalar work remains (the step count, the bias corrections).
    for item in fusion.plan(compiled.closed.jaxpr):
        if not isinstance(item, fusion.Cluster):
            assert all(v.aval.size == 1 for v in item.outvars), item
    expected = step(*step(params, state, grads), grads)
    # The first step's outputs are fresh buffers owned by nobody else (init's zeros are
    # broadcast views, which cannot be written), so the second step can write into them.
    params, state = jitted(tree.map(lambda x: vnp.asarray(np.array(x)), params), state, grads)

    def addresses(params, state):
        return [np.asarray(x).ctypes.data for x in tree.leaves((params, state[0].mu,
                                                                 state[0].nu))]  # fmt: skip

    before = addresses(params, state)
    new_params, new_state = jitted(params, state, grads)
    assert addresses(new_params, new_state) == before  # every output took its input's buffer
    assert_tree_close(new_params, expected[0], rtol=1e-6, atol=1e-7)
    with pytest.raises(RuntimeError):
        np.asarray(params["a"])  # donated: deleted
