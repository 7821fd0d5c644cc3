"""DVC stage `peers`: run the installed denoisers on the test mixtures, score them beside the model."""

from pathlib import Path

import click

from clearspeech.core.manifest import read_manifest
from clearspeech.peers.compare import EvaluationMissing, PeersConfig, compare_peers
from clearspeech.tracking.peers import publish_peers
from clearspeech.tracking.publish import MlflowConfig

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", default="data/mixtures/manifest.csv", show_default=True, help="Mixture manifest.")
@click.option("--model", "model_path", default="models/model.pt", show_default=True, help="Evaluated checkpoint.")
@click.option("--out", "peers_dir", default="data/peers", show_default=True, help="Peers' wavs (a DVC out).")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="evaluate's and our tables.")
@click.option("--report", "report_path", default="reports/peers.html", show_default=True, help="HTML report.")
@stage
def main(params_file: str, mixtures: str, model_path: str, peers_dir: str, metrics_dir: str, report_path: str) -> None:
    """Write metrics/peers*.{json,csv,md} and data/peers; log the table into the model's MLflow run."""
    manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
    metrics = Path(metrics_dir)
    try:
        report = compare_peers(manifest, metrics / "eval_utterances.csv", Path(model_path),
                               load_section(params_file, "peers", PeersConfig), Path(peers_dir), metrics,
                               report_path=Path(report_path))
    except EvaluationMissing as err:
        raise SystemExit(f"error: {err}") from err
    files = [metrics / name for name in ("peers.json", "peers_table.md", "peers_by_condition.csv",
                                         "peers_summary.csv")] + [Path(report_path)]
    publish_peers(Path.cwd(), load_section(params_file, "mlflow", MlflowConfig).experiment, Path(model_path),
                  report, files)


if __name__ == "__main__":
    main()
