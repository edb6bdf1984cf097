"""A first tour of vfunc: eager arrays, dtype rules, jaxprs, pytrees, grad, vmap and jit.

Run: python examples/quickstart.py
"""

from dataclasses import dataclass

import vfunc
import vfunc.numpy as vnp
from vfunc import tree


def main() -> None:
    # Eager arrays: NumPy's API, immutable results, JAX's dtype rules.
    x = vnp.linspace(-1.0, 1.0, 5)
    print("x           =", x)
    print("x * 2       =", x * 2)  # a Python scalar keeps x's float32
    print("tanh(x).sum =", vnp.tanh(x).sum())
    m = vnp.arange(6).reshape(2, 3)
    print("m @ m.T     =", (m @ m.T).tolist())
    try:
        m[0] = 1
    except TypeError as err:
        print("immutable   :", err)

    # Staging: the program a function computes, printed like jax.make_jaxpr.
    def predict(params, inputs):
        hidden = vnp.tanh(inputs @ params["w1"] + params["b1"])
        return vnp.mean(hidden @ params["w2"], axis=0)

    params = {
        "w1": vnp.ones((4, 8)) * 0.1,
        "b1": vnp.zeros(8),
        "w2": vnp.ones((8, 2)),
    }
    inputs = vnp.ones((16, 4))
    print(vfunc.make_jaxpr(predict)(params, inputs))
    print("output shape:", vfunc.eval_shape(predict, params, inputs))
    print("predict     =", predict(params, inputs))

    # Pytrees: models are plain containers of arrays.
    @tree.register_dataclass
    @dataclass(frozen=True)
    class Linear:
        weight: vfunc.Array
        bias: vfunc.Array

    layer = Linear(vnp.ones((2, 3)), vnp.zeros(2))
    scaled = tree.map(lambda leaf: leaf * 0.5, layer)
    print("leaves      :", [leaf.shape for leaf in tree.leaves(scaled)])
    print("total       :", tree.reduce(lambda acc, leaf: acc + leaf.sum(), scaled, 0.0))

    # Transformations compose: gradients of a pytree model, per-example gradients, Hessians.
    targets = vnp.ones((16, 2))

    def loss(params, inputs, targets):
        return vnp.mean((predict(params, inputs) - targets) ** 2)

    grads = vfunc.grad(loss)(params, inputs, targets)
    print("grad shapes :", tree.map(lambda g: g.shape, grads))
    per_example = vfunc.vmap(vfunc.grad(loss), in_axes=(None, 0, 0))(
        params, inputs[:, None], targets[:, None]
    )
    print("per-example :", per_example["w1"].shape)
    print("hessian     =", vfunc.hessian(lambda v: (vnp.sin(v) * v).sum())(vnp.ones(2)))

    # jit: the gradient compiled once per input signature; its generated code is readable.
    fast_grad = vfunc.jit(vfunc.grad(loss))
    same = tree.map(
        lambda a, b: bool(vnp.allclose(a, b)), fast_grad(params, inputs, targets), grads
    )
    print("jit(grad)   :", same)
    print(fast_grad.lower(params, inputs, targets).compile().as_text())


if __name__ == "__main__":
    main()
