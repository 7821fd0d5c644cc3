"""The official source end to end against archives served from 127.0.0.1."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from clearspeech.core.audio import write_audio
from clearspeech.data import demo, download
from clearspeech.data.archives import UnsafeArchiveError
from clearspeech.data.download import DownloadConfig, prepare_raw
from clearspeech.data.fetch import ArchiveSpec

from httpserver import FileServer


def wav_bytes(tmp_path, signal):
    write_audio(tmp_path / "x.wav", signal, 16000, "PCM_16")
    return (tmp_path / "x.wav").read_bytes()


def arctic_tar(tmp_path, speaker, extra=None):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        members = {f"cmu_us_{speaker}_arctic/wav/arctic_a000{i}.wav":
                   wav_bytes(tmp_path, demo.utterance("demo_male", i, 0)) for i in range(1, 4)}
        members[f"cmu_us_{speaker}_arctic/etc/txt.done.data"] = b"( arctic_a0001 \"text\" )\n"
        members.update(extra or {})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def demand_zip(tmp_path, env):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for channel in (1, 2):
            noise = demo.noise("demo_machine", 3.0, channel)
            archive.writestr(f"{env}/ch{channel:02d}.wav", wav_bytes(tmp_path, noise))
    return buffer.getvalue()


@pytest.fixture
def official_mirror(tmp_path, monkeypatch):
    """Serve ARCTIC-like and DEMAND-like archives and point the catalog at them."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    files = {"/cmu_us_bdl_arctic.tar.bz2": arctic_tar(tmp_path, "bdl"),
             "/cmu_us_slt_arctic.tar.bz2": arctic_tar(tmp_path, "slt", {"../evil.wav": b"x"}),
             "/DWASHING_16k.zip": demand_zip(tmp_path, "DWASHING")}
    with FileServer(files) as server:
        def spec(name):
            return ArchiveSpec(server.url(name), sha256=hashlib.sha256(files[name]).hexdigest())
        monkeypatch.setattr(download, "arctic_archive", lambda spk: spec(f"/cmu_us_{spk}_arctic.tar.bz2"))
        monkeypatch.setattr(download, "demand_archive", lambda env: spec(f"/{env}_16k.zip"))
        yield server


def test_official_source_extracts_only_wavs_and_channel_one(official_mirror, tmp_path):
    cfg = DownloadConfig(speakers=("bdl",), noises=("DWASHING",), cache_dir=str(tmp_path / "cache"))
    raw = prepare_raw(cfg, tmp_path / "raw")
    assert sorted(p.relative_to(tmp_path / "raw").as_posix() for p in (tmp_path / "raw").rglob("*.wav")) == [
        "noise/DWASHING/ch01.wav", "speech/bdl/arctic_a0001.wav", "speech/bdl/arctic_a0002.wav",
        "speech/bdl/arctic_a0003.wav"]
    assert set(raw["source"]) == {"official"} and len(raw) == 4
    requests_before = official_mirror.log.requests
    prepare_raw(cfg, tmp_path / "raw")  # a re-run uses the download cache
    assert official_mirror.log.requests == requests_before


def test_official_source_rejects_a_malicious_archive_and_keeps_nothing(official_mirror, tmp_path):
    cfg = DownloadConfig(speakers=("slt",), noises=("DWASHING",), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UnsafeArchiveError, match=r"\.\./evil\.wav"):
        prepare_raw(cfg, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
    assert not (tmp_path / "evil.wav").exists()
