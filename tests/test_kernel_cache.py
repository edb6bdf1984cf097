"""numba's on-disk kernels are dropped when any source of vfunc.primitives changes (a kernel that
calls into another module would otherwise keep stale machine code: see kernel_cache's docstring)."""

from __future__ import annotations

import os
from pathlib import Path

from vfunc.primitives import kernel_cache


def _package(tmp_path):
    sources = [tmp_path / "kernels.py", tmp_path / "helpers.py"]
    for source in sources:
        source.write_text("x = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    cached = [cache / "kernels.f-10.py311.nbi", cache / "kernels.f-10.py311.1.nbc"]
    return sources, cache, cached


def _fill(cached):
    for path in cached:
        path.write_bytes(b"machine code")


def test_a_change_to_any_source_drops_every_cached_kernel_once(tmp_path):
    sources, cache, cached = _package(tmp_path)
    stamp = cache / kernel_cache.STAMP_NAME
    assert kernel_cache.drop_stale_kernels(sources, [cache], stamp)  # no stamp yet: drop
    _fill(cached)
    assert not kernel_cache.drop_stale_kernels(sources, [cache], stamp)
    assert all(path.exists() for path in cached)  # unchanged sources keep the cache

    # Only the helper module changes (the kernel's own file, which numba checks, does not).
    info = sources[1].stat()
    os.utime(sources[1], ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    assert kernel_cache.drop_stale_kernels(sources, [cache], stamp)
    assert not any(path.exists() for path in cached)
    assert stamp.read_text() == kernel_cache.sources_stamp(sources)
    assert not list(cache.glob("*.tmp"))  # the stamp was replaced atomically


def test_the_package_guard_runs_on_import_and_records_its_stamp():
    import vfunc  # noqa: F401  (importing vfunc.primitives ran the guard)

    sources = sorted(kernel_cache.PACKAGE.rglob("*.py"))
    stamp_file = kernel_cache.cache_directory(Path(kernel_cache.__file__).resolve())
    stamp_file = stamp_file / kernel_cache.STAMP_NAME
    if stamp_file.parent.exists() and os.access(stamp_file.parent, os.W_OK):
        assert stamp_file.read_text() == kernel_cache.sources_stamp(sources)
    assert not kernel_cache.guard_package_kernels()  # nothing changed since the import
