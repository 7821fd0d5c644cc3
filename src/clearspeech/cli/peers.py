"""``clearspeech peers``: the peers stage's comparison from the command line.

It runs what the DVC stage runs, with the settings given on the command line (it does not read
``params.yaml``; the defaults are every peer and the stage's defaults).
"""

from __future__ import annotations

from pathlib import Path

import click

from clearspeech.core.manifest import ManifestError, read_manifest
from clearspeech.peers import PEERS
from clearspeech.peers.compare import EvaluationMissing, PeersConfig, compare_peers
from clearspeech.peers.tables import PeersReports


@click.command("peers")
@click.option("--peer", "names", multiple=True, type=click.Choice(sorted(PEERS)),
              help="Peer to run (repeatable); default: all of them.")
@click.option("--timeout", type=float, default=PeersConfig.timeout, show_default=True,
              help="Seconds one peer may take over the whole test set.")
@click.option("--max-delay-ms", type=float, default=PeersConfig.max_delay_ms, show_default=True,
              help="Largest output delay searched by cross-correlation.")
@click.option("--workers", type=int, default=PeersConfig.workers, show_default=True,
              help="Processes for the metrics (0 = all cores).")
@click.option("--mixtures", default="data/mixtures/manifest.csv", show_default=True, help="Mixture manifest.")
@click.option("--eval-utterances", default="metrics/eval_utterances.csv", show_default=True,
              help="evaluate's per-mixture scores (noisy and model rows).")
@click.option("--model", "model_path", default="models/model.pt", show_default=True, help="Evaluated checkpoint.")
@click.option("--out", "peers_dir", default="data/peers", show_default=True, help="Peers' enhanced wavs.")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="peers.json and tables.")
def peers(names: tuple[str, ...], timeout: float, max_delay_ms: float, workers: int, mixtures: str,
          eval_utterances: str, model_path: str, peers_dir: str, metrics_dir: str) -> None:
    """Run denoisers people install instead on the test mixtures; score them beside the model."""
    try:
        cfg = PeersConfig(tuple(names or sorted(PEERS)), timeout, max_delay_ms, workers)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    try:
        manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
        reports = PeersReports.in_folder(Path(metrics_dir))
        compare_peers(manifest, Path(eval_utterances), Path(model_path), cfg, Path(peers_dir), reports)
    except (ManifestError, EvaluationMissing) as err:
        raise click.ClickException(str(err)) from err
    # Failed peers are listed under the table; the comparison of the others still stands.
    click.echo(reports.table.read_text(encoding="utf-8"))
