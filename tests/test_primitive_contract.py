"""The primitive contract: what the compiler knows about a primitive is declared with it.

The fusion pass writes a primitive's declared ``Fusion`` expression, the simplification pass
applies its declared ``Identities``, the scan-loop emitter calls BLAS where ``as_matmul`` says
so, and no compiler module asks a primitive its name. A new elementwise op, fused form
included, is one row; reductions are rows of one factory; core imports nothing above it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import lax
from vfunc.core import Fusion, ShapedArray, registry
from vfunc.primitives import elementwise as ew
from vfunc.primitives.linalg import dot_general_p
from vfunc.transforms.compiler import fusion

pytestmark = pytest.mark.usefixtures("x64_off")

ROOT = Path(vfunc.__file__).parent
# The modules of the primitive contract and of the compiler: declarations and their readers.
CONTRACT_MODULES = [
    "core.py",
    "primitives/elementwise.py",
    "primitives/reduction.py",
    "primitives/shape.py",
    "primitives/linalg.py",
    "primitives/builders.py",
    "primitives/_batching.py",
    "primitives/_bilinear.py",
    "primitives/_checks.py",
    "transforms/compiler/fusion.py",
    "transforms/compiler/passes.py",
    "transforms/compiler/codegen.py",
]


# ----------------------------------------------------------------------------------------------
# Source-level guarantees


def test_no_compiler_module_branches_on_a_primitive_name():
    pattern = re.compile(r"\.name\s*(==|!=|in\b)|\bname\s*(==|!=)\s*[\"']")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "transforms").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "ask the primitive (a declared field), not its name:\n" + "\n".join(found)


def _assigned_attributes(tree: ast.AST) -> list[str]:
    """``x_p.attr = ...`` statements: a primitive changed after its constructor."""
    out = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id.endswith("_p")):  # fmt: skip
                out.append(f"line {node.lineno}: {target.value.id}.{target.attr}")
    return out


@pytest.mark.parametrize("module", [m for m in CONTRACT_MODULES if m.startswith("primitives")])
def test_primitives_are_complete_when_constructed(module):
    found = _assigned_attributes(ast.parse((ROOT / module).read_text()))
    assert not found, f"{module}: pass these as Primitive keywords instead: {found}"


def test_core_imports_nothing_above_it():
    # _array_methods is a .pyi stub read by type checkers only (imported under TYPE_CHECKING)
    allowed = {"vfunc.config", "vfunc.devices", "vfunc.dtypes", "vfunc.errors", "vfunc.jaxpr",
               "vfunc._array_methods"}  # fmt: skip
    tree = ast.parse((ROOT / "core.py").read_text())
    imported = set()
    for node in ast.walk(tree):  # lazy imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "vfunc" else [f"vfunc.{a.name}" for a in
                                                                   node.names]  # fmt: skip
            imported.update(names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    upward = sorted(n for n in imported if n.startswith("vfunc") and n not in allowed)
    assert not upward, f"core.py imports from layers above it: {upward}"


def test_iterating_a_tracer_uses_the_row_view_installed_below_core():
    x = vnp.arange(6.0).reshape(3, 2)
    rows = vfunc.jit(lambda v: [r * 2 for r in v])(x)
    np.testing.assert_array_equal(np.stack([np.asarray(r) for r in rows]),
                                  2 * np.asarray(x))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(vfunc.vmap(lambda v: sum(v))(x)), [1.0, 5.0, 9.0])
    with pytest.raises(TypeError, match="iteration over a 0-d array"):
        vfunc.jit(lambda v: list(v))(vnp.float32(1.0))


# ----------------------------------------------------------------------------------------------
# Fusion templates


def test_the_fastmath_functions_are_listed_once():
    assert not hasattr(fusion, "_MATH") and not hasattr(fusion, "_UNARY")
    declared = {p.fusion.vectorized for p in registry.values()
                if p.fusion is not None and p.fusion.vectorized}  # fmt: skip
    from vfunc.primitives import scalar_math

    assert declared == set(scalar_math.VECTORIZED)


@pytest.fixture
def cube_p():
    """A new elementwise op, fused form included, declared as one row (removed afterwards)."""
    prim = ew.unary("test_cube", lambda x: x * x * x, ew.FLOAT,
                    vjp=lambda g, x, out: lax.mul(g, lax.mul(lax.mul(x, x), 3)),
                    fused="({0} * {0} * {0})")  # fmt: skip
    yield prim
    del registry[prim.name]


def test_a_new_elementwise_op_is_one_row(cube_p):
    x = vnp.asarray(np.linspace(-2, 2, fusion.MIN_FUSED_SIZE, dtype=np.float32))

    def f(v):
        return lax.add(cube_p.bind(lax.sin(v)), 1.0)

    jf = vfunc.jit(f)
    source = jf.lower(x).compile().as_text()
    assert "(v0 * v0 * v0)" in source, source  # its template, inside the fused loop
    want = np.sin(np.asarray(x, np.float64)) ** 3 + 1
    np.testing.assert_allclose(np.asarray(jf(x)), want, rtol=1e-5, atol=1e-6)
    # and its derivative, from the same row, through vmap, jit and grad
    small = vnp.asarray([0.3, -0.7], np.float32)
    g = vfunc.jit(vfunc.vmap(vfunc.grad(lambda v: cube_p.bind(v))))(small)
    np.testing.assert_allclose(np.asarray(g), 3 * np.asarray(small) ** 2, rtol=1e-6)


def test_fused_forms_cover_the_previous_tables():
    fused = {p.name for p in registry.values() if p.fusion is not None}
    reductions = {p.name for p in registry.values() if p.fusion and p.fusion.identity}
    assert reductions == {"reduce_sum", "reduce_max", "reduce_min"}
    assert fused - reductions == {
        "add", "sub", "mul", "div", "pow", "max", "min", "lt", "le", "gt", "ge", "eq", "ne",
        "neg", "abs", "sqrt", "rsqrt", "stop_gradient", "floor", "ceil", "is_finite",
        "exp", "expm1", "log", "log1p", "tanh", "logistic", "erf", "sin", "cos",
        "and", "or", "not", "select", "convert_element_type",
    }  # fmt: skip


def test_operand_dtypes_decide_fusion():
    n = fusion.MIN_FUSED_SIZE
    x = vnp.asarray(np.ones(n, np.float32))
    i = vnp.asarray(np.ones(n, np.int32))
    b = vnp.asarray(np.ones(n, bool))

    def kernels(f, *args):
        return len(vfunc.jit(f).lower(*args).compile().kernels)

    assert kernels(lambda v: lax.exp(lax.neg(v)), x) == 1
    assert kernels(lambda v: lax.neg(lax.neg(lax.add(v, 1))), i) == 0  # ints stay numpy calls
    assert kernels(lambda v, p: lax.select(lax.bitwise_not(p), lax.exp(v), v), x, b) == 1
    assert kernels(lambda p: lax.bitwise_not(lax.bitwise_and(p, p)), b) == 1


# ----------------------------------------------------------------------------------------------
# Algebraic identities


def _optimized_primitives(f, *args) -> list[str]:
    text = vfunc.jit(f).lower(*args).as_text()
    return re.findall(r"= (\w+)", text)


def test_involutions_and_idempotent_ops_collapse():
    x = vnp.asarray([1.5, -2.5, 0.0])
    assert _optimized_primitives(lambda v: lax.neg(lax.neg(v)), x) == []
    assert _optimized_primitives(lambda v: lax.floor(lax.floor(lax.floor(v))), x) == ["floor"]
    assert _optimized_primitives(lambda v: lax.abs(lax.abs(v)), x) == ["abs"]
    b = vnp.asarray([True, False])
    assert _optimized_primitives(lambda p: lax.bitwise_not(lax.bitwise_not(p)), b) == []
    # round is idempotent only for one rounding method: two methods stay
    both = _optimized_primitives(lambda v: lax.round(lax.round(v, 0), 1), x)
    assert both == ["round", "round"]
    for f in (lambda v: lax.neg(lax.neg(v)), lambda v: lax.round(lax.round(v, 0), 1)):
        np.testing.assert_array_equal(np.asarray(vfunc.jit(f)(x)), np.asarray(f(x)))


def test_units_are_exact_ones_only():
    x = vnp.asarray([-0.0, 1.0])
    assert _optimized_primitives(lambda v: lax.div(lax.mul(1.0, v), 1.0), x) == []
    assert _optimized_primitives(lambda v: lax.add(-0.0, lax.sub(v, 0.0)), x) == []
    assert _optimized_primitives(lambda v: lax.add(v, 0.0), x) == ["add"]  # -0.0 + 0.0 = 0.0
    assert _optimized_primitives(lambda v: lax.sub(v, -0.0), x) == ["sub"]
    assert _optimized_primitives(lambda v: lax.div(1.0, v), x) == ["div"]  # not a right unit


def test_transpose_of_a_product_is_the_swapped_product():
    a, b = vnp.ones((4, 3)), vnp.ones((3, 5))
    prims = _optimized_primitives(lambda p, q: lax.transpose(p @ q, (1, 0)), a, b)
    assert prims == ["dot_general"]
    # with batch axes it is not (the batch axis would move): the transpose stays
    a3, b3 = vnp.ones((2, 4, 3)), vnp.ones((2, 3, 5))
    prims = _optimized_primitives(lambda p, q: lax.transpose(p @ q, (0, 2, 1)), a3, b3)
    assert prims == ["dot_general", "transpose"]


# ----------------------------------------------------------------------------------------------
# The BLAS-lowering hook and the reduction rows


@pytest.mark.parametrize("lc, rc", [(1, 0), (0, 0), (1, 1), (0, 1)])
def test_as_matmul_describes_a_2d_product(lc, rc):
    rng = np.random.default_rng(0)
    lhs = rng.standard_normal((3, 4) if lc == 1 else (4, 3)).astype(np.float32)
    rhs = rng.standard_normal((4, 5) if rc == 0 else (5, 4)).astype(np.float32)
    params = {"dimension_numbers": (((lc,), (rc,)), ((), ()))}
    avals = ShapedArray(lhs.shape, lhs.dtype), ShapedArray(rhs.shape, rhs.dtype)
    ta, tb = dot_general_p.as_matmul(params, *avals)
    got = np.dot(lhs.T if ta else lhs, rhs.T if tb else rhs)
    np.testing.assert_allclose(got, dot_general_p.impl(lhs, rhs, **params), rtol=1e-6)


def test_as_matmul_declines_other_products():
    batch = {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))}
    three = ShapedArray((2, 3, 4), np.dtype("float32")), ShapedArray((2, 4, 5), np.float32)
    assert dot_general_p.as_matmul(batch, *three) is None
    vec = {"dimension_numbers": (((1,), (0,)), ((), ()))}
    mat_vec = ShapedArray((3, 4), np.dtype("float32")), ShapedArray((4,), np.dtype("float32"))
    assert dot_general_p.as_matmul(vec, *mat_vec) is None


def test_scan_loop_calls_blas_where_the_primitive_says_so(monkeypatch):
    from vfunc.transforms.compiler import codegen

    sources = []
    original = codegen.compile_scan_loop

    def spy(*args, **kwargs):
        compiled = original(*args, **kwargs)
        sources.append(compiled.as_text())
        return compiled

    monkeypatch.setattr(codegen, "compile_scan_loop", spy)
    w = vnp.asarray(np.arange(9, dtype=np.float32).reshape(3, 3) * 0.1)

    def run(h, xs, w):
        def step(c, x):  # c @ w.T: the product contracting both operands' axis 1
            return lax.tanh(lax.add(lax.dot_general(c, w, (((1,), (1,)), ((), ()))), x)), c

        return lax.scan(step, h, xs)

    h, xs = vnp.ones((2, 3)), vnp.ones((4, 2, 3))
    got = vfunc.jit(run)(h, xs, w)
    assert sources and "np.dot(" in sources[-1], sources
    assert "_T = np.ascontiguousarray(" in sources[-1]  # w read transposed: one copy, hoisted
    want = run(h, xs, w)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-6)


REDUCTIONS = {"reduce_sum": np.sum, "reduce_prod": np.prod, "reduce_max": np.max,
              "reduce_min": np.min}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("batch_axis", [0, 1, 2])
def test_reduction_rows_batch_alike(name, batch_axis):
    rng = np.random.default_rng(batch_axis)
    x = rng.uniform(0.5, 1.5, (3, 4, 5)).astype(np.float32)
    prim = registry[name]
    got = vfunc.vmap(lambda v: prim.bind(v, axes=(1,)), in_axes=batch_axis)(lax.as_array(x))
    per_member = np.moveaxis(x, batch_axis, 0)
    want = REDUCTIONS[name](per_member, axis=2)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("batch_axis", [0, 1, 2])
def test_index_reduction_rows_batch_alike(name, batch_axis):
    x = np.random.default_rng(batch_axis).standard_normal((3, 4, 5)).astype(np.float32)
    prim = registry[name]
    got = vfunc.vmap(lambda v: prim.bind(v, axis=0, index_dtype=np.dtype("int32")),
                     in_axes=batch_axis)(lax.as_array(x))  # fmt: skip
    want = getattr(np, name)(np.moveaxis(x, batch_axis, 0), axis=1)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert np.asarray(got).dtype == np.int32


def test_fusion_declaration_is_data():
    f = ew.sin_p.fusion
    assert isinstance(f, Fusion) and f.vectorized == "sin" and f.beyond is not None
    assert ew.select_p.fusion.operand_kinds(3) == ("b", "fb", "fb")
    assert ew.exp_p.fusion.operand_kinds(1) == ("f",)
