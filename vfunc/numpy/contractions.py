"""Tensor contractions with NumPy's signatures: einsum, tensordot, inner, outer, vdot, kron.

All of them are compositions of existing primitives; every contraction of two operands is one
``dot_general``, so ``grad``, ``vmap`` and ``jit`` need no rules of their own.
"""

from __future__ import annotations

import operator
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import lax
from vfunc.core import Array
from vfunc.errors import ShapeError
from vfunc.numpy._promote import promote_args
from vfunc.numpy.matrices import diagonal, sum_axes
from vfunc.numpy.shapes import ravel, reshape
from vfunc.numpy.ufuncs import multiply
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.elementwise import conj_p

ArrayLike = Any
Label = str | int  # a subscript letter, or the position of an axis matched by '...'

__all__ = ["einsum", "inner", "kron", "outer", "tensordot", "vdot"]

_LETTERS = frozenset(string.ascii_letters)


# ----------------------------------------------------------------------------------------------
# einsum


def einsum(
    subscripts: str | ArrayLike,
    *operands: Any,
    optimize: Any = "optimal",
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Einstein summation, as ``numpy.einsum``.

    Supports explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``: labels seen once, sorted)
    output, ``'...'`` for broadcast axes, repeated labels within one operand (a diagonal:
    ``'ii->i'``), labels missing from the output (summed), size-1 axes broadcasting against a
    label's size, and NumPy's interleaved form ``einsum(x, [0, 1], y, [1, 2], [0, 2])``.

    Operands are promoted to one dtype (JAX's rules), reduced by their private labels, then
    contracted pairwise from left to right, each pair by one ``dot_general`` whose batch axes are
    the labels both share and still need, and whose contracting axes are the shared labels
    needed nowhere later.

    Differs from NumPy and JAX: ``optimize`` is accepted and ignored (the order is always left to
    right; reorder the operands for a cheaper path), and so is ``precision``.
    ``preferred_element_type`` converts the result.

    Args:
        subscripts: the labels, e.g. ``'bij,bjk->bik'`` (letters a-z, A-Z; spaces ignored).
        *operands: one array per comma-separated term.

    Returns:
        The contraction, with the output labels' axes in order (``'...'`` axes where the output
        puts them, first for implicit output). Bools combine with ``or``/``and``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import einsum
        >>> einsum('ij,jk->ik', vnp.ones((2, 3)), vnp.ones((3, 2)))
        Array([[3., 3.],
               [3., 3.]], dtype=float32)
    """
    del optimize, precision
    if not isinstance(subscripts, str):
        subscripts, operands = _from_interleaved(subscripts, operands)
    if not operands:
        raise ShapeError(f"einsum: no operands were given for subscripts {subscripts!r}")
    arrays = promote_args(*operands)
    in_labels, out_labels = _parse(subscripts, [x.shape for x in arrays])
    sizes = _label_sizes(subscripts, in_labels, arrays)

    prepared = [_prepare(x, labels, sizes) for x, labels in zip(arrays, in_labels, strict=True)]
    # Sum each operand's private labels (in no other operand, not in the output) right away.
    for i, (x, labels) in enumerate(prepared):
        elsewhere = set(out_labels).union(*(ls for j, (_, ls) in enumerate(prepared) if j != i))
        prepared[i] = _sum_labels(x, labels, [lab for lab in labels if lab not in elsewhere])

    acc, acc_labels = prepared[0]
    for k in range(1, len(prepared)):
        x, labels = prepared[k]
        needed = set(out_labels).union(*(ls for _, ls in prepared[k + 1 :]))
        shared = [lab for lab in acc_labels if lab in labels]
        batch = [lab for lab in shared if lab in needed]
        contract = [lab for lab in shared if lab not in needed]
        dims = (
            (
                tuple(acc_labels.index(c) for c in contract),
                tuple(labels.index(c) for c in contract),
            ),
            (tuple(acc_labels.index(b) for b in batch), tuple(labels.index(b) for b in batch)),
        )
        acc = lax.dot_general(acc, x, dims)
        acc_labels = (
            batch
            + [lab for lab in acc_labels if lab not in shared]
            + [lab for lab in labels if lab not in shared]
        )
    assert sorted(acc_labels, key=str) == sorted(out_labels, key=str), (acc_labels, out_labels)
    out = lax.transpose(acc, tuple(acc_labels.index(lab) for lab in out_labels))
    if preferred_element_type is not None:
        out = lax.convert_element_type(out, preferred_element_type)
    return out


def _from_interleaved(first: Any, rest: tuple) -> tuple[str, tuple]:
    """``einsum(x, [0, 1], y, [1, 2], [0, 2])`` as ``('AB,BC->AC', (x, y))``."""
    args = (first, *rest)
    operands, sublists = args[0::2], list(args[1::2])
    output = None
    if len(args) % 2:  # the trailing, unpaired sublist is the output
        operands, output = operands[:-1], args[-1]

    def term(sublist: Any) -> str:
        out = []
        for s in sublist:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < 52:
                out.append(string.ascii_uppercase[s] if s < 26 else string.ascii_lowercase[s - 26])
            else:
                raise ValueError(
                    f"einsum: sublist entries must be ints in [0, 52) or Ellipsis, got {s!r} in "
                    f"{list(sublist)}"
                )
        return "".join(out)

    spec = ",".join(term(s) for s in sublists)
    if output is not None:
        spec += "->" + term(output)
    return spec, tuple(operands)


def _check_term(subscripts: str, term: str, what: str) -> tuple[str, bool, str]:
    head, ellipsis, tail = term.partition("...")
    for c in head + tail:
        if c not in _LETTERS:
            fix = (
                "an ellipsis is exactly '...', at most once per term"
                if c == "."
                else "labels are the ASCII letters a-z and A-Z"
            )
            raise ValueError(
                f"einsum: invalid character {c!r} in {what} {term!r} of subscripts "
                f"{subscripts!r}; {fix}"
            )
    return head, bool(ellipsis), tail


def _parse(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[list[Label]], list[Label]]:
    """Labels per operand and for the output. The axes matched by '...' get the labels
    ``0 .. E-1``, aligned from the right across operands (NumPy broadcasting)."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    if "->" in rhs or "-" in lhs or ">" in lhs:
        raise ValueError(
            f"einsum: malformed subscripts {subscripts!r}: '->' may appear once, between the "
            "input terms and the output term"
        )
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s) but "
            f"{len(shapes)} were given (shapes {shapes}); give one comma-separated term per "
            "operand"
        )
    parsed, ellipsis_ranks = [], []
    for i, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
        head, ellipsis, tail = _check_term(subscripts, term, f"term {i}")
        named = len(head) + len(tail)
        if named > len(shape) or (not ellipsis and named != len(shape)):
            raise ShapeError(
                f"einsum: term {i} {term!r} of {subscripts!r} has {named} label(s) but operand "
                f"{i} has shape {shape} ({len(shape)} axes); give one label per axis, or '...' "
                "for the remaining ones"
            )
        parsed.append((head, tail))
        ellipsis_ranks.append(len(shape) - named)
    rank = max(ellipsis_ranks)
    in_labels: list[list[Label]] = [
        [*head, *range(rank - r, rank), *tail]
        for (head, tail), r in zip(parsed, ellipsis_ranks, strict=True)
    ]
    counts = Counter(lab for labels in in_labels for lab in labels if isinstance(lab, str))
    if not arrow:
        return in_labels, [*range(rank), *sorted(lab for lab, n in counts.items() if n == 1)]

    head, ellipsis, tail = _check_term(subscripts, rhs, "output")
    for c, n in Counter(head + tail).items():
        if n > 1:
            raise ValueError(
                f"einsum: output label {c!r} appears {n} times in {subscripts!r}; each output "
                "label may appear once (use a repeated input label for a diagonal)"
            )
        if c not in counts:
            raise ValueError(
                f"einsum: output label {c!r} of {subscripts!r} appears in no input term; "
                "every output label must label an input axis"
            )
    if rank and not ellipsis:
        raise ShapeError(
            f"einsum: '...' matches {rank} axes of the operands (shapes {shapes}) but the "
            f"output {rhs!r} of {subscripts!r} has no '...'; add it to the output, e.g. "
            f"'->...{rhs}'"
        )
    return in_labels, [*head, *(range(rank) if ellipsis else ()), *tail]


