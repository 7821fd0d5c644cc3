"""``clearspeech enhance`` and ``clearspeech export``: the trained model on users' own files."""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch
from tqdm import tqdm

from clearspeech.cli.options import FINITE_NON_NEGATIVE, FINITE_POSITIVE
from clearspeech.core.audio import AudioError
from clearspeech.core.device import resolve_device
from clearspeech.inference.enhancer import ChunkSeconds, Enhancer
from clearspeech.inference.files import audio_seconds, enhance_file, stream_file
from clearspeech.inference.paths import plan_jobs
from clearspeech.tracking.model_source import DEFAULT_MODEL, ModelSourceError, load_model_payload

log = logging.getLogger(__name__)

MODEL_HELP = ("Checkpoint file, models:/<name>@<alias>, models:/<name>/<version>, runs:/<id>/model or a run id "
              "(MLflow store: MLFLOW_TRACKING_URI, else mlflow.db of the repository).")


def _load(model: str, device: str, threads: int) -> Enhancer:
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelSourceError("--device cuda: PyTorch sees no CUDA device here (use auto or cpu)")
    payload = load_model_payload(model)
    return Enhancer(payload, resolve_device(device, threads))


@click.command("enhance")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", help="Output file (one input) or folder (several inputs, or folders).")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help=MODEL_HELP)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CUDA when present.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="CPU threads (0 = all cores).")
@click.option("--subtype", help="Output subtype such as PCM_16, PCM_24, FLOAT (default: the input's).")
@click.option("--chunk", type=FINITE_POSITIVE, default=ChunkSeconds.chunk, show_default=True,
              help="Seconds enhanced at a time; memory grows with it, not with the file.")
@click.option("--context", type=FINITE_NON_NEGATIVE, default=ChunkSeconds.context, show_default=True,
              help="Seconds of audio the model sees on each side of a chunk.")
@click.option("--stream", is_flag=True,
              help="Frame by frame, carrying state (causal models: crn, rced; audio at the model's rate).")
@click.option("--force", is_flag=True, help="Overwrite existing outputs (never an input).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an HTML report: DNSMOS of input and output per file, players, spectrograms.")
def enhance_command(inputs: tuple[Path, ...], output: str | None, model: str, device: str, threads: int,
                    subtype: str | None, chunk: float, context: float, stream: bool, force: bool, quiet: bool,
                    report: Path | None) -> None:
    """Denoise INPUT files or folders (wav, flac, ogg, mp3; any rate; any channels; any length).

    \b
      clearspeech enhance noisy.wav clean.wav
      clearspeech enhance recordings/ -o enhanced/
      clearspeech enhance a.flac b.mp3              # both exist: a_enhanced.flac, b_enhanced.mp3

    Two paths are INPUT OUTPUT (as with cp) only when the second does not exist yet; when it
    exists both are inputs, so no spelling overwrites an input (replace a file: -o FILE --force).
    The output keeps the input's rate, channels and subtype. Exit code 1 when any file failed.
    """
    plan = plan_jobs(list(inputs), output, force)
    for line in plan.errors:
        click.echo(f"error: {line}", err=True)
    if not plan.jobs:
        sys.exit(1)
    try:
        seconds = ChunkSeconds(chunk, context, min(ChunkSeconds.fade, context))
        enhancer = _load(model, device, threads)
        enhancer.chunk_plan(enhancer.sample_rate, seconds)  # reject a bad --chunk/--context before any file
    except (ModelSourceError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    if stream:
        from clearspeech.inference.streaming import streamable

        if enhancer.arch not in streamable():
            raise click.ClickException(f"--stream needs a causal model ({', '.join(streamable())}); "
                                       f"{model} is {enhancer.arch}")
    started = time.time()
    failed = _run_jobs(enhancer, plan.jobs, seconds, subtype, quiet, stream, refused=len(plan.errors))
    if report is not None:
        from clearspeech.inference.report import write_enhance_report

        done = [(job.source, job.dest) for job in plan.jobs
                if job.dest.is_file() and job.dest.stat().st_mtime >= started]
        click.echo(write_enhance_report(report, done).line(report))
    sys.exit(1 if failed or plan.errors else 0)


def _run_jobs(enhancer: Enhancer, jobs: list, seconds: ChunkSeconds, subtype: str | None, quiet: bool,
              stream: bool = False, refused: int = 0) -> int:
    """Enhance every job, report failures one line each, print the summary; the failure count."""
    durations = [audio_seconds(job.source) for job in jobs]
    total = sum(d for d in durations if math.isfinite(d))
    started, done, audio, failed, frame_ms, latency = time.perf_counter(), 0, 0.0, 0, [], None
    with tqdm(total=round(total, 2), unit="s", disable=True if quiet else None, desc="enhance",
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]") as bar:
        for job, duration in zip(jobs, durations):
            advanced = [0.0]  # audio seconds this file has moved the bar

            def step(block_seconds: float, advanced=advanced) -> None:
                advanced[0] += block_seconds
                bar.update(block_seconds)

            try:
                if stream:
                    result = stream_file(enhancer, job.source, job.dest, subtype, step)
                    frame_ms.append(result.frame_ms)
                    latency = result.latency_ms
                else:
                    result = enhance_file(enhancer, job.source, job.dest, seconds, subtype, step)
            except AudioError as err:
                failed += 1
                tqdm.write(f"error: {err}", file=sys.stderr)
                bar.update(max(0.0, duration - advanced[0]) if math.isfinite(duration) else 0.0)
                continue
            done, audio = done + 1, audio + result.seconds
            log.debug("%s -> %s (%.1f s)", job.source, job.dest, result.seconds)
    wall = time.perf_counter() - started
    rtf = f", real-time factor {wall / audio:.3f}" if audio else ""
    if frame_ms:
        hop = 1000.0 * enhancer.hop / enhancer.sample_rate
        rtf += (f"; streamed: {np.mean(frame_ms):.2f} ms of model compute per {hop:g} ms frame, "
                f"algorithmic latency {latency:.1f} ms")
    click.echo(f"enhanced {done} of {len(jobs) + refused} files ({failed} failed, {refused} refused): "
               f"{audio:.1f} s of audio in "
               f"{wall:.1f} s on {enhancer.device}{rtf}")
    return failed


@click.command("export")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help=MODEL_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .onnx file; its metadata goes beside it as .json.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def export_command(model: str, output: Path, force: bool) -> None:
    """Write the model as ONNX (any batch, any length) plus its STFT metadata."""
    from clearspeech.inference.export import export_onnx, metadata_path

    if output.suffix != ".onnx":
        raise click.ClickException(f"{output}: the output must end in .onnx")
    existing = [p for p in (output, metadata_path(output)) if p.exists()]
    if existing and not force:
        raise click.ClickException(f"{existing[0]}: exists (use --force to overwrite)")
    try:
        payload = load_model_payload(model)
    except ModelSourceError as err:
        raise click.ClickException(str(err)) from err
    try:
        meta = export_onnx(payload, output)
    except ValueError as err:
        raise click.ClickException(f"--model {model}: {err}") from err
    click.echo(f"{output}: {meta['arch']} ({meta['target']}), {meta['sample_rate']} Hz, n_fft {meta['n_fft']}, "
               f"hop {meta['hop']}; metadata in {metadata_path(output)}")
