"""Tests for clearspeech.data.fetch against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import socket

import pytest

from clearspeech.data import fetch as fetch_module
from clearspeech.data.fetch import (
    ArchiveSpec,
    ChecksumError,
    DownloadError,
    arctic_archive,
    demand_archive,
    fetch,
)

from httpserver import Behaviour, FileServer

BODY = os.urandom(300_000)
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()
PATH = "/files/corpus.tar.bz2"
FAST = {"backoff": 0.01, "timeout": 5.0, "progress": False}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Keep requests to 127.0.0.1 off any proxy the environment configures."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")


@pytest.fixture
def serve():
    """Start a FileServer serving BODY at PATH with the given Behaviour; stop it afterwards."""
    with contextlib.ExitStack() as stack:

        def start(behaviour: Behaviour | None = None) -> FileServer:
            return stack.enter_context(FileServer({PATH: BODY}, behaviour))

        yield start


def closed_port_url() -> str:
    """A URL on 127.0.0.1 whose port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{PATH}"


def test_good_archive_accepted_by_sha256(serve, tmp_path):
    server = serve()
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path == tmp_path / "corpus.tar.bz2"
    assert path.read_bytes() == BODY
    assert not (tmp_path / "corpus.tar.bz2.part").exists()
    assert server.log.range_headers == [None]


def test_good_archive_accepted_by_md5_and_size_with_progress_bar(serve, tmp_path, capsys):
    server = serve()
    options = {**FAST, "progress": True}
    path = fetch(server.url(PATH), tmp_path / "cache", md5=MD5.upper(), size=len(BODY), **options)
    assert path.read_bytes() == BODY
    assert "corpus.tar.bz2" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["sha256", "md5"])
def test_checksum_mismatch_rejected_and_nothing_kept(serve, tmp_path, kind):
    server = serve()
    wrong = "0" * (64 if kind == "sha256" else 32)
    with pytest.raises(ChecksumError) as caught:
        fetch(server.url(PATH), tmp_path, **{kind: wrong}, **FAST)
    message = str(caught.value)
    actual = SHA256 if kind == "sha256" else MD5
    assert server.url(PATH) in message and wrong in message and actual in message
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_rejected_and_nothing_kept(serve, tmp_path):
    server = serve()
    with pytest.raises(ChecksumError, match=f"expected {len(BODY) + 1} bytes, got {len(BODY)}"):
        fetch(server.url(PATH), tmp_path, sha256=SHA256, size=len(BODY) + 1, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_is_resumed(serve, tmp_path):
    server = serve(Behaviour(cut_after=200_000))
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    first, second = server.log.range_headers
    # The resume offset is what reached the disk: up to one read chunk short of the cut.
    assert first is None and second.startswith("bytes=") and second.endswith("-")
    assert 0 < int(second[len("bytes=") : -1]) <= 200_000


def test_leftover_part_from_earlier_run_is_resumed(serve, tmp_path):
    server = serve()
    (tmp_path / "corpus.tar.bz2.part").write_bytes(BODY[:1234])
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    assert server.log.range_headers == ["bytes=1234-"]


def test_server_ignoring_range_restarts_from_zero(serve, tmp_path):
    server = serve(Behaviour(ranges=False))
    (tmp_path / "corpus.tar.bz2.part").write_bytes(b"stale bytes that are not a prefix")
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    assert server.log.requests == 1


def test_complete_part_answered_416_is_verified_and_kept(serve, tmp_path):
    server = serve()
    (tmp_path / "corpus.tar.bz2.part").write_bytes(BODY)
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    assert server.log.range_headers == [f"bytes={len(BODY)}-"]


def test_part_longer_than_file_is_restarted(serve, tmp_path):
    server = serve()
    (tmp_path / "corpus.tar.bz2.part").write_bytes(BODY + b"junk")
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    assert server.log.range_headers == [f"bytes={len(BODY) + 4}-", None]


def test_cached_file_is_not_fetched_again(serve, tmp_path):
    server = serve()
    first = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    second = fetch(server.url(PATH), tmp_path, sha256=SHA256, size=len(BODY), **FAST)
    assert first == second
    assert server.log.requests == 1


def test_cached_file_that_does_not_match_is_downloaded_again(serve, tmp_path):
    server = serve()
    (tmp_path / "corpus.tar.bz2").write_bytes(b"corrupted cache entry")
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **FAST)
    assert path.read_bytes() == BODY
    assert server.log.requests == 1


