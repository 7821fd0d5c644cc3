"""``clearspeech peers``: the peers stage's comparison from the command line.

A :class:`click.Command` for the main group (``main.add_command(peers)``); it runs what the DVC
stage runs, with the peers named on the command line (default: ``params.yaml``'s list).
"""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from clearspeech.config import from_mapping
from clearspeech.manifest import ManifestError, read_manifest
from clearspeech.peers import PEERS
from clearspeech.peers.compare import EvaluationMissing, PeersConfig, compare_peers


@click.command("peers")
@click.option("--peer", "names", multiple=True, type=click.Choice(sorted(PEERS)),
              help="Peer to run (repeatable); default: the `peers.peers` list of --params.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", default="data/mixtures/manifest.csv", show_default=True, help="Mixture manifest.")
@click.option("--eval-utterances", default="metrics/eval_utterances.csv", show_default=True,
              help="evaluate's per-mixture scores (noisy and model rows).")
@click.option("--model", "model_path", default="models/model.pt", show_default=True, help="Evaluated checkpoint.")
@click.option("--out", "peers_dir", default="data/peers", show_default=True, help="Peers' enhanced wavs.")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="peers.json and tables.")
def peers(names: tuple[str, ...], params_file: str, mixtures: str, eval_utterances: str, model_path: str,
          peers_dir: str, metrics_dir: str) -> None:
    """Run denoisers people install instead on the test mixtures; score them beside the model."""
    try:
        section = (yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {}).get("peers", {})
        cfg = from_mapping(PeersConfig, {**section, **({"peers": list(names)} if names else {})})
    except (OSError, yaml.YAMLError, ValueError) as err:
        raise click.ClickException(f"{params_file}: {err}") from err
    try:
        manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
        compare_peers(manifest, Path(eval_utterances), Path(model_path), cfg, Path(peers_dir), Path(metrics_dir))
    except (ManifestError, EvaluationMissing) as err:
        raise click.ClickException(str(err)) from err
    # Failed peers are listed under the table; the comparison of the others still stands.
    click.echo((Path(metrics_dir) / "peers_table.md").read_text(encoding="utf-8"))
