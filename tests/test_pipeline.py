"""End to end: the pipeline through `dvc repro` in a copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clearspeech.core.manifest import read_manifest
from clearspeech.data.features import load_split

from conftest import REPO, TINY_CRNN

pytestmark = pytest.mark.slow

SHARED_NOISES = ["kitchen", "machine", "water", "music", "playground"]
TINY_TRAINING = {
    "model": {"crnn": TINY_CRNN},
    "train": {"epochs": 2, "steps_per_epoch": 3, "batch_size": 4, "crop_frames": 64, "threads": 1},
    "evaluate": {"valid_mixtures": 4, "threads": 1},
    "mlflow": {"examples": 1},
    # Two quick peers keep the stage's wiring tested without the whole list's minutes.
    "peers": {"peers": ["nsnet2", "webrtc_ns"], "workers": 1},
}


def project_copy(tmp_path: Path, overrides: dict[str, dict], scm: bool = False) -> Path:
    """The pipeline files in tmp_path with params overridden, as a fresh DVC project (in a fresh
    git repository with everything committed when ``scm``, as ``dvc exp run`` needs)."""
    root = tmp_path / "project"
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore", "pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    if scm:
        git(root, "init", "-q")
        dvc(root, "init", "-q")
    else:
        dvc(root, "init", "--no-scm", "-q")
    dvc(root, "config", "cache.type", "reflink,hardlink,copy")
    if scm:
        (root / ".gitignore").write_text("/data/\n/models/\n/checkpoints\n/mlflow.db\n/mlartifacts/\n__pycache__/\n")
        git(root, "add", "-A")
        git(root, "-c", "user.name=test", "-c", "user.email=test@invalid", "commit", "-q", "-m", "project")
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def dvc(root: Path, *args: str, extra_env: dict[str, str] | None = None, ok: bool = True) -> str:
    """stdout of ``dvc args`` in ``root``; with ``ok=False`` it must fail, and stdout + stderr come back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))} | (extra_env or {})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    for role in ("AUTHOR", "COMMITTER"):  # dvc exp run commits; CI may have no git identity
        env.setdefault(f"GIT_{role}_NAME", "clearspeech-tests")
        env.setdefault(f"GIT_{role}_EMAIL", "tests@clearspeech.invalid")
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True)
    assert (done.returncode == 0) == ok, f"dvc {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout if ok else done.stdout + done.stderr


def assert_second_repro_is_a_no_op(root: Path, *targets: str) -> None:
    stamp = (root / "data" / "features" / "stats.json").stat().st_mtime_ns
    output = dvc(root, "repro", *targets)
    assert "Running stage" not in output
    assert "up to date" in dvc(root, "status", *targets)
    assert (root / "data" / "features" / "stats.json").stat().st_mtime_ns == stamp


def test_data_stages_on_shared_data_give_6105_mixtures(shared_data, tmp_path):
    local = {"source": "local", "local_dir": str(shared_data), "noises": SHARED_NOISES}
    root = project_copy(tmp_path, {"download": local})
    dvc(root, "repro", "features")
    counts = json.loads((root / "metrics" / "synthesize.json").read_text())
    assert (counts["mixtures"], counts["train_mixtures"], counts["valid_mixtures"], counts["test_mixtures"]) == (
        6105, 4500, 1485, 120)
    assert counts["max_snr_error_db"] < 0.05
    split = read_manifest(root / "data" / "split.csv")
    assert split.groupby("speaker").size().to_dict() == {"bdl": 203, "slt": 204}
    test = load_split(root / "data" / "features", "test")
    assert len(test.index) == 120 and test.noisy.shape[1] == 257
    assert_second_repro_is_a_no_op(root, "features")


