"""The interpreters: reverse and forward mode (``ad``), ``batching`` (vmap), ``staging`` (jaxprs),
``jit`` and its ``compiler``, ``jacobians``, and user-defined rules as primitives (``custom``,
``custom_rules``). They find every rule through the primitive registry; the public functions
are re-exported by ``vfunc``.

A regular package (not a namespace one), so each module is imported once under its full name,
also by the doctest collector: ``custom_rules`` declares primitives, which must register once.
"""
