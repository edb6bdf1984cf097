"""Saving and loading arrays as safetensors files: pytrees, PyTorch state dicts, checkpoints.

safetensors (https://github.com/huggingface/safetensors) is the format PyTorch and Hugging Face
publish weights in: a JSON header and raw little-endian tensor bytes, so loading never runs
code (there is no pickle anywhere in vfunc) and reads can be memory-mapped.

- `save(path, tree)` / `load(path, like=None)`: any pytree, stored under its key paths joined
  with "." (`layers.0.weight`); `open_file(path)` for lazy, memory-mapped access to a few
  tensors; `read_metadata(path)`.
- `save_state_dict(path, model)` / `load_state_dict(model, path, strict=True, map=...)`:
  PyTorch-compatible files both ways, with declarative key mapping rules (`Rename`,
  `StripPrefix`, `Drop`, `Transpose`, `Reshape`, `Split`, `Cast`) and a `MappingReport`.
- `save_checkpoint(directory, step, state)` / `restore_checkpoint(directory, like)` /
  `latest_step(directory)` / `checkpoint_metadata(directory)`: training states, the last few
  kept.

Reliability: every file is written to a temporary file in the same folder, fsynced and renamed
into place, and the folder fsynced, so a crash never leaves a torn file under the final name.
Every header is validated against the file before any tensor is read: a malformed file raises
`FormatError` (a `ValueError`) naming the file and the fault, and loads nothing.

Dtypes: bfloat16 and float16 tensors load as float32 (numpy has no bfloat16); integer and bool
tensors keep their dtypes; 64-bit tensors narrow to 32 bits unless x64 is enabled, as every
vfunc array does. Writing needs the `safetensors` package (`pip install vfunc[io]`), imported
on first use; reading is vfunc's own validated reader and needs nothing beyond numpy.
"""

from vfunc.io.checkpoint import (
    checkpoint_metadata,
    latest_step,
    restore_checkpoint,
    save_checkpoint,
)
from vfunc.io.format import FormatError
from vfunc.io.mapping import (
    Cast,
    Drop,
    MappingReport,
    Rename,
    Reshape,
    Rule,
    Split,
    StripPrefix,
    Transpose,
    load_state_dict,
    save_state_dict,
)
from vfunc.io.pytree import SafetensorsFile, load, open_file, read_metadata, save

__all__ = [
    "Cast", "Drop", "FormatError", "MappingReport", "Rename", "Reshape", "Rule",
    "SafetensorsFile", "Split", "StripPrefix", "Transpose", "checkpoint_metadata",
    "latest_step", "load", "load_state_dict", "open_file", "read_metadata", "restore_checkpoint",
    "save", "save_checkpoint", "save_state_dict",
]  # fmt: skip
