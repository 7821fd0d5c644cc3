"""Tests for clearspeech.data.archives: selective, validated, all-or-nothing extraction."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from clearspeech.data.archives import ArchiveError, UnsafeArchiveError, extract_members

GOOD = {
    "cmu_us_slt_arctic/wav/arctic_a0001.wav": os.urandom(5000),
    "cmu_us_slt_arctic/wav/arctic_a0002.wav": os.urandom(7000),
    "cmu_us_slt_arctic/etc/txt.done.data": b"( arctic_a0001 \"Author of the danger trail.\" )\n",
    "cmu_us_slt_arctic/README": b"readme\n",
}
TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2"}


def select_wavs(name: str) -> str | None:
    """Keep the wav files, flattened under ``slt/``."""
    parts = name.split("/")
    return f"slt/{parts[-1]}" if len(parts) == 3 and parts[1] == "wav" else None


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    """A TarInfo and its body for ``tarfile.addfile``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def make_tar(path: Path, extra=(), files=GOOD) -> Path:
    """A tar with a directory entry, the ``files`` and then the ``extra`` (info, body) members."""
    suffix = path.name.partition(".")[2]
    with tarfile.open(path, TAR_MODES[suffix]) as tar:
        tar.addfile(tar_member("cmu_us_slt_arctic/", tarfile.DIRTYPE)[0])
        for name, data in files.items():
            tar.addfile(*tar_member(name, data=data))
        for info, body in extra:
            tar.addfile(info, body)
    return path


