"""``vnp.vectorize``: NumPy's generalized ufuncs, built on vmap (no Python loop)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from vfunc.numpy.creation import asarray
from vfunc.numpy.ufuncs import broadcast_to
from vfunc.transforms.batching import vmap

_DIMS = r"\((?:\w+(?:,\w+)*)?\)"
_SIGNATURE = re.compile(rf"^{_DIMS}(?:,{_DIMS})*->{_DIMS}(?:,{_DIMS})*$")


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    compact = signature.replace(" ", "")
    if not _SIGNATURE.match(compact):
        raise ValueError(f"vectorize: signature {signature!r} is not of the form '(m,n),(n)->(m)'")
    inputs, outputs = compact.split("->")

    def groups(part: str) -> list[tuple[str, ...]]:
        return [tuple(d for d in g.split(",") if d) for g in re.findall(r"\(([^)]*)\)", part)]

    return groups(inputs), groups(outputs)


def vectorize(
    pyfunc: Callable,
    *,
    excluded: Collection[int | str] = frozenset(),
    signature: str | None = None,
) -> Callable:
    """Turn ``pyfunc`` on core arrays into a function on stacks of them, as ``numpy.vectorize``.

    The loop (leading, broadcast) dimensions are mapped with nested ``vmap``, so ``pyfunc`` runs
    once on whole batches: it must be written with vfunc operations.

    Args:
        pyfunc: the function of one element (no signature) or of core arrays.
        excluded: positions or names of arguments passed through unvectorized.
        signature: a generalized-ufunc signature such as ``"(n,m),(m)->(n)"``; without one every
            argument's core is a scalar.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.vectorize(lambda m, v: m @ v, signature="(n,m),(m)->(n)")(
        ...     vnp.ones((4, 2, 3)), vnp.ones(3)).shape
        (4, 2)
    """
    in_core, out_core = _parse_signature(signature) if signature else (None, None)
    name = getattr(pyfunc, "__name__", "function")

    @functools.wraps(pyfunc)
    def vectorized(*args: Any, **kwargs: Any) -> Any:
        mapped = [i for i in range(len(args)) if i not in excluded]
        mapped_kw = [k for k in kwargs if k not in excluded]
        arrays = [asarray(args[i]) for i in mapped] + [asarray(kwargs[k]) for k in mapped_kw]
        cores = in_core if in_core is not None else [()] * len(arrays)
        if len(cores) != len(arrays):
            raise ValueError(
                f"vectorize({name}): signature {signature!r} has {len(cores)} inputs but "
                f"{len(arrays)} vectorized arguments were given"
            )
        sizes: dict[str, int] = {}
        loop_shapes = []
        for k, (x, core) in enumerate(zip(arrays, cores, strict=True)):
            if x.ndim < len(core):
                raise ValueError(
                    f"vectorize({name}): input {k} of shape {x.shape} has fewer dimensions than "
                    f"its core {core} in signature {signature!r}"
                )
            core_shape = x.shape[x.ndim - len(core) :]
            for dim, n in zip(core, core_shape, strict=True):
                if sizes.setdefault(dim, n) != n:
                    raise ValueError(
                        f"vectorize({name}): core dimension {dim!r} of signature {signature!r} "
                        f"is {sizes[dim]} in one input but {n} in input {k} (shape {x.shape})"
                    )
            loop_shapes.append(x.shape[: x.ndim - len(core)])
        loop = np.broadcast_shapes(*loop_shapes)
        arrays = [
            broadcast_to(x, loop + x.shape[x.ndim - len(core) :])
            for x, core in zip(arrays, cores, strict=True)
        ]

        def core_fun(*core_args: Any) -> Any:
            full, named = list(args), dict(kwargs)
            for i, value in zip(mapped, core_args, strict=False):
                full[i] = value
            for k, value in zip(mapped_kw, core_args[len(mapped) :], strict=True):
                named[k] = value
            out = pyfunc(*full, **named)
            if out_core is not None:
                _check_outputs(name, signature, out, out_core, sizes)
            return out

        fun = core_fun
        for _ in loop:
            fun = vmap(fun)
        return fun(*arrays)

    return vectorized


def _check_outputs(name: str, signature: str | None, out: Any, cores: list, sizes: dict) -> None:
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != len(cores):
        raise ValueError(
            f"vectorize({name}): signature {signature!r} promises {len(cores)} outputs, the "
            f"function returned {len(outs)}"
        )
    for k, (o, core) in enumerate(zip(outs, cores, strict=True)):
        shape = asarray(o).shape
        if len(shape) != len(core) or any(
            sizes.setdefault(d, n) != n for d, n in zip(core, shape, strict=True)
        ):
            raise ValueError(
                f"vectorize({name}): output {k} has shape {shape}, which does not match core "
                f"dimensions {core} of signature {signature!r}"
            )
