"""The jit compiler: jaxpr passes, Python code generation and numba elementwise fusion."""

from vfunc.transforms.compiler import cache, codegen

# The code generator compiles call equations' sub-jaxprs through the cache, which compiles
# with the generator: wired here, so that the generator imports the cache and not the reverse.
cache.install_codegen(codegen)
