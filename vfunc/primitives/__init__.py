"""The primitive registry: importing this package declares every primitive.

Each family module declares its primitives once, with impl, shape rule and room for the
differentiation and batching rules; ``vfunc.core.registry`` maps names to them.
"""

from vfunc.core import registry
# builders first: the family modules' rules import it, and it imports the families it needs
from vfunc.primitives import (  # noqa: F401  (importing declares the primitives)
    builders,
    conv,
    decompositions,
    elementwise,
    indexing,
    linalg,
    random,
    reduction,
    shape,
    sorting,
    window,
)

__all__ = ["registry"]