def _label_sizes(subscripts: str, in_labels: list[list[Label]], arrays: list[Array]) -> dict:
    """Each label's size; size-1 axes broadcast against it, anything else must agree."""
    sizes: dict[Label, tuple[int, int]] = {}  # label -> (size, operand that set it)
    rank = max(
        (lab + 1 for labels in in_labels for lab in labels if isinstance(lab, int)), default=0
    )
    for i, (labels, x) in enumerate(zip(in_labels, arrays, strict=True)):
        mine: dict[Label, int] = {}
        for lab, d in zip(labels, x.shape, strict=True):
            name = repr(lab) if isinstance(lab, str) else f"'...' axis {lab - rank}"
            if mine.setdefault(lab, d) != d:
                raise ShapeError(
                    f"einsum: label {name} repeats in operand {i} of {subscripts!r} on axes of "
                    f"sizes {mine[lab]} and {d} (shape {x.shape}); a repeated label takes a "
                    "diagonal, which needs equal sizes"
                )
            size, j = sizes.get(lab, (d, i))
            if d != size and 1 not in (d, size):
                raise ShapeError(
                    f"einsum: label {name} of {subscripts!r} has size {size} in operand {j} "
                    f"(shape {arrays[j].shape}) but size {d} in operand {i} (shape {x.shape}); "
                    "the sizes of one label must agree (or be 1, which broadcasts)"
                )
            sizes[lab] = (d, i) if size == 1 else (size, j)
    return {lab: size for lab, (size, _) in sizes.items()}


