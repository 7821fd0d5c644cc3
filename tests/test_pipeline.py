"""End to end: the four data stages through `dvc repro` in a copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clearspeech.features import load_split
from clearspeech.manifest import read_manifest
from conftest import REPO

pytestmark = pytest.mark.slow


def project_copy(tmp_path: Path, overrides: dict[str, dict]) -> Path:
    """The pipeline files in tmp_path with params overridden, as a fresh DVC project."""
    root = tmp_path / "project"
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    dvc(root, "init", "--no-scm", "-q")
    dvc(root, "config", "cache.type", "reflink,hardlink,copy")
    return root


def dvc(root: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_second_repro_is_a_no_op(root: Path) -> None:
    stamp = (root / "data" / "features" / "stats.json").stat().st_mtime_ns
    output = dvc(root, "repro")
    assert "Running stage" not in output
    assert "up to date" in dvc(root, "status")
    assert (root / "data" / "features" / "stats.json").stat().st_mtime_ns == stamp


def test_repro_on_shared_data_gives_6105_mixtures(shared_data, tmp_path):
    noises = ["kitchen", "machine", "water", "music", "playground"]
    root = project_copy(tmp_path, {"download": {"source": "local", "local_dir": str(shared_data), "noises": noises}})
    dvc(root, "repro")
    counts = json.loads((root / "metrics" / "synthesize.json").read_text())
    assert (counts["mixtures"], counts["train_mixtures"], counts["valid_mixtures"], counts["test_mixtures"]) == (
        6105, 4500, 1485, 120)
    assert counts["max_snr_error_db"] < 0.05
    split = read_manifest(root / "data" / "split.csv")
    assert split.groupby("speaker").size().to_dict() == {"bdl": 203, "slt": 204}
    test = load_split(root / "data" / "features", "test")
    assert len(test.index) == 120 and test.noisy.shape[1] == 257
    assert_second_repro_is_a_no_op(root)


def test_repro_with_synthetic_source_needs_no_files(tmp_path):
    root = project_copy(tmp_path, {
        "download": {"source": "synthetic", "synthetic_utterances": 12, "synthetic_noise_seconds": 30.0},
        "split": {"per_speaker": [10, 10], "sizes": [12, 6, 2]},
    })
    dvc(root, "repro")
    manifest = read_manifest(root / "data" / "mixtures" / "manifest.csv")
    assert len(manifest) == 20 * 5 * 3
    assert set(manifest["speaker"]) == {"demo_male", "demo_female"}
    assert_second_repro_is_a_no_op(root)
