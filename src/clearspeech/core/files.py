"""Filesystem helpers: atomic writes and file hashing.

Every output of the pipeline goes through :func:`atomic_path` so that a killed stage never
leaves a half-written file behind under its final name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` only on success.

    The temporary file lives in the same directory so that the final ``os.replace`` is atomic.
    ``suffix`` keeps an extension that writers such as soundfile use to pick the format.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    tmp_path = Path(tmp)
    try:
        os.fchmod(fd, _new_file_mode(dest))  # mkstemp makes 0600: others could not read the output
        os.close(fd)
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def _new_file_mode(dest: Path) -> int:
    """An existing ``dest``'s permission bits, else what ``open`` would give a new file (umask)."""
    try:
        return stat.S_IMODE(dest.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_failure(folder: Path, err: BaseException) -> str:
    """Why writing into ``folder`` failed, in words: a full or read-only file system names its mount."""
    mount = folder.resolve()
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    code = getattr(err, "errno", None)
    try:
        info = os.statvfs(folder)
    except OSError:
        info = None
    if code == errno.EROFS or (info is not None and info.f_flag & os.ST_RDONLY):
        return f"read-only file system {mount}"
    if code in (errno.ENOSPC, errno.EDQUOT) or (info is not None and info.f_bavail * info.f_frsize < 1 << 20):
        return f"no space left on {mount}"
    return getattr(err, "strerror", None) or str(err)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory beside ``dest``; it replaces ``dest`` only on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield staging
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text_atomic(dest: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``dest`` through a temporary file."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