def test_server_error_then_success_is_retried_with_backoff(serve, tmp_path, monkeypatch):
    delays = []
    monkeypatch.setattr(fetch_module.time, "sleep", delays.append)
    server = serve(Behaviour(fail_first=2, fail_status=500))
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, retries=3, backoff=0.5, progress=False)
    assert path.read_bytes() == BODY
    assert server.log.requests == 3
    assert delays == [0.5, 1.0]


@pytest.mark.parametrize("status", [503, 429])
def test_persistent_transient_status_gives_up_after_retries(serve, tmp_path, status):
    server = serve(Behaviour(fail_first=99, fail_status=status))
    with pytest.raises(DownloadError, match=f"HTTP {status}") as caught:
        fetch(server.url(PATH), tmp_path, sha256=SHA256, retries=2, **FAST)
    assert server.url(PATH) in str(caught.value)
    assert server.log.requests == 3
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_retried(serve, tmp_path):
    server = serve(Behaviour(stall_first=0.5))
    options = {**FAST, "timeout": 0.1}
    path = fetch(server.url(PATH), tmp_path, sha256=SHA256, **options)
    assert path.read_bytes() == BODY
    assert server.log.requests == 2


def test_not_found_fails_fast_naming_the_url(serve, tmp_path):
    server = serve()
    url = server.url("/files/missing.zip")
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        fetch(url, tmp_path, md5=MD5, **FAST)
    assert not isinstance(caught.value, ChecksumError)
    assert url in str(caught.value)
    assert server.log.requests == 1


def test_unreachable_host_points_to_local_copy(tmp_path):
    url = closed_port_url()
    with pytest.raises(DownloadError) as caught:
        fetch(url, tmp_path, sha256=SHA256, retries=2, **FAST)
    message = str(caught.value)
    assert url in message
    assert "download.source=local" in message and "download.local_dir=" in message
    assert list(tmp_path.iterdir()) == []


def test_url_without_file_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="file name"):
        fetch("http://127.0.0.1:1/files/", tmp_path, **FAST)


def test_archive_spec_fetch_passes_its_checksums(serve, tmp_path):
    server = serve()
    spec = ArchiveSpec(server.url(PATH), md5="f" * 32)
    with pytest.raises(ChecksumError, match="md5"):
        spec.fetch(tmp_path, **FAST)


def test_arctic_catalog():
    spec = arctic_archive("slt")
    assert spec.url == "http://festvox.org/cmu_arctic/packed/cmu_us_slt_arctic.tar.bz2"
    assert spec.sha256 == "7c173297916acf3cc7fcab2713be4c60b27312316765a90934651d367226b4ea"
    assert spec.md5 is None and spec.size is None
    assert arctic_archive("bdl").sha256.startswith("26b91aaf")
    with pytest.raises(ValueError, match="bdl, slt"):
        arctic_archive("awb")


def test_demand_catalog():
    spec = demand_archive("DKITCHEN")
    assert spec.url == "https://zenodo.org/records/1227121/files/DKITCHEN_16k.zip"
    assert (spec.size, spec.md5) == (110501049, "7ffbf52d7f4699f96927846103dc8788")
    assert demand_archive("TMETRO").size == 126589090
    assert len(fetch_module.OFFICIAL["demand"]) == 17
    with pytest.raises(ValueError, match="SCAFE has no 16 kHz zip.*DKITCHEN"):
        demand_archive("SCAFE")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.url = "http://example.invalid/"  # type: ignore[misc]
