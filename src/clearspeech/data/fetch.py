"""Verified, resumable downloads of the corpus archives, and the catalog of official sources.

:func:`fetch` keeps a download cache: a file that is already there and matches its checksum is
returned without touching the network. Bytes arrive in ``<name>.part``, survive interrupted
transfers (the next attempt resumes with an HTTP ``Range`` request) and only take the final
name once size and checksum have been verified, so a file under its final name is always good.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests
from tqdm import tqdm

from clearspeech.core.errors import UserError
from clearspeech.core.files import file_digest

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
# Statuses worth another try: the server or a proxy is overloaded or timed out, not refusing.
_RETRY_STATUSES = frozenset({408, 429})
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_OFFLINE_HINT = (
    "On a machine without internet access use the local copy instead: set "
    "download.source=local and download.local_dir=<folder with the extracted corpora> "
    "(README, 'download: three sources')."
)


class DownloadError(UserError, RuntimeError):
    """A download that failed; the message always names the URL."""


class ChecksumError(DownloadError):
    """Downloaded bytes whose size or digest differ from the expected ones."""


class _TransientError(Exception):
    """A failed attempt that another attempt may fix (server error, short transfer)."""


@dataclass(frozen=True)
class ArchiveSpec:
    """Where an archive lives and what its bytes must look like."""

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    def fetch(self, cache_dir: Path, **options) -> Path:
        """Download this archive with :func:`fetch`; ``options`` are its keyword arguments."""
        return fetch(
            self.url, cache_dir, sha256=self.sha256, md5=self.md5, size=self.size, **options
        )


def fetch(
    url: str,
    cache_dir: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 5,
    timeout: float = 30.0,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download url into cache_dir/<basename of url path> and return that path.

    ``retries`` counts the attempts after the first; attempt ``n`` (from 0) that fails for a
    transient reason is followed by a pause of ``backoff * 2**n`` seconds. ``timeout`` applies
    to connecting and to each read. Raises :class:`ChecksumError` when the bytes do not match
    (nothing is kept) and :class:`DownloadError` for any other failure.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    spec = ArchiveSpec(url, sha256=sha256, md5=md5, size=size)
    target = Path(cache_dir) / _file_name(url)
    if target.exists():
        problem = _mismatch(target, spec)
        if problem is None:
            log.info("using cached %s", target)
            return target
        log.warning("discarding cached %s (%s); downloading again", target, problem)
        target.unlink()
    if sha256 is None and md5 is None:
        log.warning("no checksum given for %s; its bytes cannot be verified", url)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    _download_with_retries(
        url, part, retries=retries, timeout=timeout, backoff=backoff, progress=progress
    )
    _verify(part, spec)
    os.replace(part, target)
    log.info("downloaded %s to %s", url, target)
    return target


def _file_name(url: str) -> str:
    """The last component of the URL's path, which names the file in the cache."""
    name = posixpath.basename(unquote(urlsplit(url).path))
    if name in ("", ".", "..") or "\\" in name:
        raise ValueError(f"cannot derive a file name from URL {url!r}")
    return name


