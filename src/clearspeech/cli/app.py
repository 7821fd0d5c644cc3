"""The ``clearspeech`` command line. Pipeline stages run through ``uv run dvc repro``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from clearspeech.cli.enhance import enhance_command, export_command
from clearspeech.cli.options import FINITE, FINITE_NON_NEGATIVE
from clearspeech.cli.peers import peers as peers_command
from clearspeech.core.audio import AudioError, load_mono, write_audio
from clearspeech.data.download import CorpusError, check_files, find_local_noise, find_local_speech
from clearspeech.data.mixing import mix, noise_segment


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clearspeech")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """ClearSpeech: neural speech enhancement, from corpora to a registered model.

    The study itself runs with `uv run dvc repro`; these commands work on single files.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s: %(message)s")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame) -> None:
    """SIGTERM unwinds like Ctrl-C, so temporary files and folders are removed on the way out."""
    raise SystemExit(128 + signum)


@main.command("check-corpus")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--speaker", "speakers", multiple=True, default=("bdl", "slt"), show_default=True,
              help="CMU ARCTIC speaker to look for (repeatable).")
@click.option("--noise", "noises", multiple=True, required=True, help="Noise name to look for (repeatable).")
def check_corpus(folder: Path, speakers: tuple[str, ...], noises: tuple[str, ...]) -> None:
    """Check that FOLDER works as `download.source=local` (every file decodes)."""
    failures = 0
    groups = [(f"speaker {s}", find_local_speech, s) for s in speakers]
    groups += [(f"noise {n}", find_local_noise, n) for n in noises]
    for label, finder, name in groups:
        try:
            files = finder(folder, name)
        except CorpusError as err:
            failures += 1
            click.echo(f"error {label}: {err}", err=True)
            continue
        seconds, errors = check_files(files)
        for line in errors:
            click.echo(f"error {label}: {line}", err=True)
        failures += bool(errors)
        if not errors:
            click.echo(f"ok    {label}: {len(files)} files, {seconds:.1f} s")
    sys.exit(1 if failures else 0)


@main.command("mix")
@click.argument("clean", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("noise", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--snr", type=FINITE, required=True, help="Target SNR in dB (RMS over the whole utterance).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Mixture wav.")
@click.option("--offset", type=FINITE_NON_NEGATIVE, default=0.0, show_default=True,
              help="Start of the noise segment, seconds.")
@click.option("--rate", type=click.IntRange(min=1), default=16000, show_default=True,
              help="Output sample rate.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def mix_command(clean: Path, noise: Path, snr: float, output: Path, offset: float, rate: int, force: bool) -> None:
    """Mix CLEAN speech with NOISE at an exact SNR, as the synthesize stage does."""
    if output.exists() and not force:
        raise click.ClickException(f"{output}: exists (use --force to overwrite)")
    try:
        speech, background = load_mono(clean, rate), load_mono(noise, rate)
        segment = noise_segment(background, len(speech), 0, len(background), int(offset * rate) % len(background))
        result = mix(speech, segment, snr)
    except (AudioError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    write_audio(output, result.noisy, rate, "FLOAT")
    click.echo(f"{output}: {len(speech) / rate:.2f} s at {snr:g} dB SNR "
               f"(noise gain {result.gain:.4f}, scale {result.scale:.3f})")


main.add_command(enhance_command)
main.add_command(export_command)
main.add_command(peers_command)