def make_zip(path: Path, extra=(), files=GOOD) -> Path:
    """A zip with a directory entry, the ``files`` and then ``extra`` (ZipInfo, bytes) entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cmu_us_slt_arctic/", b"")
        for name, data in files.items():
            zf.writestr(name, data)
        for info, data in extra:
            zf.writestr(info, data)
    return path


def zip_entry(name: str, mode: int = stat.S_IFREG | 0o644, data: bytes = b"x"):
    """A zip entry whose unix mode (file type bits included) is ``mode``."""
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info, data


def make_archive(path: Path, extra=(), files=GOOD) -> Path:
    """A tar or zip, as the suffix of ``path`` says."""
    maker = make_zip if path.suffix == ".zip" else make_tar
    return maker(path, extra, files)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden staging directories included) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def dest(tmp_path):
    """A destination that already holds a file from another archive."""
    out = tmp_path / "out" / "raw"
    (out / "bdl").mkdir(parents=True)
    (out / "bdl" / "arctic_a0001.wav").write_bytes(b"bdl audio")
    return out


@pytest.mark.parametrize("suffix", [*TAR_MODES, "zip"])
def test_good_archive_extracts_only_selected_members(tmp_path, dest, suffix):
    archive = make_archive(tmp_path / f"slt.{suffix}")
    written = extract_members(archive, dest, select_wavs)
    assert written == [dest / "slt" / "arctic_a0001.wav", dest / "slt" / "arctic_a0002.wav"]
    assert snapshot(dest.parent) == {
        "raw/bdl/arctic_a0001.wav": b"bdl audio",
        "raw/slt/arctic_a0001.wav": GOOD["cmu_us_slt_arctic/wav/arctic_a0001.wav"],
        "raw/slt/arctic_a0002.wav": GOOD["cmu_us_slt_arctic/wav/arctic_a0002.wav"],
    }


def test_extracted_file_replaces_an_older_copy(tmp_path, dest):
    archive = make_tar(tmp_path / "slt.tar.bz2")
    old = dest / "bdl" / "arctic_a0001.wav"
    extract_members(archive, dest, lambda name: "bdl/arctic_a0001.wav" if "0002" in name else None)
    assert old.read_bytes() == GOOD["cmu_us_slt_arctic/wav/arctic_a0002.wav"]


def test_nothing_selected_writes_nothing(tmp_path, dest):
    before = snapshot(dest.parent)
    assert extract_members(make_zip(tmp_path / "a.zip"), dest, lambda name: None) == []
    assert snapshot(dest.parent) == before


BAD_MEMBERS = {
    "tar-dotdot": lambda: tar_member("../x", data=b"evil"),
    "tar-nested-dotdot": lambda: tar_member("cmu_us_slt_arctic/../../x", data=b"evil"),
    "tar-absolute": lambda: tar_member("/x", data=b"evil"),
    "tar-backslash": lambda: tar_member("..\\x", data=b"evil"),
    "tar-drive": lambda: tar_member("C:x", data=b"evil"),
    "tar-symlink": lambda: tar_member("cmu_us_slt_arctic/ln", tarfile.SYMTYPE, link="/etc/passwd"),
    "tar-hardlink": lambda: tar_member(
        "cmu_us_slt_arctic/hard", tarfile.LNKTYPE, link="cmu_us_slt_arctic/README"
    ),
    "tar-chardev": lambda: tar_member("cmu_us_slt_arctic/null", tarfile.CHRTYPE),
    "tar-blockdev": lambda: tar_member("cmu_us_slt_arctic/sda", tarfile.BLKTYPE),
    "tar-fifo": lambda: tar_member("cmu_us_slt_arctic/pipe", tarfile.FIFOTYPE),
    "zip-dotdot": lambda: zip_entry("../x"),
    "zip-nested-dotdot": lambda: zip_entry("cmu_us_slt_arctic/../../x"),
    "zip-absolute": lambda: zip_entry("/x"),
    "zip-backslash": lambda: zip_entry("cmu_us_slt_arctic\\..\\..\\x"),
    "zip-drive": lambda: zip_entry("C:/x"),
    "zip-symlink": lambda: zip_entry("cmu_us_slt_arctic/ln", stat.S_IFLNK | 0o777, b"/etc/passwd"),
    "zip-fifo": lambda: zip_entry("cmu_us_slt_arctic/pipe", stat.S_IFIFO | 0o644),
    "zip-chardev": lambda: zip_entry("cmu_us_slt_arctic/null", stat.S_IFCHR | 0o644),
}


@pytest.mark.parametrize("case", BAD_MEMBERS)
def test_unsafe_member_rejected_and_nothing_written(tmp_path, dest, case):
    info, body = BAD_MEMBERS[case]()
    name = info.filename if isinstance(info, zipfile.ZipInfo) else info.name
    # The bad member comes after the selected wavs, so their extraction must be rolled back.
    suffix = "zip" if case.startswith("zip") else "tar.bz2"
    archive = make_archive(tmp_path / f"bad.{suffix}", extra=[(info, body)])
    before = snapshot(dest.parent)
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_members(archive, dest, select_wavs)
    assert str(archive) in str(caught.value) and repr(name) in str(caught.value)
    assert snapshot(dest.parent) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["raw"]


def test_zip_without_unix_mode_is_accepted(tmp_path, dest):
    info, data = zip_entry("cmu_us_slt_arctic/wav/arctic_b0001.wav", mode=0, data=b"windows")
    archive = make_zip(tmp_path / "win.zip", extra=[(info, data)])
    written = extract_members(archive, dest, select_wavs)
    assert (dest / "slt" / "arctic_b0001.wav").read_bytes() == b"windows"
    assert len(written) == 3


@pytest.mark.parametrize("output", ["../evil", "slt/../../evil", "/tmp/evil", "slt\\evil", "", "."])
@pytest.mark.parametrize("suffix", ["tar.bz2", "zip"])
def test_unsafe_output_path_from_select_rejected(tmp_path, dest, output, suffix):
    archive = make_archive(tmp_path / f"slt.{suffix}")
    before = snapshot(dest.parent)
    with pytest.raises(UnsafeArchiveError, match="output path"):
        extract_members(archive, dest, lambda name: output if name.endswith(".wav") else None)
    assert snapshot(dest.parent) == before
    assert not (tmp_path / "evil").exists()


def test_two_members_mapped_to_one_path_rejected(tmp_path, dest):
    archive = make_tar(tmp_path / "slt.tar.gz")
    with pytest.raises(ArchiveError, match="both map to 'slt/a.wav'"):
        extract_members(archive, dest, lambda name: "slt/a.wav" if name.endswith(".wav") else None)
    assert not (dest / "slt").exists()


BIG = {f"cmu_us_slt_arctic/wav/arctic_a{i:04d}.wav": os.urandom(20_000) for i in range(1, 6)}


@pytest.mark.parametrize("suffix", [*TAR_MODES, "zip"])
def test_truncated_archive_gives_archive_error(tmp_path, dest, suffix):
    archive = make_archive(tmp_path / f"slt.{suffix}", files=BIG)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    before = snapshot(dest.parent)
    with pytest.raises(ArchiveError, match="corrupt or truncated") as caught:
        extract_members(archive, dest, select_wavs)
    assert not isinstance(caught.value, UnsafeArchiveError)
    assert str(archive) in str(caught.value)
    assert snapshot(dest.parent) == before


@pytest.mark.parametrize("name", ["garbage.zip", "garbage.tar.bz2"])
def test_file_that_is_no_archive_gives_archive_error(tmp_path, dest, name):
    archive = tmp_path / name
    archive.write_bytes(b"this is not an archive at all" * 100)
    with pytest.raises(ArchiveError, match=name):
        extract_members(archive, dest, select_wavs)


def test_corrupted_zip_member_gives_archive_error(tmp_path, dest):
    archive = make_zip(tmp_path / "slt.zip", files=BIG)
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the deflated data of a member
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="slt.zip"):
        extract_members(archive, dest, select_wavs)
    assert not (dest / "slt").exists()
