"""Elementwise fusion: a chain of elementwise equations becomes one numba loop.

``plan`` groups a jaxpr's equations greedily, in order: an elementwise float equation whose
result has a cluster's shape joins the open cluster that produces one of its operands; a
cluster closes as soon as anything outside it reads one of its values. Each cluster of two or
more equations is then one kernel (``build_kernel``) that reads every input once and writes
every output once, instead of one pass over memory (and one temporary) per operation.

Reductions declaring ``Fusion.identity`` (sum, max, min) join the cluster producing their
operand, or form one of their own: the loop runs over the operand's shape and accumulates into
the kept axes, so ``sum(f(x), axes)`` reads ``x`` once and never writes ``f(x)`` unless something
else reads it. Only reductions over separated axes with a short innermost run become loops (a
2x2 max-pool's axes 3 and 5 of a 6-D view, and its VJP's sums), where numpy's reduce walks
elements one by one; elsewhere numpy's pairwise, vectorized reduce beats these scalar loops.

Only large arrays are fused: below ``MIN_FUSED_SIZE`` elements numpy's per-call cost is small
and compiling a kernel would not pay for itself (from 32k elements, a LeNet or digits CNN
layer's activations, one pass instead of several does). Kernels are cached in this process by source
and on disk by numba (the generated module is written to the cache directory, so a restarted
process loads machine code instead of compiling).

What an equation becomes inside the loop is declared with its primitive (``Primitive.fusion``,
a ``Fusion``: the scalar expression, the operand dtypes it takes); this pass knows no primitive
by name. Transcendental functions come from ``vfunc.primitives.scalar_math``: numba's libm
calls (``math.tanh``) do not vectorize, and a fused loop calling them is slower than numpy.
``scalar_math``'s sin/cos reduce arguments up to 1.3e10 only: a kernel using them counts larger
finite arguments in its vectorized loop and, if there are any, computes everything again with
libm's sin/cos (the ``exact`` form the primitive declares), so fused results agree with NumPy
over the whole float range.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vfunc.jaxpr import Jaxpr, JaxprEqn, Literal, Var

MIN_FUSED_SIZE = 1 << 15
# Reductions compile from a smaller operand: numpy's reduce over separated axes (a max-pool's)
# walks elements one by one, so even a LeNet-sized pooling pays for its loop.
MIN_REDUCED_SIZE = 1 << 14
# Fused loops over large arrays are parallel: one core cannot stream memory at the rate two
# can, and with OMP_WAIT_POLICY=PASSIVE a launch costs microseconds. A jitted Adam step over a
# ResNet-18 tree (13 leaves of 131k..2.4M elements, 187 MB of state) ran 1.7x faster than with
# loops below 1M elements sequential; a single cache-resident leaf of 150k elements timed the
# same either way. Below a quarter million elements (1 MB of float32, cache-resident) they are
# serial: on a busy machine a parallel loop waits for its second thread to be scheduled, and
# the digits CNN's 131k-element BatchNorm loops took 3.5-4.5 ms of wall time a call that way
# on a loaded machine, for 0.25-0.35 ms of CPU time.
PARALLEL_MIN_SIZE = 1 << 18

_BOOL = np.dtype("bool")
# The dtypes a fused loop handles, by the kind letters of ``Fusion.operands``/``result``.
_LOOP_DTYPES = {"f": (np.dtype("float32"), np.dtype("float64")), "b": (_BOOL,)}


def _math_functions() -> tuple[dict, str]:
    # Imported when a kernel is built: scalar_math loads numba, which plain eager use never needs.
    from vfunc.primitives import scalar_math

    return scalar_math.VECTORIZED, scalar_math.__name__


def _math_version() -> str:
    # numba's disk cache only watches a kernel's own file; the kernels inline scalar_math's
    # functions, so its digest goes into their source (a changed scalar_math: new files).
    from vfunc.primitives import scalar_math

    return scalar_math.CODE_HASH


class Cluster:
    """Fused elementwise equations with their external inputs and outputs, all of ``shape``."""

    def __init__(self, eqn: JaxprEqn, shape: tuple[int, ...] | None = None):
        self.eqns = [eqn]
        # The loop's shape: the elementwise results', and the operand of every reduction.
        self.shape = eqn.outvars[0].aval.shape if shape is None else shape
        self.produced = set(eqn.outvars)
        self.inputs: list = []
        self.outputs: list = []

    def add(self, eqn: JaxprEqn) -> None:
        self.eqns.append(eqn)
        self.produced.update(eqn.outvars)

    def finish(self, readers_outside: set) -> None:
        seen = set()
        for eqn in self.eqns:
            for v in eqn.invars:
                if isinstance(v, Literal) or v in self.produced or v in seen:
                    continue
                seen.add(v)
                self.inputs.append(v)
        self.outputs = [v for e in self.eqns for v in e.outvars if v in readers_outside]


def _loop_dtype(dtype: np.dtype, kinds: str) -> bool:
    return any(dtype in _LOOP_DTYPES[k] for k in kinds)


def _fusible(eqn: JaxprEqn, math_table: dict, min_size: int) -> bool:
    prim = eqn.primitive
    fusion = prim.fusion
    if fusion is None or not prim.elementwise or len(eqn.outvars) != 1:
        return False
    out = eqn.outvars[0].aval
    if out.size < min_size:
        return False
    if fusion.vectorized is not None and fusion.vectorized not in math_table:
        return False
    kinds = fusion.operand_kinds(len(eqn.invars))
    if not all(_loop_dtype(v.aval.dtype, k) for v, k in zip(eqn.invars, kinds, strict=True)):
        return False
    return _loop_dtype(out.dtype, fusion.result)


def is_reduction(eqn: JaxprEqn) -> bool:
    """A reduction the fused loops compute (``Fusion.identity`` declared)."""
    fusion = eqn.primitive.fusion
    return fusion is not None and fusion.identity is not None


def _reducible(eqn: JaxprEqn) -> bool:
    if not is_reduction(eqn) or len(eqn.invars) != 1 or not isinstance(eqn.invars[0], Var):
        return False
    x = eqn.invars[0].aval
    axes = eqn.params["axes"]
    return bool(axes) and x.dtype in _LOOP_DTYPES["f"] and x.size >= MIN_REDUCED_SIZE


# numpy's reduce is vectorized along the innermost run of axes that are all reduced or all
# kept; shorter than this, it walks elements one by one and a loop is faster.
SHORT_RUN = 16


def _loop_pays(eqn: JaxprEqn) -> bool:
    """Whether a reduction is better as a loop than as numpy's reduce: for a run of adjacent
    axes numpy reduces one axis of a reshaped view, pairwise and vectorized, and it vectorizes
    along a long innermost run; but separated axes with a short innermost run (a 2x2 max-pool's
    axes 3 and 5 of a 6-D view) it walks element by element. The loops here are scalar (the
    combining step is not reassociated): elsewhere they measured 1.5-3x slower than numpy's
    reduce even with the producing chain fused in (``benchmarks/bench_reductions.py``)."""
    axes = eqn.params["axes"]
    shape = eqn.invars[0].aval.shape
    last_reduced = len(shape) - 1 in axes
    run = 1
    for d in range(len(shape) - 1, -1, -1):
        if (d in axes) != last_reduced:
            break
        run *= shape[d]
    return axes[-1] - axes[0] + 1 != len(axes) and run < SHORT_RUN


def _has_partial(cluster: Cluster) -> bool:
    return any(e.primitive.fusion.beyond is not None for e in cluster.eqns)


def _has_reduction(cluster: Cluster) -> bool:
    return any(is_reduction(e) for e in cluster.eqns)


def _mixes(eqn: JaxprEqn, *clusters: Cluster | None) -> bool:
    """Whether ``eqn`` and ``clusters`` together hold a reduction and a partial function: a
    reduction's loop runs once, and a block redone exactly (``Fusion.beyond``) would count its
    elements twice, so the two never share a kernel."""
    members = [c for c in clusters if c is not None]
    partial = eqn.primitive.fusion.beyond is not None or any(map(_has_partial, members))
    return partial and (is_reduction(eqn) or any(map(_has_reduction, members)))


def plan(jaxpr: Jaxpr, min_size: int | None = None) -> list:
    """The equations in a valid order, fusible chains grouped into ``Cluster``s of results of
    at least ``min_size`` elements (default ``MIN_FUSED_SIZE``, read at call time so tests can
    patch it; a scan loop passes less, and a GPU, where every launch costs alike, passes 1)."""
    if min_size is None:
        min_size = MIN_FUSED_SIZE
    math_table, _ = _math_functions()
    items: list = []
    open_clusters: list[Cluster] = []
    owner: dict[Var, Cluster] = {}

    def close(cluster: Cluster) -> None:
        open_clusters.remove(cluster)
        items.append(cluster)

    for eqn in jaxpr.eqns:
        reads = [v for v in eqn.invars if isinstance(v, Var)]
        target = None
        reduction = _reducible(eqn) and _loop_pays(eqn)
        fusible = reduction or _fusible(eqn, math_table, min_size)
        if fusible:
            shape = eqn.invars[0].aval.shape if reduction else eqn.outvars[0].aval.shape
            for v in reads:
                c = owner.get(v)
                if c is None or c not in open_clusters or c.shape != shape or c is target:
                    continue
                if _mixes(eqn, target, c):
                    continue
                if target is None:
                    target = c
                else:
                    # Two open clusters feeding one equation are independent of each other
                    # (neither read the other, or it would have joined or closed it): one loop.
                    target.eqns.extend(c.eqns)
                    target.produced.update(c.produced)
                    for produced in c.produced:
                        owner[produced] = target
                    open_clusters.remove(c)
        # Any other open cluster this equation reads from must be complete before it runs.
        for v in reads:
            c = owner.get(v)
            if c is not None and c is not target and c in open_clusters:
                close(c)
        if not fusible:
            items.append(eqn)
            continue
        if target is None:
            target = Cluster(eqn, shape)
            open_clusters.append(target)
        else:
            target.add(eqn)
        for v in eqn.outvars:
            owner[v] = target
    items.extend(open_clusters)

    # Outputs: values read by anything outside their cluster, or returned.
    read_outside: dict[Cluster, set] = {}
    for item in items:
        members = item.eqns if isinstance(item, Cluster) else [item]
        for e in members:
            for v in e.invars:
                c = owner.get(v) if isinstance(v, Var) else None
                if c is not None and c is not item:
                    read_outside.setdefault(c, set()).add(v)
    for v in jaxpr.outvars:
        c = owner.get(v) if isinstance(v, Var) else None
        if c is not None:
            read_outside.setdefault(c, set()).add(v)
    result = []
    for item in items:
        if isinstance(item, Cluster):
            if len(item.eqns) == 1 and not is_reduction(item.eqns[0]):
                result.append(item.eqns[0])
                continue
            item.finish(read_outside.get(item, set()))
        result.append(item)
    return result


# ----------------------------------------------------------------------------------------------
# Kernels


class Kernel:
    """A compiled fused loop: ``fn(*inputs, *outputs)`` and its source.

    ``rereads``: the kernel may read its inputs again after writing outputs (the libm pass of
    ``sin``/``cos``), so no output may share an input's buffer.
    """

    def __init__(self, fn: Any, source: str, flat: bool, rereads: bool = False,
                 reduced: dict | None = None):  # fmt: skip
        self.fn = fn
        self.source = source
        self.flat = flat
        self.rereads = rereads
        # Outputs accumulated by reductions (``reduced_outputs``): the caller passes each one
        # filled with its identity, then casts and reshapes it to the result.
        self.reduced = reduced or {}


_KERNELS: dict[str, Kernel] = {}


def _constructor(dtype: np.dtype) -> str:
    return "np.bool_" if dtype == _BOOL else f"np.{dtype.name}"


def _literal(var: Literal) -> str:
    value = var.value._value
    item = value.item()
    if value.dtype == _BOOL:
        return repr(bool(item))
    number = float(item)
    if not math.isfinite(number):  # repr gives nan / inf, which are no names in the kernel
        number_text = "np.nan" if math.isnan(number) else ("np.inf" if number > 0 else "-np.inf")
        return f"{_constructor(value.dtype)}({number_text})"
    return f"{_constructor(value.dtype)}({number!r})"


def _small_integer(var: Any) -> int | None:
    if not isinstance(var, Literal):
        return None
    value = var.value._value.item()
    if value == int(value) and 0 <= value <= 4:
        return int(value)
    return None


# Elements per block of a flat kernel using a partial function (``Fusion.beyond``): a block
# meeting an argument beyond its range is redone with the exact form.
_PARTIAL_BLOCK = 4096


def _expression(eqn: JaxprEqn, args: list[str], exact: bool = False) -> str:
    fusion = eqn.primitive.fusion
    f = _constructor(eqn.invars[0].aval.dtype)
    power = _small_integer(eqn.invars[1]) if fusion.small_power else None
    if power is not None:
        # x ** 3 as x * x * x: libm's pow does not vectorize (and costs far more).
        return f"{f}(1)" if power == 0 else "(" + " * ".join([args[0]] * power) + ")"
    if exact and fusion.exact is not None:
        return fusion.exact.format(*args)
    return fusion.expr.format(*args, f=f, out=_constructor(eqn.outvars[0].aval.dtype))


def _kept_axes(eqn: JaxprEqn) -> tuple[int, ...]:
    axes = eqn.params["axes"]
    return tuple(d for d in range(eqn.invars[0].aval.ndim) if d not in axes)


def _split_axis0(cluster: Cluster, eqn: JaxprEqn) -> bool:
    """Whether ``eqn`` accumulates one partial result per index of axis 0 (the parallel loop's
    axis, which it reduces: iterations must not share an accumulator); the caller reduces the
    partials afterwards with the primitive's own impl."""
    return 0 in eqn.params["axes"] and int(np.prod(cluster.shape)) >= PARALLEL_MIN_SIZE