def _mismatch(path: Path, spec: ArchiveSpec) -> str | None:
    """Describe how the file differs from the spec's size and digests, or None when it matches."""
    actual_size = path.stat().st_size
    if spec.size is not None and actual_size != spec.size:
        return f"size: expected {spec.size} bytes, got {actual_size}"
    for algorithm, expected in (("sha256", spec.sha256), ("md5", spec.md5)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            return f"{algorithm}: expected {expected.lower()}, got {actual}"
    return None


def _verify(part: Path, spec: ArchiveSpec) -> None:
    """Raise ChecksumError, deleting the part, when the downloaded bytes do not match."""
    problem = _mismatch(part, spec)
    if problem is not None:
        # A resumed part that went wrong cannot be told apart from a corrupt one: keep nothing.
        part.unlink()
        raise ChecksumError(f"{spec.url}: downloaded file does not match ({problem})")


def _download_with_retries(
    url: str, part: Path, *, retries: int, timeout: float, backoff: float, progress: bool
) -> None:
    """Bring ``part`` to the full content of ``url``, retrying transient failures."""
    for attempt in range(retries + 1):
        try:
            _attempt(url, part, timeout=timeout, progress=progress)
            return
        except (_TransientError, *_TRANSIENT_ERRORS) as err:
            last_error = err
            if attempt == retries:
                break
            delay = backoff * 2**attempt
            log.warning("%s: %s; retry %d/%d in %.2fs", url, err, attempt + 1, retries, delay)
            time.sleep(delay)
        except requests.RequestException as err:
            raise DownloadError(f"{url}: download failed ({err})") from err
    raise DownloadError(
        f"could not download {url} after {retries + 1} attempts ({last_error}). {_OFFLINE_HINT}"
    ) from last_error


def _attempt(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    """One request: append to the part (resuming), or restart it when the server sends it all."""
    offset = part.stat().st_size if part.exists() else 0
    # Compressed transfer encodings would make byte offsets meaningless for resuming.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if offset and response.status_code == 416:
            _accept_complete_part(url, part, response)
            return
        _raise_for_status(url, response)
        start, _ = _content_range(response) if response.status_code == 206 else (0, None)
        if start not in (0, offset):
            part.unlink()
            raise _TransientError(f"server resumed at byte {start}, not {offset}; restarting")
        if start:
            log.info("resuming %s at byte %d", url, start)
        _write_body(response, part, start, progress=progress)


def _raise_for_status(url: str, response: requests.Response) -> None:
    """Raise _TransientError for statuses worth retrying and DownloadError for the rest."""
    status = response.status_code
    if status < 400:
        return
    reason = f"HTTP {status} {response.reason}"
    if status >= 500 or status in _RETRY_STATUSES:
        raise _TransientError(reason)
    raise DownloadError(f"{url}: download failed ({reason})")


def _content_range(response: requests.Response) -> tuple[int | None, int | None]:
    """Start offset and total length from ``Content-Range: bytes a-b/total`` (None if absent)."""
    unit, _, spec = response.headers.get("Content-Range", "").partition(" ")
    span, _, total = spec.partition("/")
    start = span.partition("-")[0]
    if unit != "bytes":
        return None, None
    return (int(start) if start.isdigit() else None), (int(total) if total.isdigit() else None)


def _accept_complete_part(url: str, part: Path, response: requests.Response) -> None:
    """Answer to a 416: the part may already be complete, unless the server's total disagrees."""
    _, total = _content_range(response)
    size = part.stat().st_size
    if total is not None and total != size:
        part.unlink()
        raise _TransientError(f"partial file has {size} bytes, the server {total}; restarting")
    log.info("%s: partial download already complete (%d bytes)", url, size)


def _write_body(response: requests.Response, part: Path, offset: int, *, progress: bool) -> None:
    """Stream the body into the part (appending after ``offset``), with a progress bar."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    received = 0
    bar = tqdm(
        total=None if expected is None else offset + expected,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name.removesuffix(".part"),
        disable=not progress,
    )
    # The file is closed (and its bytes kept) whatever happens, so a broken transfer resumes.
    with bar, open(part, "ab" if offset else "wb") as handle:
        for chunk in response.iter_content(_CHUNK):
            handle.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received < expected:
        raise _TransientError(f"transfer ended after {received} of {expected} bytes")


# --- catalog of official sources -------------------------------------------------------------

ARCTIC_URL = "http://festvox.org/cmu_arctic/packed/cmu_us_{speaker}_arctic.tar.bz2"
ARCTIC_SHA256 = {
    "bdl": "26b91aaf48b2799b2956792b4632c2f926cd0542f402b5452d5adecb60942904",
    "slt": "7c173297916acf3cc7fcab2713be4c60b27312316765a90934651d367226b4ea",
}

DEMAND_URL = "https://zenodo.org/records/1227121/files/{env}_16k.zip"
# (bytes, md5) of each 16 kHz DEMAND zip, as published on Zenodo record 1227121.
DEMAND_16K = {
    "DKITCHEN": (110501049, "7ffbf52d7f4699f96927846103dc8788"),
    "DLIVING": (80170627, "46741384d9e434a0bd8b3ec1830b6052"),
    "DWASHING": (102343250, "7e5ee9437ce9409c5f9a779b6212a240"),
    "NFIELD": (86536782, "a740046c6f4e174e16f5d568aaec5024"),
    "NPARK": (86029332, "80f1385a34d7f1705758926b57f138ce"),
    "NRIVER": (98689565, "54264db61d3fe073fb81f2e40e0d19b5"),
    "OHALLWAY": (77941854, "fe918bbb0e63e73d09ba7f4843ef33f1"),
    "OMEETING": (82703355, "62f7cfe7fe6d30b7d8a215fe37c2dfd2"),
    "OOFFICE": (88995191, "7b61cc2d182d5a654cb9c3101ddd4041"),
    "PCAFETER": (107431494, "99927d148128254141a9417d051510bb"),
    "PRESTO": (111292815, "b98d2e6854eeebb397f29a8ad7457092"),
    "PSTATION": (119441094, "d7448009f6c2aeb6ba570375df1750a3"),
    "SPSQUARE": (110928528, "205d0e7b8fe74504a2f8d252fc414b9e"),
    "STRAFFIC": (118572691, "2efa87262f272bbf9ba578088e81939c"),
    "TBUS": (128916709, "706b11b0d8504f9f3b3f3211e91b3863"),
    "TCAR": (130045975, "4d930012796bd298932245a26189f973"),
    "TMETRO": (126589090, "95daf4df678e13b120e14211e6d89571"),
}


def _catalog() -> dict[str, dict[str, ArchiveSpec]]:
    """Every official archive, by corpus and then by speaker or environment."""
    arctic = {
        speaker: ArchiveSpec(ARCTIC_URL.format(speaker=speaker), sha256=sha256)
        for speaker, sha256 in ARCTIC_SHA256.items()
    }
    demand = {
        env: ArchiveSpec(DEMAND_URL.format(env=env), md5=md5, size=size)
        for env, (size, md5) in DEMAND_16K.items()
    }
    return {"arctic": arctic, "demand": demand}


OFFICIAL = _catalog()


def _lookup(corpus: str, name: str, note: str = "") -> ArchiveSpec:
    """The official archive ``name`` of ``corpus``; ValueError listing the known names."""
    specs = OFFICIAL[corpus]
    if name not in specs:
        known = ", ".join(sorted(specs))
        raise ValueError(f"unknown {corpus} archive {name!r}{note}; known: {known}")
    return specs[name]


def arctic_archive(speaker: str) -> ArchiveSpec:
    """The official CMU ARCTIC archive of one speaker (``bdl`` or ``slt``)."""
    return _lookup("arctic", speaker)


def demand_archive(env: str) -> ArchiveSpec:
    """The official 16 kHz DEMAND zip of one noise environment (e.g. ``DKITCHEN``)."""
    note = " (SCAFE has no 16 kHz zip)" if env == "SCAFE" else ""
    return _lookup("demand", env, note)