def test_whole_pipeline_on_shared_data_registers_a_champion(shared_data, tmp_path):
    root = project_copy(tmp_path, {
        "download": {"source": "local", "local_dir": str(shared_data), "noises": SHARED_NOISES[:2]},
        "split": {"per_speaker": [6, 6], "sizes": [6, 3, 3]}, **TINY_TRAINING})
    dvc(root, "repro")
    report = json.loads((root / "metrics" / "eval.json").read_text())
    assert report["noisy"]["pesq_wb_n"] == 3 * 2 * 3 and report["model"]["valid_pesq_wb"] > 1.0
    assert json.loads((root / "metrics" / "train.json").read_text())["epochs"] == 2
    assert "eval.json" in dvc(root, "metrics", "show")
    dvc(root, "plots", "show", "-o", str(tmp_path / "plots"))
    assert (tmp_path / "plots" / "index.html").is_file()
    assert_second_repro_is_a_no_op(root)
    from mlflow import MlflowClient
    store = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)  # not the process-wide registry URI
    assert client.get_registered_model("clearspeech").aliases == {"champion": 1}
    run = client.search_runs([client.get_experiment_by_name("clearspeech").experiment_id])[0]
    assert run.info.status == "FINISHED" and "model.pesq_wb" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "valid_loss")) == 2


def test_repro_with_synthetic_source_needs_no_files(tmp_path):
    root = project_copy(tmp_path, {
        "download": {"source": "synthetic", "synthetic_utterances": 12, "synthetic_noise_seconds": 30.0},
        "split": {"per_speaker": [10, 10], "sizes": [12, 6, 2]}, **TINY_TRAINING})
    dvc(root, "repro")
    manifest = read_manifest(root / "data" / "mixtures" / "manifest.csv")
    assert len(manifest) == 20 * 5 * 3
    assert set(manifest["speaker"]) == {"demo_male", "demo_female"}
    assert json.loads((root / "metrics" / "eval.json").read_text())["model"]["pesq_wb_n"] == 2 * 5 * 3
    assert_second_repro_is_a_no_op(root)

    # More epochs: DVC reruns train, which resumes from checkpoints/<signature>/last.pt.
    curve = (root / "metrics" / "train_curve.csv").read_text().splitlines()
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    dvc(root, "repro", "train")
    longer = (root / "metrics" / "train_curve.csv").read_text().splitlines()
    # Rows 1-2 equal to the byte, "seconds" included: they were resumed, not retrained.
    assert len(longer) == 1 + 3 and longer[:3] == curve


ARCH_SIZES = {
    "crn": {"channels": [4, 4, 8, 8, 8], "rnn_layers": 1},
    "rced": {"repeats": 1},
    "autoencoder": {"channels": [4, 8]},
    "segan": {"window": 1024, "channels": [4, 8, 8, 16, 16], "kernel": 7},
}


def test_every_architecture_through_dvc_exp_run(tmp_path):
    overrides = {"download": {"source": "synthetic", "synthetic_utterances": 8, "synthetic_noise_seconds": 20.0},
                 "split": {"per_speaker": [6, 6], "sizes": [6, 4, 2]}, **TINY_TRAINING, "peers": {"peers": []}}
    overrides["model"] = {**TINY_TRAINING["model"], **ARCH_SIZES}
    root = project_copy(tmp_path, overrides, scm=True)
    # crn stands for the spectral models with their own STFT (rced and the autoencoder take the
    # same path and train through train() in test_train_architectures.py); segan is the waveform
    # GAN. All four cost 5 minutes here, half the suite's budget.
    for arch in ("crn", "segan"):
        dvc(root, "exp", "run", "-n", f"arch-{arch}", "-S", f"model.arch={arch}")
        report = json.loads((root / "metrics" / "eval.json").read_text())
        assert report["model"]["pesq_wb_n"] == 2 * 5 * 3 and json.loads(
            (root / "metrics" / "train.json").read_text())["arch"] == arch
    shown = dvc(root, "exp", "show", "--csv")
    assert "arch-crn" in shown and "arch-segan" in shown
