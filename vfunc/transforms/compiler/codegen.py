"""Code generation: a closed jaxpr becomes one Python function calling numpy (and numba) directly.

The generated function takes the flat input arrays (numpy) and returns the flat outputs. Each
equation is one line: a NumPy ufunc call for elementwise primitives backed by a ufunc, the
primitive's own impl otherwise, or one call of a fused numba kernel for a chain of elementwise
operations (see ``fusion``). There are no registry lookups, tracers or pytrees in it, and its
source is kept so users can read (and step through) what runs.

Buffers: a ufunc whose operand is a fresh temporary of the result's shape and dtype, read for
the last time, writes its result into that operand (``out=``) instead of allocating; donated
inputs (``donate_argnums``) join that pool when the caller proves nothing else can see them.
A buffer is only overwritten once every variable that may *view* it is dead: impls such as
``reshape``, ``squeeze`` or ``transpose`` return views of their operand, so each variable
records the storage it may share (any operand's, for an impl call) and a buffer is free only
when all of its holders are.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable
from typing import Any

import numpy as np

from vfunc.core import _IGNORE_ALL, _numpy_errstate
from vfunc.jaxpr import ClosedJaxpr, JaxprEqn, Literal, Var
from vfunc.primitives.conv_kernels.threads import single_threaded_blas
from vfunc.transforms.compiler import fusion

_SOURCE_IDS = itertools.count()


class Compiled:
    """A compiled jaxpr: ``fn(*flat_numpy_inputs) -> tuple of numpy outputs`` and its source."""

    def __init__(
        self, fn: Callable, source: str, closed: ClosedJaxpr, kernels: list, donated: frozenset
    ):
        self.fn = fn
        self.source = source
        self.closed = closed
        self.kernels = kernels
        self.out_weak = tuple(a.weak_type for a in closed.out_avals)
        self.donated = donated  # flat input positions whose buffers the function may reuse

    def as_text(self) -> str:
        """The generated Python source (fused kernels' sources follow as comments)."""
        parts = [self.source]
        for kernel in self.kernels:
            parts.append("\n".join("# " + line for line in kernel.source.splitlines()))
        return "\n\n".join(parts)


def _ufunc_name(impl: Any) -> str | None:
    if isinstance(impl, np.ufunc) and getattr(np, impl.__name__, None) is impl:
        return impl.__name__
    return None


class _Emitter:
    min_fused_size: int | None = None  # fused elementwise results' least size (None: the default)

    def __init__(self, closed: ClosedJaxpr, name: str, donated: frozenset[int]):
        self.closed = closed
        self.name = name
        self.donated = donated
        self.names: dict[Any, str] = {}
        self.namespace: dict[str, Any] = {
            "np": np,
            "_errstate": _numpy_errstate,
            "_QUIET": _IGNORE_ALL,
        }
        self.lines: list[str] = []
        self.header: list[str] = []
        self.counter = itertools.count()
        self.kernels: list = []
        # Buffers this function may overwrite: fresh temporaries (and proven donated inputs).
        self.owned: set[str] = set()
        # Donated input name -> the variable holding its buffer when it may be overwritten.
        self.donor: dict[str, str] = {}
        # Aliasing: the storage ids a variable may view, and the variables holding each id.
        self.storage: dict[Any, frozenset[int]] = {}
        self.holders: dict[int, list[Any]] = {}
        self.storage_ids = itertools.count()
        # Results that may be views with other strides (a broadcast's zero strides), which
        # ``np.ravel`` would copy: those of ops declaring ``strided_view`` and what they flow into.
        self.maybe_views: set[Any] = set()

    def const(self, value: Any, hint: str) -> str:
        name = f"{hint}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def ref(self, var: Any) -> str:
        if isinstance(var, Literal):
            key = ("lit", id(var))
            if key not in self.names:
                name = self.const(var.value._value, "k")
                self.header.append(f"# {name} = {var.value._value.item()!r}:{var.aval.str_short()}")
                self.names[key] = name
            return self.names[key]
        return self.names[var]

    def fresh(self, var: Var) -> str:
        name = f"t{next(self.counter)}"
        self.names[var] = name
        return name

    def new_storage(self, var: Var) -> None:
        """``var`` holds a buffer nothing else sees (a fresh result, an input, a constant)."""
        ident = next(self.storage_ids)
        self.storage[var] = frozenset((ident,))
        self.holders[ident] = [var]

    def share(self, var: Var, sources: Any) -> None:
        """``var`` may be a view of the storage of any variable in ``sources``."""
        ids = frozenset().union(*(self.storage.get(s, ()) for s in sources if isinstance(s, Var)))
        self.storage[var] = ids
        for ident in ids:
            self.holders[ident].append(var)

    def overwritable(self, var: Var, index: int, last_use: dict, outputs: set,
                     overlap_ok: bool) -> bool:  # fmt: skip
        """Whether plan item ``index`` may write into ``var``'s buffer: every variable that may
        view it is dead afterwards and none is an output. ``overlap_ok``: another view read by
        this same item is harmless (a ufunc copies overlapping operands first)."""
        for ident in self.storage.get(var, ()):
            for holder in self.holders[ident]:
                if holder in outputs:
                    return False
                use = last_use.get(holder, -1)
                if use > index or (use == index and holder is not var and not overlap_ok):
                    return False
        return True

    def param(self, value: Any) -> str:
        if isinstance(value, np.dtype):
            return self.const(value, f"{value.name}_")
        if isinstance(value, (bool, int, float, str, type(None))):
            return repr(value)
        if isinstance(value, tuple) and _plain(value):
            return repr(value)
        return self.const(value, "p")

    def emit(self) -> Compiled:
        jaxpr = self.closed.jaxpr
        args = []
        for i, var in enumerate(jaxpr.invars):
            args.append(self.fresh_input(var, i))
        if self.donated:
            # Donated inputs arrive twice: as operands, and (when the caller proved nobody
            # else sees them) as buffers results may be written into; None otherwise.
            args.append("_donated")
            for i in sorted(self.donated):
                name = self.names[jaxpr.invars[i]]
                self.lines.append(f"d{i} = _donated[{i}]")
                self.donor[name] = f"d{i}"
        self.emit_body()
        outs = [self.output(v) for v in jaxpr.outvars]
        ret = "(" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")"
        lines = [*self.lines, f"return {ret}"]
        if _small_products_only(jaxpr):
            # As a scan loop's (SINGLE_THREAD_PRODUCT): a LeNet step's (64, 400) x (400, 120)
            # products cost 8 ms of CPU each with two BLAS threads on a loaded machine.
            self.namespace["_single_blas"] = single_threaded_blas
            lines = ["with _single_blas():", *(f"    {line}" for line in lines)]
        return self.load(args, lines)

    def result_slot(self, var: Var) -> str | None:
        """An expression for the buffer a fused kernel writes ``var`` into, or None for a fresh
        one (or an input's)."""
        del var
        return None

    def emit_body(self) -> None:
        """Name the constants and emit every equation (fusible chains as one kernel call)."""
        jaxpr = self.closed.jaxpr
        for var, value in zip(jaxpr.constvars, self.closed.consts, strict=True):
            self.names[var] = self.const(np.asarray(value), "c")
            self.new_storage(var)
        plan = fusion.plan(jaxpr, self.min_fused_size)
        last_use = _last_uses(plan)
        outputs = {v for v in jaxpr.outvars if isinstance(v, Var)}
        for index, item in enumerate(plan):
            if isinstance(item, fusion.Cluster):
                self.emit_cluster(item, index, last_use, outputs)
            else:
                self.emit_eqn(item, index, last_use, outputs)

    def load(self, params: list[str], body: list[str]) -> Compiled:
        """Define ``def name(*params): body`` (numpy's error state quiet inside) and wrap it."""
        source = ("\n".join(self.header + [""]) if self.header else "") + (
            f"def {self.name}({', '.join(params)}):\n"
            "    token = _errstate.set(_QUIET)  # IEEE results, no warnings, as eager\n"
            "    try:\n" + "".join(f"        {line}\n" for line in body) + "    finally:\n"
            "        _errstate.reset(token)\n"
        )
        filename = f"<vfunc.jit {self.name} #{next(_SOURCE_IDS)}>"
        code = compile(source, filename, "exec")
        # Registered with linecache so tracebacks and debuggers show the generated lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(code, self.namespace)  # noqa: S102 - our own generated source
        return Compiled(self.namespace[self.name], source, self.closed, self.kernels, self.donated)

    def fresh_input(self, var: Var, index: int) -> str:
        name = f"a{index}"
        self.names[var] = name
        self.new_storage(var)
        return name

    def output(self, var: Any) -> str:
        name = self.ref(var)
        if var.aval.ndim == 0:
            return f"np.asarray({name})"  # ufuncs return numpy scalars for 0-d operands
        return name

    def emit_eqn(self, eqn: JaxprEqn, index: int, last_use: dict, outputs: set) -> None:
        prim = eqn.primitive
        args = [self.ref(v) for v in eqn.invars]
        ufunc = _ufunc_name(prim.impl)
        if ufunc is not None and not eqn.params and len(eqn.outvars) == 1:
            out_var = eqn.outvars[0]
            reuse = self.reusable(eqn, index, last_use, outputs)
            name = self.fresh(out_var)
            if reuse is not None:
                reused_var, buffer = reuse
                self.lines.append(f"{name} = np.{ufunc}({', '.join(args)}, out={buffer})")
                self.share(out_var, [reused_var])
            else:
                self.lines.append(f"{name} = np.{ufunc}({', '.join(args)})")
                self.new_storage(out_var)
            if out_var.aval.ndim:
                self.owned.add(name)
            return
        if prim.call_jaxpr_param is not None:
            # A call the passes kept (a checkpoint's recomputation): its own compiled
            # function, so its intermediates are freed when it returns.
            from vfunc.transforms.compiler.cache import compiled

            fn = self.const(compiled(eqn.params[prim.call_jaxpr_param]), "call")
            names = [self.fresh(v) for v in eqn.outvars]
            self.lines.append(f"{', '.join(names)}, = {fn}({', '.join(args)})")
            return
        impl = self.namespace.setdefault(f"{prim.name}_impl", prim.impl)
        assert impl is prim.impl, prim.name
        kwargs = "".join(f", {k}={self.param(v)}" for k, v in sorted(eqn.params.items()))
        call = f"{prim.name}_impl({', '.join(args)}{kwargs})".replace("(, ", "(")
        if prim.multiple_results:
            names = [self.fresh(v) for v in eqn.outvars]
            # no outputs (an effect only, such as debug_callback): the call is a statement
            self.lines.append(f"{', '.join(names)}, = {call}" if names else call)
        else:
            self.lines.append(f"{self.fresh(eqn.outvars[0])} = {call}")
        # A result may be a view with other strides if the op says so, or if it may be (a view
        # of) an operand that is one (a reshape of a broadcast, a no-op conversion).
        strided = prim.strided_view is True or (
            prim.strided_view == "inherit" and any(v in self.maybe_views for v in eqn.invars)
        )
        for v in eqn.outvars:  # an impl may return a view of (or the very array of) an operand
            self.share(v, eqn.invars)
            if strided:
                self.maybe_views.add(v)

    def reusable(
        self, eqn: JaxprEqn, index: int, last_use: dict, outputs: set
    ) -> tuple[Var, str] | None:
        """An operand whose buffer the result can be written into, with that buffer, or None."""
        out = eqn.outvars[0].aval
        if out.ndim == 0:
            return None
        for var in eqn.invars:
            if (
                isinstance(var, Var)
                and var not in outputs
                and last_use.get(var) == index
                and var.aval.shape == out.shape
                and var.aval.dtype == out.dtype
                and self.overwritable(var, index, last_use, outputs, overlap_ok=True)
            ):
                name = self.names[var]
                if name in self.owned:
                    self.owned.discard(name)  # its buffer now belongs to the result
                    return var, name
                if name in self.donor:
                    return var, self.donor.pop(name)
        return None

    def emit_cluster(self, cluster: Any, index: int, last_use: dict, outputs: set) -> None:
        # A broadcast view (a per-channel bias as (N, C, H, W)) goes to an N-D kernel as it
        # is: raveling it would copy the whole shape.
        views = any(v in self.maybe_views and v.aval.ndim for v in cluster.inputs)
        kernel = fusion.build_kernel(cluster, flat_ok=not views)
        self.kernels.append(kernel)
        kname = self.const(kernel.fn, "fused")
        shape = cluster.shape
        args = []
        for v in cluster.inputs:
            name = self.ref(v)
            if not kernel.flat:
                # (np.broadcast_to costs microseconds: an operand of the loop's shape needs none)
                args.append(name if v.aval.shape == shape else
                            f"np.broadcast_to({name}, {shape!r})")  # fmt: skip
            elif v.aval.shape == ():
                args.append(f"np.reshape({name}, (1,))")
            else:
                args.append(f"np.ravel({name})")  # a view when contiguous, else a copy
        reusable = [
            v for v in cluster.inputs
            if isinstance(v, Var) and v not in outputs and last_use.get(v) == index
            and v.aval.shape == shape and not kernel.rereads
            # The kernel writes element k after reading element k of every input: another
            # input viewing the same buffer with other strides would read overwritten data.
            and self.overwritable(v, index, last_use, outputs, overlap_ok=False)
        ]  # fmt: skip
        outs, finish = [], []
        for position, var in enumerate(cluster.outputs):
            dtype = self.param(var.aval.dtype)
            if position in kernel.reduced:
                # An accumulator starting at the reduction's identity, cast afterwards where
                # it is wider than the result (float32 sums accumulate in float64).
                acc_shape, identity, acc_dtype, partials = kernel.reduced[position]
                out_name = self.fresh(var)
                self.new_storage(var)
                self.lines.append(f"{out_name} = np.full({acc_shape!r}, float({identity!r}), "
                                  f"{self.param(acc_dtype)})")  # fmt: skip
                if partials is not None:  # one partial result per parallel iteration
                    impl = self.const(partials.impl, "partials")
                    finish.append(f"{out_name} = {impl}({out_name}, axes=(0,))")
                    acc_shape = acc_shape[1:] or (1,)
                if acc_dtype != var.aval.dtype or acc_shape != var.aval.shape:
                    finish.append(f"{out_name} = {out_name}.astype({dtype})"
                                  f".reshape({var.aval.shape!r})")  # fmt: skip
                outs.append(out_name)
                self.owned.add(out_name)
                continue
            slot = self.result_slot(var)
            if slot is not None:  # written where the caller keeps it (a loop's stacked y)
                out_name = self.fresh(var)
                self.new_storage(var)
                self.lines.append(f"{out_name} = {slot}")
                outs.append(out_name)
                continue
            fresh = f"np.empty({shape!r}, {dtype})"
            buffer, source = None, None
            for v in reusable:
                name = self.names[v]
                if v.aval.dtype != var.aval.dtype:
                    continue
                # The kernel reads each element before writing that element's results, so an
                # input's buffer can take an output (if C-ordered: the loop is over ravel()).
                if name in self.owned:
                    self.owned.discard(name)
                    buffer = f"{name} if {name}.flags.c_contiguous else {fresh}"
                elif name in self.donor:
                    donor = self.donor.pop(name)
                    buffer = f"{donor} if {donor} is not None else {fresh}"
                if buffer is not None:
                    reusable.remove(v)
                    source = v
                    break
            out_name = self.fresh(var)
            if source is None:
                self.new_storage(var)
            else:  # either the input's buffer or a fresh one: record the input's, to be safe
                self.share(var, [source])
            self.lines.append(f"{out_name} = {buffer or fresh}")
            outs.append(out_name)
            self.owned.add(out_name)
        views = [f"{o}.reshape(-1)" if kernel.flat else o for o in outs]
        self.lines.append(f"{kname}({', '.join(args + views)})")
        self.lines.extend(finish)


def _plain(value: tuple) -> bool:
    return all(
        isinstance(v, (bool, int, float, str, type(None))) or (isinstance(v, tuple) and _plain(v))
        for v in value
    )


def _last_uses(plan: list) -> dict[Var, int]:
    """For each variable, the index (in the fusion plan) of the last item reading it."""
    last: dict[Var, int] = {}
    for index, item in enumerate(plan):
        invars = item.inputs if isinstance(item, fusion.Cluster) else item.invars
        for v in invars:
            if isinstance(v, Var):
                last[v] = index
    return last


def compile_jaxpr(
    closed: ClosedJaxpr, name: str, donated: frozenset[int] = frozenset()
) -> Compiled:
    """Generate, compile and return the Python function computing ``closed``."""
    return _Emitter(closed, name, donated).emit()


# ----------------------------------------------------------------------------------------------
# Whole scan loops

# A loop whose matrix products all have at most this many multiply-adds runs them on one BLAS
# thread. Such a product takes a few tenths of a millisecond on one core: on idle cores more
# threads could at best divide that, but a loop calls it thousands of times back to back, and
# each call has OpenBLAS wake its threads and wait for all of them (spinning between calls):
# on a loaded 2-core machine an LSTM step's (32, 256) x (256, 1024) took 30 ms with 2 threads
# and 1 ms with one, and the 2-layer LSTM of benchmarks/bench_nn.py took 4.0 s a training step
# with the default threads and 0.76 s with its loops on one.
SINGLE_THREAD_PRODUCT = 1 << 24
# Elementwise chains of a loop body with results of at least this many elements are fused.
LOOP_MIN_FUSED_SIZE = 1 << 10


def _small_products_only(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` has matrix products, all 2-D (``Primitive.as_matmul``) with at most
    ``SINGLE_THREAD_PRODUCT`` multiply-adds, and no sub-jaxprs (whose products are not looked
    at): then a whole jitted call runs on one BLAS thread."""
    largest = 0
    for eqn in jaxpr.eqns:
        if any(isinstance(v, ClosedJaxpr) or hasattr(v, "eqns") for v in eqn.params.values()):
            return False
        as_matmul = eqn.primitive.as_matmul
        if as_matmul is None:
            continue
        flags = as_matmul(eqn.params, *(v.aval for v in eqn.invars)) if len(eqn.invars) == 2 \
            else None
        if flags is None:  # a batched or higher-rank product: not sized here
            return False
        lhs = eqn.invars[0].aval
        largest = max(largest, eqn.outvars[0].aval.size * lhs.shape[0 if flags[0] else 1])
    return 0 < largest <= SINGLE_THREAD_PRODUCT


class _LoopEmitter(_Emitter):
    """Emits one function running a whole scan: the body inlined as straight-line code in a
    ``for`` loop, carries as locals, rows of xs as views and ys written into preallocated
    arrays. Calling a compiled body per step would cost a call, the error-state switch and
    tuple packing every iteration, several times the arithmetic of a small body. A loop whose
    matrix products are all small runs on one BLAS thread (``SINGLE_THREAD_PRODUCT``); the
    previous thread count is restored when the loop ends or raises. Elementwise chains fuse
    from ``LOOP_MIN_FUSED_SIZE`` elements, and a fused kernel writes a y straight into its row
    of the stacked ys."""

    def __init__(self, closed: ClosedJaxpr, name: str, num_consts: int, num_carry: int,
                 length: int, reverse: bool):  # fmt: skip
        super().__init__(closed, name, frozenset())
        self.num_consts = num_consts
        self.num_carry = num_carry
        self.length = length
        self.reverse = reverse
        self.invariant: set[Any] = set()  # variables the same in every iteration
        self.preamble: list[str] = []
        self.hoisted: dict[tuple[str, str], str] = {}
        self.largest_product = 0  # multiply-adds of the loop's largest matrix product
        self.y_slots: dict[Any, int] = {}  # ys a fused kernel may write in place: their index
        self.in_place: set[Any] = set()  # those it does

    # A loop body runs its operations thousands of times on small arrays, where numpy's cost
    # per call (not per element) dominates: an LSTM step's dozen gate operations on (32, 128)
    # arrays are one kernel call instead of a dozen ufunc calls.
    @property
    def min_fused_size(self) -> int:
        return min(LOOP_MIN_FUSED_SIZE, fusion.MIN_FUSED_SIZE)

    def result_slot(self, var: Var) -> str | None:
        k = self.y_slots.get(var)
        if k is None:
            return None
        self.in_place.add(var)
        return f"ys{k}[i]"

    def emit(self) -> Compiled:
        jaxpr = self.closed.jaxpr
        c, m = self.num_consts, self.num_carry
        for i, var in enumerate(jaxpr.invars):
            self.fresh_input(var, i)
        self.invariant.update(jaxpr.invars[:c])
        self.invariant.update(jaxpr.constvars)
        # A y computed by a fused kernel is written straight into its row of the stacked ys
        # (not if it is also a carry: the carry would view that row, and the caller may reuse
        # a result's buffer).
        carry_out = {v for v in jaxpr.outvars[:m] if isinstance(v, Var)}
        for k, var in enumerate(jaxpr.outvars[m:]):
            if isinstance(var, Var) and var not in carry_out and var not in self.names:
                self.y_slots.setdefault(var, k)
        self.emit_body()
        n_in = len(jaxpr.invars)
        params = [f"a{i}" for i in range(c)] + [f"init{j}" for j in range(m)]
        params += [f"xs{k}" for k in range(n_in - c - m)]
        pre = [f"a{c + j} = init{j}" for j in range(m)]
        ys_avals = [v.aval for v in jaxpr.outvars[m:]]
        for k, aval in enumerate(ys_avals):
            dtype = self.param(aval.dtype)
            pre.append(f"ys{k} = np.empty({(self.length, *aval.shape)!r}, {dtype})")
        read = {v for e in jaxpr.eqns for v in e.invars if isinstance(v, Var)} | set(jaxpr.outvars)
        loop = [
            f"a{c + m + k} = xs{k}[i]" for k, var in enumerate(jaxpr.invars[c + m :]) if var in read
        ] + self.lines
        # ys first: a y may be the carry this step received, rebound just below.
        for k, var in enumerate(jaxpr.outvars[m:]):
            if not (var in self.in_place and self.y_slots[var] == k):
                loop.append(f"ys{k}[i] = {self.ref(var)}")
        carry_out = [self.output(v) for v in jaxpr.outvars[:m]]
        if m:
            targets = ", ".join(f"a{c + j}" for j in range(m))
            loop.append(f"{targets}, = {', '.join(carry_out)},")
        steps = f"range({self.length - 1}, -1, -1)" if self.reverse else f"range({self.length})"
        outs = [f"np.asarray(a{c + j})" for j in range(m)] + [
            f"ys{k}" for k in range(len(ys_avals))
        ]
        ret = "(" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")"
        body = [*pre, *self.preamble]
        indent = "    "
        if 0 < self.largest_product <= SINGLE_THREAD_PRODUCT:
            # Small per-step products: one BLAS thread for the whole loop (see the constant).
            self.namespace["_single_blas"] = single_threaded_blas
            body.append("with _single_blas():")
            indent = "        "
        body.append(f"{indent[4:]}for i in {steps}:")
        body += [f"{indent}{line}" for line in loop or ["pass"]]
        return self.load(params, [*body, f"return {ret}"])

    def operand(self, var: Any, transpose: bool) -> str:
        name = self.ref(var)
        if not transpose:
            return name
        if isinstance(var, Var) and var in self.invariant:
            # A loop-invariant operand read transposed: one contiguous copy before the loop
            # (BLAS on a transposed view is markedly slower at these sizes).
            key = (name, "T")
            if key not in self.hoisted:
                self.hoisted[key] = hoisted = f"{name}_T"
                self.preamble.append(f"{hoisted} = np.ascontiguousarray({name}.T)")
            return self.hoisted[key]
        return f"{name}.T"

    def emit_cluster(self, cluster: Any, index: int, last_use: dict, outputs: set) -> None:
        # A loop's fused operands are small: a strided view of the cluster's shape (an LSTM
        # gate, a column block of the pre-activations) is copied to a contiguous array, a
        # microsecond, so the kernel is a flat loop numba vectorizes. Over a strided view the
        # transcendental functions run one element at a time: an LSTM step's gate kernel took
        # 0.9 ms on (32, 128) gates.
        for v in cluster.inputs:
            if isinstance(v, Var) and v in self.maybe_views and v.aval.shape == cluster.shape:
                name = self.ref(v)
                self.lines.append(f"{name} = np.ascontiguousarray({name})")
                self.maybe_views.discard(v)
        super().emit_cluster(cluster, index, last_use, outputs)

    def emit_eqn(self, eqn: JaxprEqn, index: int, last_use: dict, outputs: set) -> None:
        as_matmul = eqn.primitive.as_matmul
        if as_matmul is not None and len(eqn.invars) == 2:
            # A 2-D matrix product (the primitive says so): BLAS directly, operands transposed
            # in place, without the impl's generic reshaping.
            lhs, rhs = eqn.invars
            flags = as_matmul(eqn.params, lhs.aval, rhs.aval)
            if flags is not None:
                a, b = self.operand(lhs, flags[0]), self.operand(rhs, flags[1])
                size = eqn.outvars[0].aval.size * lhs.aval.shape[0 if flags[0] else 1]
                self.largest_product = max(self.largest_product, size)
                self.lines.append(f"{self.fresh(eqn.outvars[0])} = np.dot({a}, {b})")
                self.owned.add(self.names[eqn.outvars[0]])
                self.new_storage(eqn.outvars[0])
                return
        super().emit_eqn(eqn, index, last_use, outputs)


def compile_scan_loop(
    closed: ClosedJaxpr, num_consts: int, num_carry: int, length: int, reverse: bool
) -> Compiled:
    """One function ``fn(*consts, *init, *xs) -> (*final_carry, *stacked_ys)`` running the scan
    whose body is ``closed`` (inputs: consts, carry, x; outputs: carry, y)."""
    return _LoopEmitter(closed, "scan_loop", num_consts, num_carry, length, reverse).emit()