def reduced_outputs(cluster: Cluster) -> dict[int, tuple]:
    """For each output a reduction computes, by position: the shape of its accumulator (the
    kept axes, after axis 0's extent where ``_split_axis0``; ``(1,)`` for a full reduction),
    the identity it starts from, its dtype, and the primitive (or None) that reduces axis 0 of
    the partials."""
    out = {}
    producers = {e.outvars[0]: e for e in cluster.eqns if is_reduction(e)}
    for k, var in enumerate(cluster.outputs):
        eqn = producers.get(var)
        if eqn is None:
            continue
        fusion = eqn.primitive.fusion
        dtype = eqn.invars[0].aval.dtype
        if fusion.wide and dtype == np.float32:
            dtype = np.dtype("float64")
        split = _split_axis0(cluster, eqn)
        shape = ((cluster.shape[0],) if split else ()) + var.aval.shape
        out[k] = (shape or (1,), fusion.identity, np.dtype(dtype), eqn.primitive if split else None)
    return out


def kernel_source(cluster: Cluster, name: str, flat_ok: bool = True) -> tuple[str, bool]:
    """Numba source for ``cluster``; also whether it loops over flat (raveled) operands (only
    if ``flat_ok``: the caller may pass operands that raveling would copy)."""
    shape = cluster.shape
    ndim = len(shape)
    reductions = [e for e in cluster.eqns if is_reduction(e)]
    flat = flat_ok and not reductions and all(v.aval.shape in (shape, ()) for v in cluster.inputs)
    parallel = int(np.prod(shape)) >= PARALLEL_MIN_SIZE
    params = [f"in{i}" for i in range(len(cluster.inputs))]
    outs = [f"out{i}" for i in range(len(cluster.outputs))]
    env: dict[Any, str] = {}
    scalars = []
    for var, p in zip(cluster.inputs, params, strict=True):
        if var.aval.shape == () and flat:
            scalars.append(f"    {p}_s = {p}[0]")
            env[var] = f"{p}_s"
    rng0 = "prange" if parallel else "range"
    names = ["i"] if flat else [f"i{d}" for d in range(ndim)]
    index = ", ".join(names)
    partial = _has_partial(cluster)
    arrays = {p: p for p in params + outs}  # how the loop body names each array
    if partial and len(names) == 1:
        # Blocks of the one axis: each block counts the sin/cos arguments scalar_math cannot
        # reduce and, if it met any, runs again with libm; the other blocks stay vectorized.
        # The body loops over views of the block from 0 (an offset range does not vectorize).
        size, b = f"{outs[0]}.shape[0]", _PARTIAL_BLOCK
        outer = [f"    for blk in {rng0}(({size} + {b - 1}) // {b}):",
                 f"        lo = blk * {b}", f"        hi = min(lo + {b}, {size})"]  # fmt: skip
        for var, p in zip([*cluster.inputs, *cluster.outputs], params + outs, strict=True):
            if var not in env:
                outer.append(f"        {p}_b = {p}[lo:hi]")
                arrays[p] = f"{p}_b"
        outer.append("        beyond = 0")
        inner = [f"        for {names[0]} in range(hi - lo):"]
        indent = " " * 12
    elif partial:  # the same with one row of the first axis as the block
        outer = [f"    for i0 in {rng0}({outs[0]}.shape[0]):", "        beyond = 0"]
        inner = [
            "    " * (d + 1) + f"for i{d} in range({outs[0]}.shape[{d}]):" for d in range(1, ndim)
        ]
        indent = "    " * (ndim + 1)
    else:
        # An array of the loop's shape gives the bounds (a reduction's output has fewer axes).
        full = next((o for o, v in zip(outs, cluster.outputs, strict=True)
                     if v.aval.shape == shape), "in0")  # fmt: skip
        outer = [
            "    " * (d + 1) + f"for {n} in {rng0 if d == 0 else 'range'}({full}.shape[{d}]):"
            for d, n in enumerate(names)
        ]
        inner = []
        indent = "    " * (len(names) + 1)

    def body(exact: bool) -> list[str]:
        local_env = dict(env)
        lines = []
        for var, p in zip(cluster.inputs, params, strict=True):
            if var not in local_env:
                lines.append(f"{indent}{p}_v = {arrays[p]}[{index}]")
                local_env[var] = f"{p}_v"
        counted = set()
        outputs = dict(zip(cluster.outputs, outs, strict=True))
        for counter, eqn in enumerate(cluster.eqns):
            args = [_literal(v) if isinstance(v, Literal) else local_env[v] for v in eqn.invars]
            var = eqn.outvars[0]
            local = f"v{counter}"
            if is_reduction(eqn):
                if var in outputs:
                    lines.append(accumulate(eqn, arrays[outputs[var]], counter, args[0]))
                continue
            beyond = eqn.primitive.fusion.beyond
            test = None if beyond is None else beyond.format(*args)
            if not exact and test is not None and test not in counted:
                counted.add(test)  # sin and cos of one value: one test
                lines.append(f"{indent}beyond += {test}")
            # Store as the equation's dtype, so float32 chains stay float32 as in numpy.
            expr = _expression(eqn, args, exact)
            lines.append(f"{indent}{local} = {_constructor(var.aval.dtype)}({expr})")
            local_env[var] = local
        for var, o in zip(cluster.outputs, outs, strict=True):
            if var in local_env:  # (a reduction's output was accumulated above)
                lines.append(f"{indent}{arrays[o]}[{index}] = {local_env[var]}")
        return lines

    # A reduction over the last axis runs in a local (no store per element); the innermost
    # loop then combines it into the accumulator array (the kept axes' element, after axis
    # 0's index where ``_split_axis0``).
    before: list[str] = []
    after: list[str] = []

    def accumulate(eqn: JaxprEqn, array: str, counter: int, element: str) -> str:
        fusion = eqn.primitive.fusion
        kept = [names[d] for d in _kept_axes(eqn)]
        if _split_axis0(cluster, eqn):
            kept.insert(0, names[0])
        acc = f"{array}[{', '.join(kept) or '0'}]"
        element = f"np.float64({element})" if fusion.wide else element
        if ndim - 1 not in eqn.params["axes"]:
            return f"{indent}{acc} = {fusion.expr.format(acc, element)}"
        local = f"r{counter}"
        before.append(f"{indent[4:]}{local} = {arrays[array]}.dtype.type(float({fusion.identity!r}))")
        after.append(f"{indent[4:]}{acc} = {fusion.expr.format(acc, local)}")
        return f"{indent}{local} = {fusion.expr.format(local, element)}"

    decorator = (
        f"@numba.njit(parallel={parallel}, fastmath={{'contract', 'nsz'}}, cache=True, "
        "error_model='numpy')"
    )
    lines = body(False)
    code = [decorator, f"def {name}({', '.join(params + outs)}):", *scalars, *outer[:-1]]
    code += [*before, *outer[-1:], *inner, *lines, *after]
    if partial:  # the block again, exactly (rare: only blocks holding |x| > 1.3e10)
        code += ["        if beyond:", *["    " + line for line in inner + body(True)]]
    return "\n".join(code), flat


