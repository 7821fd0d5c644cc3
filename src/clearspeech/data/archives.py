"""Safe, all-or-nothing extraction of selected members from tar and zip archives.

Archives come from the network, so every member is checked before anything is trusted: no
absolute paths, no ``..``, no Windows drive or backslash names, no links, devices or fifos.
Selected files are written to a staging directory beside the destination and only moved into
it once the whole archive has been read, so a bad or truncated archive adds nothing.
"""

from __future__ import annotations

import contextlib
import logging
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from clearspeech.core.errors import UserError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# What the decompressors and archive readers raise for damaged or truncated input.
_CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)

Select = Callable[[str], str | None]


class ArchiveError(UserError, ValueError):
    """An archive that cannot be extracted; the message names the archive."""


class UnsafeArchiveError(ArchiveError):
    """An archive member (or selected output path) that could escape or subvert the destination."""


def extract_members(archive: Path, dest: Path, select: Select) -> list[Path]:
    """Extract the members for which select(member_name) returns a relative output path.

    Each one goes to dest/<that path>. Works for .tar, .tar.gz, .tar.bz2 (tarfile
    auto-detect) and .zip. Returns the written paths, sorted.

    Only regular files are offered to ``select``. Every member is validated, selected or not;
    an unsafe one raises :class:`UnsafeArchiveError`, a damaged archive :class:`ArchiveError`,
    and in either case ``dest`` gains nothing. Files already in ``dest`` are kept, except
    those that an extracted file replaces.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Staging beside dest keeps the final os.replace calls on one filesystem.
    staging_dir = tempfile.TemporaryDirectory(
        prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent
    )
    with staging_dir as tmp:
        staging = Path(tmp)
        with _reading(archive):
            if archive.suffix.lower() == ".zip" or zipfile.is_zipfile(archive):
                outputs = _extract_zip(archive, staging, select)
            else:
                outputs = _extract_tar(archive, staging, select)
        written = [_move_into(staging, dest, relative) for relative in outputs]
    log.info("extracted %d files from %s into %s", len(written), archive, dest)
    return sorted(written)


@contextlib.contextmanager
def _reading(archive: Path) -> Iterator[None]:
    """Turn the readers' errors for damaged input into ArchiveError naming the archive."""
    try:
        yield
    except _CORRUPT_ERRORS as err:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({err})") from err
    except OSError as err:
        # bz2 and gzip report bad data as an OSError without errno; disk errors carry one.
        if err.errno is not None:
            raise
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({err})") from err


def _unsafe_name(name: str) -> str | None:
    """Why a member or output path could land outside the destination, or None if it cannot."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' component"
    return None


def _check_name(archive: Path, name: str, label: str = "") -> None:
    """Raise UnsafeArchiveError when ``name`` is not a plain relative path."""
    reason = _unsafe_name(name)
    if reason is not None:
        raise UnsafeArchiveError(f"{archive}: {label or f'member {name!r}'} is unsafe ({reason})")


def _output_path(archive: Path, member: str, select: Select, taken: dict[str, str]) -> str | None:
    """The validated relative output path that select picks for a member, or None."""
    relative = select(member)
    if relative is None:
        return None
    label = f"output path {relative!r} selected for member {member!r}"
    _check_name(archive, relative, label)
    if not PurePosixPath(relative).parts:
        raise UnsafeArchiveError(f"{archive}: {label} is unsafe (names no file)")
    normal = PurePosixPath(relative).as_posix()
    if normal in taken:
        first = taken[normal]
        raise ArchiveError(f"{archive}: members {first!r} and {member!r} both map to {normal!r}")
    taken[normal] = member
    return normal


def _extract_tar(archive: Path, staging: Path, select: Select) -> list[str]:
    """Validate every member and stream the selected files out, in one pass over the archive."""
    outputs: dict[str, str] = {}
    # Stream mode ("r|*") reads the compressed file once, front to back, and never seeks.
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            _check_tar_member(archive, member, staging)
            if member.isdir():
                continue
            relative = _output_path(archive, member.name, select, outputs)
            if relative is not None:
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has a body
                _copy(source, staging / relative)
    return list(outputs)


def _check_tar_member(archive: Path, member: tarfile.TarInfo, staging: Path) -> None:
    """Reject unsafe names and anything but regular files and directories."""
    _check_name(archive, member.name)
    if not (member.isreg() or member.isdir()):
        raise _not_a_file(archive, member.name, is_link=member.issym() or member.islnk())
    try:
        # Defence in depth: the standard library's own policy for untrusted archives.
        tarfile.data_filter(member, str(staging))
    except tarfile.FilterError as err:
        raise UnsafeArchiveError(f"{archive}: unsafe member {member.name!r} ({err})") from err


def _extract_zip(archive: Path, staging: Path, select: Select) -> list[str]:
    """Validate every entry of the central directory, then extract the selected files."""
    outputs: dict[str, str] = {}
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _check_zip_member(archive, info)
        for info in members:
            if info.is_dir():
                continue
            relative = _output_path(archive, info.filename, select, outputs)
            if relative is not None:
                with zf.open(info) as source:
                    _copy(source, staging / relative)
    return list(outputs)


def _check_zip_member(archive: Path, info: zipfile.ZipInfo) -> None:
    """Reject unsafe names and entries whose unix mode marks a link, device, fifo or socket."""
    _check_name(archive, info.filename)
    mode = info.external_attr >> 16
    # No file type bits (zips made off unix, or by Python's writestr) means a plain entry.
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _not_a_file(archive, info.filename, is_link=stat.S_ISLNK(mode))


def _not_a_file(archive: Path, name: str, *, is_link: bool) -> UnsafeArchiveError:
    """The error for a member that is a link or special file rather than a file or directory."""
    kind = "link" if is_link else "special file (device, fifo or socket)"
    return UnsafeArchiveError(f"{archive}: member {name!r} is a {kind}, not a regular file")


def _copy(source: IO[bytes], path: Path) -> None:
    """Write a member's bytes to ``path``, creating its parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _move_into(staging: Path, dest: Path, relative: str) -> Path:
    """Move one staged file into place in ``dest``, merging with what is already there."""
    target = dest / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / relative, target)
    return target
