"""Training checkpoints: one safetensors file per step, written atomically, the last few kept.

A checkpoint is `<directory>/checkpoint_<step>.safetensors` holding the whole training state
(any pytree: model, optimiser state, PRNG key, ...) under its key paths, with the step and the
user's JSON metadata in the header. The file only gets that name once it is complete and on
disk (`vfunc.io.save`'s temp-file, fsync, rename protocol), so a crash at any moment leaves the
previous checkpoints intact and at most a stray temporary folder, which `latest_step` ignores and
a later `save_checkpoint` removes once its writer process is gone.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import re
import shutil
import sys
from collections.abc import Mapping
from typing import Any

from vfunc.io import format as fmt
from vfunc.io.keys import as_saveable, flatten_keys
from vfunc.io.pytree import PathLike, load

__all__ = ["checkpoint_metadata", "latest_step", "restore_checkpoint", "save_checkpoint"]

_NAME = re.compile(r"checkpoint_(\d+)\.safetensors")
_META_KEY = "vfunc.checkpoint"
_TEMP = re.compile(r"\.checkpoint_\d+\.safetensors\.tmp-(\d+)-[0-9a-f]+")


def _path(directory: PathLike, step: int) -> str:
    return os.path.join(os.fspath(directory), f"checkpoint_{step}.safetensors")


def _check_step(step: Any, op: str) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise TypeError(f"{op}: step must be a non-negative int, got {step!r}")
    return int(step)


def save_checkpoint(
    directory: PathLike,
    step: int,
    state: Any,
    *,
    keep: int | None = 3,
    metadata: Any = None,
) -> str:
    """Save a training state as checkpoint `step` in `directory`, atomically and durably.

    Then removes the checkpoints beyond the `keep` highest steps (never the one just written)
    and temporary files left by writers that crashed.

    Args:
        directory: the checkpoint folder (created if needed).
        step: the training step, a non-negative int; saving a step again replaces it.
        state: the pytree to save (see `vfunc.io.save` for keys and leaves).
        keep: how many checkpoints to keep; None keeps all.
        metadata: anything JSON can encode (a dict of hyperparameters, a loss curve ...),
            returned by `checkpoint_metadata`.

    Returns:
        The path of the checkpoint file.

    Raises:
        TypeError: a bad step or keep, metadata JSON cannot encode, or a bad leaf (as `save`).

    Example:
        >>> import os, tempfile, vfunc.numpy as vnp
        >>> from vfunc import io
        >>> folder = tempfile.mkdtemp()
        >>> for step in range(5):
        ...     _ = io.save_checkpoint(folder, step, {'w': vnp.full(2, step)}, keep=2,
        ...                            metadata={'loss': 1 / (step + 1)})
        >>> io.latest_step(folder), sorted(os.listdir(folder))
        (4, ['checkpoint_3.safetensors', 'checkpoint_4.safetensors'])
        >>> io.restore_checkpoint(folder, like={'w': vnp.zeros(2, 'int32')}, step=3)
        {'w': Array([3, 3], dtype=int32)}
        >>> io.checkpoint_metadata(folder)
        {'loss': 0.2}
    """
    op = "save_checkpoint"
    step = _check_step(step, op)
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise TypeError(f"{op}: keep must be a positive int or None, got {keep!r}")
    try:
        header_info = json.dumps({"step": step, "metadata": metadata}, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{op}: metadata must be JSON-encodable, got {metadata!r:.200} ({err})"
        ) from None
    flat, _, _ = flatten_keys(state, op)
    arrays = {key: as_saveable(key, leaf, op) for key, leaf in flat.items()}
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    path = _path(directory, step)
    fmt.write_file(path, arrays, {_META_KEY: header_info})
    _prune(directory, keep, step)
    return path


def _named_steps(directory: str) -> list[int]:
    """Steps of the files named like checkpoints, ascending (complete or not)."""
    matches = (_NAME.fullmatch(name) for name in fmt.iter_dir(directory))
    return sorted(int(m.group(1)) for m in matches if m)


def _prune(directory: str, keep: int | None, just_saved: int) -> None:
    removed = False
    if keep is not None:
        for step in _named_steps(directory)[:-keep]:
            if step != just_saved:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_path(directory, step))
                removed = True
    for name in fmt.iter_dir(directory):
        m = _TEMP.fullmatch(name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
            removed = True
    if removed:
        fmt.fsync_dir(directory)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _info(path: str) -> dict[str, Any] | None:
    """The checkpoint header record of a complete checkpoint file, else None."""
    try:
        header = fmt.read_header(path)
        info = json.loads(header.metadata[_META_KEY])
    except (OSError, ValueError, KeyError):
        return None
    return info if isinstance(info, dict) and "step" in info else None


def latest_step(directory: PathLike) -> int | None:
    """The highest step with a complete checkpoint in `directory`, or None if there is none.

    Complete means: named as a checkpoint (temporary files never are) and with a valid header
    that accounts for exactly the file's bytes, so even a checkpoint truncated by a copy
    elsewhere is passed over for the one before it.
    """
    directory = os.fspath(directory)
    for step in reversed(_named_steps(directory)):
        if _info(_path(directory, step)) is not None:
            return step
    return None


def _resolve(directory: PathLike, step: int | None, op: str) -> str:
    if step is None:
        step = latest_step(directory)
        if step is None:
            raise FileNotFoundError(f"{op}: no complete checkpoint in {os.fspath(directory)!r}")
    step = _check_step(step, op)
    path = _path(directory, step)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{op}: no checkpoint for step {step} in {os.fspath(directory)!r}; it has steps "
            f"{_named_steps(os.fspath(directory))}"
        )
    return path


def restore_checkpoint(directory: PathLike, like: Any, step: int | None = None) -> Any:
    """Load checkpoint `step` (by default the latest complete one) from `directory`.

    Args:
        directory: the checkpoint folder.
        like: a pytree with the state's structure, shapes and dtypes (as `vfunc.io.load`), or
            None for nested dicts.
        step: which checkpoint; None for `latest_step(directory)`.

    Returns:
        The state, a pytree shaped like `like`.

    Raises:
        FileNotFoundError: there is no (complete) checkpoint of that step.
        FormatError (a ValueError): the checkpoint file is damaged.
        ValueError: it does not fit `like` (one error listing every mismatch).
    """
    return load(_resolve(directory, step, "restore_checkpoint"), like)


def checkpoint_metadata(directory: PathLike, step: int | None = None) -> Any:
    """The `metadata` saved with checkpoint `step` (default: the latest complete one).

    Raises:
        FileNotFoundError: there is no checkpoint of that step.
        FormatError (a ValueError): the file is damaged or not a vfunc checkpoint.
    """
    path = _resolve(directory, step, "checkpoint_metadata")
    record: Mapping[str, Any] | None = _info(path)
    if record is None:
        fmt.read_header(path)  # raises the precise fault of a damaged file
        raise fmt.FormatError(f"{path}: not a vfunc checkpoint (no {_META_KEY!r} metadata)")
    return record["metadata"]