def _prepare(x: Array, labels: list[Label], sizes: dict) -> tuple[Array, list[Label]]:
    """Take the diagonal of each repeated label and drop size-1 axes that broadcast."""
    labels = list(labels)
    while len(set(labels)) < len(labels):
        lab = next(lab for lab in labels if labels.count(lab) > 1)
        first = labels.index(lab)
        second = labels.index(lab, first + 1)
        x = diagonal(x, 0, first, second)  # the diagonal becomes the last axis
        labels = [v for i, v in enumerate(labels) if i not in (first, second)] + [lab]
    # A size-1 axis meeting a larger one broadcasts: its only entry multiplies every term, so
    # the label can simply be removed from this operand.
    drop = tuple(i for i, lab in enumerate(labels) if x.shape[i] == 1 and sizes[lab] != 1)
    if drop:
        x = lax.squeeze(x, drop)
        labels = [lab for i, lab in enumerate(labels) if i not in drop]
    return x, labels


def _sum_labels(x: Array, labels: list[Label], gone: list[Label]) -> tuple[Array, list[Label]]:
    axes = tuple(labels.index(lab) for lab in gone)
    return sum_axes(x, axes), [lab for lab in labels if lab not in gone]


# ----------------------------------------------------------------------------------------------
# tensordot, inner, outer, vdot, kron


def _axis_list(axes: Any) -> list[int]:
    if isinstance(axes, (int, np.integer)):
        return [operator.index(axes)]
    return [operator.index(a) for a in axes]


