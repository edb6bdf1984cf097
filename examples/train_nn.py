"""Training a PyTorch-style model with vfunc.nn: BatchNorm and Dropout, one jitted call a step.

The model is written as in PyTorch (an ``__init__`` building layers, a ``__call__`` using them);
it is a pytree, so ``vfunc.value_and_grad`` and ``vfunc.jit`` take it as is. BatchNorm's running
statistics come out of ``nn.call_with_state`` and are written back after the parameter update
(see ``vfunc.nn.module`` for why), Dropout takes a fresh key each step, and evaluation switches
both with ``nn.inference_mode``. Finally the weights round-trip through a PyTorch-keyed state
dict.

Run: python examples/train_nn.py
"""

import numpy as np

import vfunc
import vfunc.numpy as vnp
from vfunc import losses, nn, random


class Net(nn.Module):
    features: nn.Sequential
    head: nn.Sequential

    def __init__(self, *, key):
        k1, k2, k3 = random.split(key, 3)
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, key=k1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * 4 * 4, 32, key=k2), nn.ReLU(),
            nn.Linear(32, 2, key=k3))

    def __call__(self, x, *, key=None):
        return self.head(self.features(x), key=key)


def data(n, seed):
    """Images with a bright top half (class 0) or bottom half (class 1), plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.5
    x[y == 0, :, :4] += 1.0
    x[y == 1, :, 4:] += 1.0
    return vnp.asarray(x), vnp.asarray(y.astype(np.int32))


def main() -> None:
    model = Net(key=random.key(0))
    print(model)
    print("parameters:", nn.count_params(model))

    def loss_fn(model, x, y, key):
        logits, state = nn.call_with_state(model, x, key=key)
        return losses.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state

    @vfunc.jit
    def step(model, x, y, key):
        (loss, state), grads = vfunc.value_and_grad(loss_fn, has_aux=True)(model, x, y, key)
        model = vfunc.tree.map(lambda p, g: p - 0.1 * g, model, grads)
        return nn.load_state_dict(model, state, strict=False), loss

    x, y = data(256, seed=0)
    key = random.key(1)
    for epoch in range(20):
        key, sub = random.split(key)
        model, loss = step(model, x, y, sub)
        if epoch % 5 == 4:
            print(f"step {epoch + 1:2d}  loss {float(loss):.4f}")

    evaluate = vfunc.jit(lambda m, x: vnp.argmax(m(x), axis=-1))
    x_test, y_test = data(256, seed=1)
    accuracy = float(vnp.mean(evaluate(nn.inference_mode(model), x_test) == y_test))
    print(f"test accuracy {accuracy:.3f}")

    sd = nn.state_dict(model)  # PyTorch's keys: features.0.weight, features.1.running_mean, ...
    print("state dict keys:", list(sd)[:5], "...")
    restored = nn.load_state_dict(Net(key=random.key(9)), sd)
    same = evaluate(nn.inference_mode(restored), x_test) == evaluate(nn.inference_mode(model),
                                                                     x_test)
    print("restored model agrees:", bool(vnp.all(same)))


if __name__ == "__main__":
    main()
