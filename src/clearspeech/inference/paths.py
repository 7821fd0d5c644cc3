"""Which files ``clearspeech enhance`` reads and where each result goes.

- ``enhance A.wav B.wav`` (two paths, the first a file, no ``-o``): when B does not exist it is the
  output, as with ``cp``; when B exists both are inputs (``A_enhanced.wav``, ``B_enhanced.wav``),
  so no spelling of the command overwrites an input. Replace an existing file with ``-o B --force``.
- ``enhance INPUT... -o DIR``: several inputs or any folder; folders are searched recursively
  for audio files and their layout is kept under DIR. One file with ``-o OUT.ext`` writes OUT.
- ``enhance INPUT...`` without ``-o``: each result goes beside its input as ``<stem>_enhanced.<ext>``;
  files already named so are skipped when a folder is searched.

An input is never overwritten, and an existing output only with ``force``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from clearspeech.core.audio import AUDIO_SUFFIXES

SUFFIX = "_enhanced"


@dataclasses.dataclass(frozen=True)
class Job:
    """Enhance ``source`` into ``dest``."""

    source: Path
    dest: Path


@dataclasses.dataclass(frozen=True)
class Plan:
    """The jobs to run and, per path that cannot be processed, one line saying why."""

    jobs: list[Job]
    errors: list[str]


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def _exists(path: Path) -> bool:
    """True for anything at ``path``, a dangling symbolic link included."""
    return path.exists() or path.is_symlink()


def _search(folder: Path, skip_outputs: bool) -> tuple[list[Path], list[str]]:
    """Audio files under ``folder``, sorted (earlier results skipped when they sit beside inputs),
    and one line per audio-named symbolic link that leads nowhere (dangling, or a loop)."""
    candidates = sorted(p for p in folder.rglob("*") if _is_audio(p))
    found = [p for p in candidates if p.is_file()]
    broken = [f"{p}: symbolic link to nothing readable (dangling or a loop); skipped"
              for p in candidates if p.is_symlink() and not p.exists()]
    return [p for p in found if not (skip_outputs and p.stem.endswith(SUFFIX))], broken


def _sources(inputs: list[Path], skip_outputs: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(file, path relative to its output root)`` for every input file, and missing inputs."""
    pairs, errors = [], []
    for path in inputs:
        if path.is_dir():
            found, broken = _search(path, skip_outputs)
            errors += broken
            if not found:
                errors.append(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            pairs += [(file, file.relative_to(path)) for file in found]
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        elif path.is_symlink():
            errors.append(f"{path}: symbolic link to nothing readable (dangling or a loop)")
        else:
            errors.append(f"{path}: no such file or folder")
    return pairs, errors


def _output_is_dir(inputs: list[Path], output: Path, raw_output: str) -> bool:
    return (len(inputs) > 1 or any(p.is_dir() for p in inputs) or output.is_dir()
            or raw_output.endswith((os.sep, "/")))


def plan_jobs(inputs: list[Path], output: str | None, force: bool) -> Plan:
    """Resolve the command line's paths into jobs (see the module docstring for the rules)."""
    if output is None and len(inputs) == 2 and inputs[0].is_file() and not _exists(inputs[1]):
        inputs, output = inputs[:1], str(inputs[1])
    out = Path(output) if output is not None else None
    pairs, errors = _sources(inputs, skip_outputs=out is None)
    jobs: list[Job] = []
    if out is not None and _output_is_dir(inputs, out, output):
        jobs = [Job(source, out / relative) for source, relative in pairs]
    elif out is not None:
        jobs = [Job(source, out) for source, _ in pairs]
    else:
        jobs = [Job(source, source.with_name(f"{source.stem}{SUFFIX}{source.suffix}")) for source, _ in pairs]
    return _checked(jobs, errors, force)


def _checked(jobs: list[Job], errors: list[str], force: bool) -> Plan:
    """Drop jobs that would overwrite an input, an earlier job's output, or (without force) a file."""
    sources = {job.source.resolve() for job in jobs}
    taken: set[Path] = set()
    kept = []
    for job in jobs:
        dest = job.dest.resolve()
        if dest in sources:
            errors.append(f"{job.source}: output {job.dest} is an input; refusing to overwrite it")
        elif dest in taken:
            errors.append(f"{job.source}: output {job.dest} is already written by another input")
        elif job.dest.exists() and not force:
            errors.append(f"{job.source}: output {job.dest} exists (use --force to overwrite)")
        else:
            taken.add(dest)
            kept.append(job)
    return Plan(kept, errors)
