"""Training speed of the examples' two models, vfunc against PyTorch eager, one run (issue 19).

- the digits CNN of ``examples/train_digits.py`` (Conv-BatchNorm-ReLU-MaxPool twice, Dropout,
  Linear) on scikit-learn's digits: one epoch is 21 steps of batch 64 with
  AdamW, BatchNorm in training mode and Dropout on;
- the character-level LSTM of ``examples/05_char_lm.ipynb`` (Embedding(96, 32), LSTM(32, 128),
  Linear(128, 96)): one "epoch" is 50 steps of 32 windows of 64 characters, Adam after
  global-norm clipping.

Each framework runs in its own subprocess (so neither's threads idle on the cores the other
needs) on the same batches; vfunc's step is one ``jit``-compiled call (forward, backward,
optimiser, BatchNorm statistics), PyTorch's the usual ``zero_grad / backward / step``. Times are
the best of three epochs after a warm-up epoch (so vfunc's one-off compilation is excluded; it
is reported separately). Target: at most 1.0x PyTorch's time.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. /work/scratch/bin/python \
        benchmarks/bench_examples.py

PyTorch's row appears when torch is importable (the scratch environment; never a vfunc
dependency). Without scikit-learn the digits are replaced by random images of the same shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

BATCH_CNN, STEPS_CNN = 64, 21
BATCH_LM, CONTEXT, VOCAB, STEPS_LM = 32, 64, 96, 50
EPOCHS = 3


def digits_batches() -> tuple[np.ndarray, np.ndarray]:
    """(STEPS_CNN, 64, 1, 8, 8) standardised images and (STEPS_CNN, 64) labels."""
    try:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.images.astype(np.float32)[:, None] / 16.0, digits.target.astype(np.int64)
    except ImportError:
        rng = np.random.default_rng(0)
        x, y = rng.random((1797, 1, 8, 8), np.float32), rng.integers(0, 10, 1797)
    order = np.random.default_rng(0).permutation(len(x))[: STEPS_CNN * BATCH_CNN]
    x = (x - x.mean()) / x.std()
    return (x[order].reshape(STEPS_CNN, BATCH_CNN, 1, 8, 8),
            y[order].reshape(STEPS_CNN, BATCH_CNN))


def text_batches() -> tuple[np.ndarray, np.ndarray]:
    """(STEPS_LM, 32, 64) input characters and the next characters (a fixed random text: the
    speed does not depend on what the characters are)."""
    rng = np.random.default_rng(1)
    chunk = rng.integers(0, VOCAB, (STEPS_LM, BATCH_LM, CONTEXT + 1))
    return chunk[..., :-1], chunk[..., 1:]


def epoch_times(run_epoch) -> tuple[float, float]:
    """(first epoch, best of the next EPOCHS) in seconds."""
    start = time.perf_counter()
    run_epoch()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(EPOCHS):
        start = time.perf_counter()
        run_epoch()
        best = min(best, time.perf_counter() - start)
    return first, best


def run_torch() -> dict:
    import torch
    from torch import nn

    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(256, 10))
    opt = torch.optim.AdamW(cnn.parameters(), lr=1e-3, weight_decay=1e-3)
    xs, ys = (torch.from_numpy(a) for a in digits_batches())

    def cnn_epoch():
        for x, y in zip(xs, ys, strict=True):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(cnn(x), y)
            loss.backward()
            opt.step()
        return float(loss)

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, 32)
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, VOCAB)

        def forward(self, tokens):
            return self.head(self.lstm(self.embed(tokens))[0])

    lm = CharLSTM()
    lm_opt = torch.optim.Adam(lm.parameters(), lr=1e-3)
    ts, targets = (torch.from_numpy(a) for a in text_batches())

    def lm_epoch():
        for x, y in zip(ts, targets, strict=True):
            lm_opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(lm(x).reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
            lm_opt.step()
        return float(loss)

    return {"cnn": epoch_times(cnn_epoch), "lstm": epoch_times(lm_epoch),
            "threads": torch.get_num_threads()}


def run_vfunc() -> dict:
    import vfunc
    from vfunc import losses, nn, optim, random

    class DigitsCNN(nn.Module):  # examples/train_digits.py's model
        features: nn.Sequential
        classifier: nn.Sequential

        def __init__(self, key):
            k1, k2, k3 = random.split(key, 3)
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1, key=k1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1, key=k2), nn.BatchNorm2d(64), nn.ReLU(),
                nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3),
                                            nn.Linear(256, 10, key=k3))

        def __call__(self, x, *, key=None):
            return self.classifier(self.features(x), key=key)

    class CharLSTM(nn.Module):  # examples/05_char_lm.ipynb's model
        embed: nn.Embedding
        lstm: nn.LSTM
        head: nn.Linear

        def __init__(self, key):
            k1, k2, k3 = random.split(key, 3)
            self.embed = nn.Embedding(VOCAB, 32, key=k1)
            self.lstm = nn.LSTM(32, 128, batch_first=True, key=k2)
            self.head = nn.Linear(128, VOCAB, key=k3)

        def __call__(self, tokens):
            return self.head(self.lstm(self.embed(tokens))[0])

    def make_step(optimizer, loss_of, stateful):
        @vfunc.jit
        def step(model, opt_state, x, y, key):
            def loss_fn(model):
                if stateful:
                    logits, bn_state = nn.call_with_state(model, x, key=key)
                else:
                    logits, bn_state = model(x), {}
                return loss_of(logits, y), bn_state

            (loss, bn_state), grads = vfunc.value_and_grad(loss_fn, has_aux=True)(model)
            updates, opt_state = optimizer.update(grads, opt_state, model)
            model = optim.apply_updates(model, updates)
            if stateful:
                model = nn.load_state_dict(model, bn_state, strict=False)
            return model, opt_state, loss

        return step

    def cross_entropy(logits, y):
        return losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    results = {}
    for name, model, optimizer, (xs, ys), stateful in [
        ("cnn", DigitsCNN(random.key(0)), optim.adamw(1e-3, weight_decay=1e-3),
         digits_batches(), True),
        ("lstm", CharLSTM(random.key(0)),
         optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)), text_batches(), False),
    ]:
        ys = ys.astype(np.int32)
        step = make_step(optimizer, cross_entropy, stateful)
        state = {"model": model, "opt": optimizer.init(model), "key": random.key(1)}

        def run_epoch(state=state, step=step, xs=xs, ys=ys):
            for x, y in zip(xs, ys, strict=True):
                state["key"], sub = random.split(state["key"])
                state["model"], state["opt"], loss = step(state["model"], state["opt"], x, y, sub)
            return float(loss)

        results[name] = epoch_times(run_epoch)
    return results


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run_torch() if sys.argv[1] == "torch" else run_vfunc()))
        return
    results = {}
    for fw in ("vfunc", "torch"):
        if fw == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                print("torch is not importable: vfunc's figures only")
                results[fw] = None
                continue
        proc = subprocess.run([sys.executable, __file__, fw], capture_output=True, text=True,
                              check=False)
        if proc.returncode:
            print(f"{fw} failed:\n{proc.stderr[-3000:]}")
            results[fw] = None
            continue
        results[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    v, t = results["vfunc"], results["torch"]
    print(f"{'model':12s} {'vfunc ms/epoch':>15s} {'torch ms/epoch':>15s} {'ratio':>7s}"
          f" {'vfunc first epoch (compile)':>28s}")
    for name, label in (("cnn", "digits CNN"), ("lstm", "char-LSTM")):
        vt = v[name][1] * 1e3 if v else float("nan")
        tt = t[name][1] * 1e3 if t else float("nan")
        first = v[name][0] * 1e3 if v else float("nan")
        print(f"{label:12s} {vt:15.1f} {tt:15.1f} {vt / tt:6.2f}x {first:28.1f}")
    if t:
        print(f"torch threads: {t['threads']}")


if __name__ == "__main__":
    main()
