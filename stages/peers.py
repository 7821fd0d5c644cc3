"""DVC stage `peers`: run the installed denoisers on the test mixtures, score them beside the model."""

import dataclasses
from pathlib import Path

import click

from clearspeech.core.manifest import read_manifest
from clearspeech.peers.compare import PeersConfig, compare_peers
from clearspeech.peers.tables import PeersReports
from clearspeech.tracking.peers import publish_peers

from common import load_section, read_keys, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", required=True, help="Mixture manifest.")
@click.option("--eval-utterances", required=True, help="evaluate's per-mixture scores (CSV).")
@click.option("--model", "model_path", required=True, help="Evaluated checkpoint.")
@click.option("--out", "peers_dir", required=True, help="Peers' wavs (a DVC out).")
@click.option("--summary", required=True, help="Per-system metrics, speed and latency (JSON metrics).")
@click.option("--table", required=True, help="Side-by-side markdown table.")
@click.option("--by-condition", required=True, help="Means per noise x SNR x system (CSV).")
@click.option("--plot", required=True, help="One row per system (plot CSV).")
@click.option("--report", "report_path", required=True, help="Self-contained HTML report of the peers.")
@stage
def main(params_file: str, mixtures: str, eval_utterances: str, model_path: str, peers_dir: str, report_path: str,
         **report_paths: str) -> None:
    """Write the reports and the peers' wavs; log the table into the model's MLflow run."""
    manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
    reports = PeersReports(**{name: Path(path) for name, path in report_paths.items()})
    report = compare_peers(manifest, Path(eval_utterances), Path(model_path),
                           load_section(params_file, "peers", PeersConfig), Path(peers_dir), reports,
                           report_path=Path(report_path))
    publish_peers(Path.cwd(), read_keys(params_file, "mlflow", ("experiment",))["experiment"], Path(model_path),
                  report, [*dataclasses.astuple(reports), Path(report_path)])


if __name__ == "__main__":
    main()
