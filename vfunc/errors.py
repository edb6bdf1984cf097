"""Exception types raised by vfunc.

Each one subclasses the builtin exception a user would naturally catch (``ValueError`` for shape
problems, ``TypeError`` for dtype and concretization problems), so ``except ValueError`` in user
code keeps working while tests can match the precise vfunc type.
"""


class VfuncError(Exception):
    """Base class of every error raised by vfunc itself."""


class ShapeError(VfuncError, ValueError):
    """An operation received operands or parameters with incompatible shapes or axes."""


class ShapeTypeError(ShapeError, TypeError):
    """A shape mismatch where JAX raises ``TypeError``: operands that do not broadcast, matrix
    products whose contracted sizes differ, a reshape to another size, a concatenation of
    operands that disagree off its axis.

    Both ``except TypeError`` (code written for JAX) and ``except ValueError`` (code written for
    NumPy, and ``ShapeError``'s other users) catch it.
    """


class DtypeError(VfuncError, TypeError):
    """An operation received an operand whose dtype it does not accept."""


class ConcretizationTypeError(VfuncError, TypeError):
    """A concrete Python value was needed from an abstract (traced) array.

    Raised by ``bool()``, ``int()``, ``float()``, ``np.asarray`` and Python control flow on a value
    that only has a shape and dtype while a function is being staged (``make_jaxpr``, ``jit``).
    """


class TracerArrayConversionError(VfuncError, TypeError):
    """``numpy.asarray`` (or any NumPy function) was applied to a traced array.

    NumPy computes on plain values: under ``grad`` the result would carry no derivative (a silent
    zero gradient), under ``vmap`` it would lose the batch, under ``jit`` there is no value yet.
    As JAX, vfunc refuses; use ``vfunc.numpy``'s function of the same name instead.
    """


class UnexpectedTracerError(VfuncError):
    """A tracer was used after the transformation that created it had finished."""


class NonConcreteBooleanIndexError(VfuncError, IndexError):
    """A boolean mask was used as an index on a traced array (its result shape is unknown)."""
