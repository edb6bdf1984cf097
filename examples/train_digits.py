"""Train a small CNN on scikit-learn's handwritten digits with vfunc, end to end.

The data are the 1,797 real 8x8 scans that ship inside scikit-learn (``load_digits``; nothing is
downloaded). The model is PyTorch-style ``vfunc.nn`` (Conv-BatchNorm-ReLU-MaxPool twice, Dropout,
Linear), the optimiser is ``vfunc.optim.adamw`` on a warmup-cosine schedule, and each training
step is ONE ``vfunc.jit``-compiled call: forward, backward, optimiser update and BatchNorm's
running statistics together.

Run:  python examples/train_digits.py            (test accuracy 99.3%; under a minute on 2
                                                  cores, numba's one-off kernel compile included)
      python examples/train_digits.py --resume   (continue from the last checkpoint)
      mpiexec -n 2 python examples/train_digits.py   (the same run, data-parallel over 2
                                                  processes: needs pip install 'vfunc[distributed]')

It writes to ``--out`` (default ``runs/digits/``): ``checkpoint_<step>.safetensors`` (the last
three are kept) and ``digits.png`` (loss/accuracy curves and the misclassified test digits).

The training state, and why it looks like this
----------------------------------------------
vfunc is functional: nothing is mutated, every step takes the state in and hands a new one out.
The whole state of a run is one pytree, ``{'model': ..., 'opt_state': ..., 'key': ...}``:

- ``model`` is an ``nn.Module``, itself a pytree. Its leaves are the parameters AND BatchNorm's
  running statistics (buffers, as in PyTorch, so ``nn.state_dict`` has PyTorch's keys).
  In training mode BatchNorm normalises with the batch statistics and *reports* its updated
  running statistics to ``nn.call_with_state``, which returns them beside the output. The step
  applies the optimiser to the model and then writes those statistics back with
  ``nn.load_state_dict(model, bn_state, strict=False)``, so weight decay never touches them.
- ``opt_state`` is AdamW's state (moments and the step count, which drives the schedule).
- ``key`` is a ``vfunc.random`` key. Every random choice (the epoch's shuffle, each step's
  Dropout masks) comes from splitting it, so the run is reproducible from one seed.

All three go into the checkpoint, with the step number; the epoch and the curves so far go in
its JSON metadata with the run's flags. ``--resume`` restores them, and an interrupted run
resumed with the same flags ends exactly (bit for bit) where the uninterrupted run would have.
(``--epochs`` may change on resume, which stretches the learning-rate schedule; the flags that
define the data and the schedule's peak may not.)

Under ``mpiexec -n N`` (``vfunc.distributed``)
----------------------------------------------
Started by ``mpiexec``, every process runs this same script on the same data and the same
shuffle; each step, each process differentiates on its 1/N of the batch, and
``DataParallel.mean_gradients`` averages the gradients (and BatchNorm's running statistics)
across the processes in large flat buckets, bit-identically, so every process applies the same
update and the models stay identical (checked every epoch). ``--batch-size`` stays the global
batch. Rank 0 alone shows progress and writes the checkpoints and the PNG; every process prints
the final test accuracy (the same). Alone, the script never imports MPI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import vfunc
import vfunc.numpy as vnp
from vfunc import distributed, io, losses, nn, optim, random


class DigitsCNN(nn.Module):
    """(N, 1, 8, 8) images -> (N, 10) logits. Written as in PyTorch: layers built in
    ``__init__``, used in ``__call__``; the model is a pytree, so jit and grad take it as is."""

    features: nn.Sequential
    classifier: nn.Sequential

    def __init__(self, *, key: random.PRNGKeyArray):
        k1, k2, k3 = random.split(key, 3)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, key=k1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(32, 64, 3, padding=1, key=k2), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 2 * 2, 10, key=k3))

    def __call__(self, x: vfunc.Array, *, key: random.PRNGKeyArray | None = None):
        # Dropout needs a key in training mode; Sequential hands it to the layers that take one.
        return self.classifier(self.features(x), key=key)


def load_data(seed: int, limit: int | None = None) -> tuple[np.ndarray, ...]:
    """scikit-learn's digits as float32 (N, 1, 8, 8) images, standardised with the training
    set's statistics, and int32 labels: ``x_train, y_train, x_test, y_test`` from a fixed,
    stratified 75/25 split (450 test images)."""
    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None] / 16.0  # pixels are 0..16
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int32), test_size=0.25, stratify=digits.target,
        random_state=seed)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def make_optimizer(steps: int, peak_lr: float) -> optim.GradientTransformation:
    """AdamW on a schedule warming up linearly over the first tenth of ``steps``, then cosine."""
    schedule = optim.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak_lr, warmup_steps=max(1, steps // 10), decay_steps=steps,
        end_value=peak_lr / 100)
    # Decay the conv and linear weights only, not biases or BatchNorm's scales and shifts.
    return optim.adamw(schedule, weight_decay=1e-3,
                       mask=lambda params: vfunc.tree.map(lambda p: p.ndim > 1, params))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first LIMIT training images only (quick checks)")
    parser.add_argument("--out", default=os.path.join("runs", "digits"),
                        help="folder for checkpoints and the PNG")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last checkpoint in --out")
    args = parser.parse_args(argv)

    dp = None  # alone; under mpiexec -n N, the process group's data-parallel helper
    if distributed.launched_processes() > 1:
        distributed.initialize()
        dp = distributed.DataParallel()
        if args.batch_size % dp.size:
            parser.error(f"--batch-size {args.batch_size} must divide among {dp.size} processes")
    lead = dp is None or dp.rank == 0  # shows progress, writes the files

    config = {k: getattr(args, k) for k in ("batch_size", "lr", "seed", "limit")}
    x_train, y_train, x_test, y_test = load_data(args.seed, args.limit)
    steps_per_epoch = len(x_train) // args.batch_size  # the last partial batch is dropped,
    if steps_per_epoch == 0:                            # so every step has one shape: one compile
        parser.error(f"--limit {args.limit} leaves fewer images than one batch")
    total_steps = args.epochs * steps_per_epoch
    optimizer = make_optimizer(total_steps, args.lr)

    init_key, key = random.split(random.key(args.seed))
    model = DigitsCNN(key=init_key)
    state = {"model": model, "opt_state": optimizer.init(model), "key": key}
    history = {"train_loss": [], "train_acc": [], "test_acc": []}
    epoch = 0
    if args.resume and io.latest_step(args.out) is not None:
        # The fresh state is the template: it gives the restored tree its structure and dtypes.
        state = io.restore_checkpoint(args.out, like=state)
        meta = io.checkpoint_metadata(args.out)
        if meta["config"] != config:
            parser.error(f"--resume: the checkpoint in {args.out} was trained with {meta['config']}"
                         f", not {config}; pass the same flags, or another --out to start afresh")
        epoch, history = meta["epoch"], meta["history"]
        if lead:
            print(f"resumed from {args.out} at epoch {epoch} (step {io.latest_step(args.out)})")
    elif args.resume and lead:
        print(f"no checkpoint in {args.out}: starting afresh")

    if lead:
        print(f"{nn.count_params(model):,} parameters; {len(x_train)} training and {len(x_test)} "
              f"test images; {args.epochs} epochs of {steps_per_epoch} steps"
              + (f", data-parallel over {dp.size} processes" if dp else ""))

    def gradients(model, x, y, key):
        """Forward in training mode and backward: the gradients, BatchNorm's statistics, the
        batch's loss and accuracy."""

        def loss_fn(model):
            logits, bn_state = nn.call_with_state(model, x, key=key)
            loss = losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, (bn_state, logits)

        (loss, (bn_state, logits)), grads = vfunc.value_and_grad(loss_fn, has_aux=True)(model)
        return grads, bn_state, loss, vnp.mean(vnp.argmax(logits, axis=-1) == y)

    def update(model, opt_state, grads, bn_state):
        """AdamW, then BatchNorm's statistics written back."""
        updates, opt_state = optimizer.update(grads, opt_state, model)
        model = optim.apply_updates(model, updates)
        model = nn.load_state_dict(model, bn_state, strict=False)  # after the update: see above
        return model, opt_state

    @vfunc.jit
    def train_step(model, opt_state, x, y, key):
        """One step: forward in training mode, backward, AdamW, BatchNorm statistics."""
        grads, bn_state, loss, accuracy = gradients(model, x, y, key)
        model, opt_state = update(model, opt_state, grads, bn_state)
        return model, opt_state, loss, accuracy

    if dp is not None:  # the step in two compiled halves, the processes' average between them
        state = dp.replicate(state)
        local_gradients, compiled_update = vfunc.jit(gradients), vfunc.jit(update)

        def train_step(model, opt_state, x, y, key):  # noqa: F811 (the data-parallel step)
            # This process's rows of the global batch, and its own Dropout masks.
            grads, bn_state, loss, accuracy = local_gradients(
                model, dp.shard(x), dp.shard(y), random.fold_in(key, dp.rank))
            grads, bn_state = dp.mean_gradients((grads, bn_state))  # one bucket here
            model, opt_state = compiled_update(model, opt_state, grads, bn_state)
            return model, opt_state, loss, accuracy

    @vfunc.jit
    def predict(model, x):
        return vnp.argmax(nn.inference_mode(model)(x), axis=-1)

    # The first call traces and compiles train_step (numba kernels are cached on disk, so a
    # second run starts faster); later calls with the same shapes reuse the compiled code.
    start = time.perf_counter()
    with tqdm(total=total_steps, initial=epoch * steps_per_epoch, unit="step",
              disable=not lead) as bar:
        while epoch < args.epochs:
            key, shuffle_key = random.split(state["key"])
            order = np.asarray(random.permutation(shuffle_key, len(x_train)))
            model, opt_state = state["model"], state["opt_state"]
            loss_sum = acc_sum = 0.0
            for i in range(steps_per_epoch):
                idx = order[i * args.batch_size:(i + 1) * args.batch_size]
                key, dropout_key = random.split(key)
                model, opt_state, loss, acc = train_step(
                    model, opt_state, x_train[idx], y_train[idx], dropout_key)
                loss_sum, acc_sum = loss_sum + float(loss), acc_sum + float(acc)
                bar.update()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / (i + 1):.3f}",
                                acc=f"{acc_sum / (i + 1):.3f}")
            epoch += 1
            state = {"model": model, "opt_state": opt_state, "key": key}
            if dp is not None:  # the epoch's loss and accuracy over every process's rows
                dp.check_identical(state)
                sums = dp.comm.allreduce(np.array([loss_sum, acc_sum]), "sum")
                loss_sum, acc_sum = sums / dp.size
            test_acc = float(vnp.mean(predict(model, x_test) == y_test))
            history["train_loss"].append(loss_sum / steps_per_epoch)
            history["train_acc"].append(acc_sum / steps_per_epoch)
            history["test_acc"].append(test_acc)
            bar.set_postfix(epoch=epoch, loss=f"{history['train_loss'][-1]:.3f}",
                            acc=f"{history['train_acc'][-1]:.3f}", test_acc=f"{test_acc:.3f}")
            save = io.save_checkpoint if dp is None else dp.save_checkpoint  # rank 0 writes
            save(args.out, epoch * steps_per_epoch, state,
                 metadata={"epoch": epoch, "history": history, "config": config})

    predictions = np.asarray(predict(state["model"], x_test))
    test_acc = float(np.mean(predictions == y_test))
    who = f"rank {dp.rank} of {dp.size}: " if dp else ""
    # One write, so the processes' lines do not interleave.
    sys.stdout.write(f"{who}test accuracy {test_acc:.4f} ({int(np.sum(predictions != y_test))} "
                     f"of {len(y_test)} wrong) after {epoch} epochs; training took "
                     f"{time.perf_counter() - start:.1f} s\n")
    sys.stdout.flush()
    if lead:
        png = plot(history, x_test, y_test, predictions, os.path.join(args.out, "digits.png"))
        print(f"saved {png} and checkpoint step {io.latest_step(args.out)} in {args.out}")
    return test_acc


def plot(history, x_test, y_test, predictions, path: str) -> str:
    """Loss and accuracy per epoch, and the misclassified test digits (true -> predicted)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")  # write files only: no display needed
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 6.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.4, 1])
    ax_loss, ax_acc = top.subplots(1, 2)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax_loss.plot(epochs, history["train_loss"], marker=".")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="training loss", yscale="log")
    ax_acc.plot(epochs, history["train_acc"], marker=".", label="train (dropout on)")
    ax_acc.plot(epochs, history["test_acc"], marker=".", label="test")
    zoom = history["test_acc"][-1] > 0.9  # zoom on the last percents once they matter
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.8 if zoom else 0, 1))
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))

    wrong = np.flatnonzero(predictions != y_test)[:20]
    bottom.suptitle(f"misclassified test digits: {np.sum(predictions != y_test)} of "
                    f"{len(y_test)} (true -> predicted)")
    cells = bottom.subplots(2, 10)
    for ax, i in zip(cells.flat, wrong, strict=False):
        ax.imshow(x_test[i, 0], cmap="gray_r")
        ax.set_title(f"{y_test[i]} -> {predictions[i]}", color="tab:red")
    for ax in cells.flat:
        ax.axis("off")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
