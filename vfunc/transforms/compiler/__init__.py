"""The jit compiler: jaxpr passes, Python code generation and numba elementwise fusion."""
