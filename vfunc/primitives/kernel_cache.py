"""Keep numba's on-disk kernel cache (``cache=True``) from outliving the sources it came from.

Numba checks a cached kernel only against the timestamp of the file that defines it. A kernel
that calls helpers from another module (the conv kernels read ``plan.py``'s tables, the random
kernels call ``special_kernels``' incomplete gamma) keeps its old machine code after only that
other module changes: a checkout that touches ``plan.py`` alone, say, ran the previous layout's
conv kernel and returned a zero input gradient. So every kernel cache of this package is tied to
one stamp of all its sources (path, size, modification time); when the stamp changes, the cached
kernels are dropped and compile afresh. Fused jit kernels key their own cache on their source
and on ``scalar_math``'s version (``transforms/compiler/fusion.py``), so they need no stamp.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP_NAME = "vfunc-kernel-sources.stamp"


def sources_stamp(sources: list[Path]) -> str:
    """A digest of where, how large and how recent every source is (cheap: no file is read)."""
    digest = hashlib.sha1()
    for path in sorted(sources):
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_directory(source: Path) -> Path:
    """Where numba keeps the cache of kernels defined in ``source`` (numba's own choice: a
    ``NUMBA_CACHE_DIR``, the ``__pycache__`` beside the file when writable, else a per-user
    directory)."""
    try:
        from numba.core.caching import CacheImpl

        for locator_class in CacheImpl._locator_classes:
            locator = locator_class.from_function(sources_stamp, str(source))
            if locator is not None:
                return Path(locator.get_cache_path())
    except (ImportError, AttributeError, OSError):  # another numba layout: the usual place
        pass
    return source.parent / "__pycache__"


def drop_stale_kernels(sources: list[Path], cache_dirs: list[Path], stamp_file: Path) -> bool:
    """Delete numba's cached kernels (``*.nbi``, ``*.nbc``) in ``cache_dirs`` unless
    ``stamp_file`` records the current stamp of ``sources``; then record it. Returns whether
    anything was dropped. A concurrent process that loses a file it was reading recompiles
    (numba treats a vanished cache file as a miss)."""
    stamp = sources_stamp(sources)
    try:
        if stamp_file.read_text() == stamp:
            return False
    except OSError:
        pass
    for directory in cache_dirs:
        for pattern in ("*.nbi", "*.nbc"):
            for cached in directory.glob(pattern):
                try:
                    cached.unlink()
                except OSError:
                    pass
    try:
        stamp_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = stamp_file.with_name(f"{stamp_file.name}.{os.getpid()}.tmp")
        scratch.write_text(stamp)
        os.replace(scratch, stamp_file)  # atomic: a reader sees the old stamp or the new one
    except OSError:  # a read-only install: nothing was cached beside it either
        pass
    return True


def guard_package_kernels() -> bool:
    """Apply ``drop_stale_kernels`` to every module of ``vfunc.primitives``; called once as the
    package loads, before any kernel is compiled or loaded."""
    sources = sorted(PACKAGE.rglob("*.py"))
    # numba picks a directory per source folder; one probe per folder (each probe writes a file)
    by_folder = {folder: cache_directory(source)
                 for folder, source in {s.parent: s for s in sources}.items()}  # fmt: skip
    stamp_file = by_folder[PACKAGE] / STAMP_NAME  # this module's folder, probed once above
    return drop_stale_kernels(sources, sorted(set(by_folder.values())), stamp_file)
