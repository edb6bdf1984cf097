"""Independent float64/plain-Python references the tests compare vfunc against (no vfunc
imports): ``conv`` (convolution and windowed reductions) and ``random`` (Threefry-2x32 and the
samplers built on its bits)."""