def _cache_dir() -> Path:
    root = os.environ.get("VFUNC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "vfunc"
    )
    path = Path(root) / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".probe"
        probe.write_text("")
        probe.unlink()
    except OSError:  # an unwritable home: numba's cache then lives in a per-process temp dir
        path = Path(tempfile.mkdtemp(prefix="vfunc-kernels-"))
    return path


def build_kernel(cluster: Cluster, flat_ok: bool = True) -> Kernel:
    """Compile (or fetch) the kernel for ``cluster`` (``flat_ok``: see ``kernel_source``)."""
    body, flat = kernel_source(cluster, "kernel", flat_ok)
    _, math_module = _math_functions()
    header = "import math\n\nimport numba\nimport numpy as np\nfrom numba import prange\n"
    if math_module:
        header += f"import {math_module} as fm  # scalar_math {_math_version()}\n"
    reduced = reduced_outputs(cluster)
    if reduced:  # the accumulators' dtypes are not in the loop's text: key the cache on them
        body += "\n# accumulators: " + repr(sorted(reduced.items()))
    source = header + "\n\n" + body + "\n"
    cached = _KERNELS.get(source)
    if cached is not None:
        return cached
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    path = _cache_dir() / f"fused_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: concurrent processes never see half a file
    spec = importlib.util.spec_from_file_location(f"vfunc_fused_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    kernel = Kernel(module.kernel, body, flat, rereads=_has_partial(cluster),
                    reduced=reduced)
    _KERNELS[source] = kernel
    return kernel