def tensordot(
    a: ArrayLike,
    b: ArrayLike,
    axes: int | Sequence[int] | Sequence[Sequence[int]] = 2,
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Sum of products over the given axes, as ``numpy.tensordot``.

    Args:
        a, b: the operands (promoted to one dtype).
        axes: an int N (the last N axes of ``a`` with the first N of ``b``, in order), or a pair
            ``(axes_a, axes_b)`` of ints or equally long sequences, paired up in order.
        precision: accepted for JAX compatibility and ignored.
        preferred_element_type: converts the result.

    Returns:
        ``a``'s remaining axes followed by ``b``'s remaining axes.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import tensordot
        >>> tensordot(vnp.ones((2, 3, 4)), vnp.ones((4, 3, 5)), axes=([1, 2], [1, 0])).shape
        (2, 5)
    """
    a, b = promote_args(a, b)
    if isinstance(axes, (int, np.integer)):
        n = operator.index(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ShapeError(
                f"tensordot: axes={n} needs 0 <= axes <= the rank of both operands, got shapes "
                f"{a.shape} and {b.shape}; pass a smaller count or explicit (axes_a, axes_b)"
            )
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            given_a, given_b = axes
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"tensordot: axes must be an int or a pair (axes_a, axes_b), got {axes!r}"
            ) from err
        axes_a = [normalize_axis("tensordot", i, a.ndim, "axes[0]") for i in _axis_list(given_a)]
        axes_b = [normalize_axis("tensordot", i, b.ndim, "axes[1]") for i in _axis_list(given_b)]
        if len(axes_a) != len(axes_b):
            raise ShapeError(
                f"tensordot: axes {axes!r} pair {len(axes_a)} axes of a (shape {a.shape}) with "
                f"{len(axes_b)} of b (shape {b.shape}); give both sides the same number"
            )
        for name, ax, x in (("axes[0]", axes_a, a), ("axes[1]", axes_b, b)):
            if len(set(ax)) != len(ax):
                raise ShapeError(f"tensordot: {name} {ax} repeats an axis of shape {x.shape}")
    for i, j in zip(axes_a, axes_b, strict=True):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"tensordot: shape-mismatch for sum: axis {i} of a (shape {a.shape}) has size "
                f"{a.shape[i]} but axis {j} of b (shape {b.shape}) has size {b.shape[j]}; "
                "choose axes of equal sizes"
            )
    return lax.dot_general(
        a,
        b,
        ((tuple(axes_a), tuple(axes_b)), ((), ())),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def inner(a: ArrayLike, b: ArrayLike) -> Array:
    """Inner product over the last axes, as ``numpy.inner`` (a scalar operand multiplies).

    Args:
        a, b: arrays whose last axes have one size.

    Returns:
        Shape ``a.shape[:-1] + b.shape[:-1]``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import inner
        >>> inner(vnp.array([1, 2, 3]), vnp.array([0, 1, 0]))
        Array(2, dtype=int32)
    """
    a, b = promote_args(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(
            f"inner: the last axes must have one size, got shapes {a.shape} and {b.shape}; "
            "use tensordot(a, b, axes=(i, j)) to contract other axes"
        )
    return lax.dot_general(a, b, (((a.ndim - 1,), (b.ndim - 1,)), ((), ())))


def outer(a: ArrayLike, b: ArrayLike) -> Array:
    """Outer product of the flattened inputs, as ``numpy.outer``.

    Args:
        a, b: arrays of any shape (flattened).

    Returns:
        Shape ``(a.size, b.size)``: ``out[i, j] = a.ravel()[i] * b.ravel()[j]``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import outer
        >>> outer(vnp.array([1, 2]), vnp.array([1, 10, 100]))
        Array([[  1,  10, 100],
               [  2,  20, 200]], dtype=int32)
    """
    a, b = promote_args(a, b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def _conj(z: Array) -> Array:
    """Complex conjugate (a real operand unchanged)."""
    return conj_p.bind(z) if z.dtype.kind == "c" else z


def vdot(a: ArrayLike, b: ArrayLike) -> Array:
    """Dot product of the flattened inputs, conjugating ``a`` if complex, as ``numpy.vdot``.

    The conjugate is composed from real/imaginary parts (there is no ``conj`` primitive yet):
    exact for finite complex values, but not differentiable for complex inputs.

    Args:
        a, b: arrays with the same number of elements (flattened).

    Returns:
        A scalar: ``sum(conj(a.ravel()) * b.ravel())``.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import vdot
        >>> vdot(vnp.array([[1., 2.], [3., 4.]]), vnp.ones((2, 2)))
        Array(10., dtype=float32)
    """
    a, b = promote_args(a, b)
    if a.size != b.size:
        raise ShapeError(
            f"vdot: the inputs must have the same number of elements, got shapes {a.shape} "
            f"({a.size}) and {b.shape} ({b.size})"
        )
    a, b = _conj(ravel(a)), ravel(b)
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())))


def kron(a: ArrayLike, b: ArrayLike) -> Array:
    """Kronecker product, as ``numpy.kron``: blocks of ``b`` scaled by the entries of ``a``.

    Args:
        a, b: arrays of any rank (the smaller rank is padded with leading size-1 axes).

    Returns:
        Shape ``a.shape[i] * b.shape[i]`` per axis, after padding.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc.numpy.contractions import kron
        >>> kron(vnp.array([1, 10]), vnp.array([1, 2, 3]))
        Array([ 1,  2,  3, 10, 20, 30], dtype=int32)
    """
    a, b = promote_args(a, b)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    # Interleave the axes: a's as (a0, 1, a1, 1, ...), b's as (1, b0, 1, b1, ...).
    wide_a = reshape(a, tuple(d for n in sa for d in (n, 1)))
    wide_b = reshape(b, tuple(d for n in sb for d in (1, n)))
    out = multiply(wide_a, wide_b)
    return reshape(out, tuple(m * n for m, n in zip(sa, sb, strict=True)))
