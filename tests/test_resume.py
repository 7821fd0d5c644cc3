"""The README's `dvc exp run` survives a killed training run, and reruns write the same bytes
(issue 14, cases 6 and 7), in a fresh git + DVC copy of the project."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from test_pipeline import TINY_TRAINING, dvc, project_copy

from clearspeech.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

TINY_DATA = {"download": {"source": "synthetic", "synthetic_utterances": 4, "synthetic_noise_seconds": 10.0},
             "split": {"per_speaker": [4, 4], "sizes": [4, 2, 2]}, "synthesize": {"snrs": [20.0]}}

# Loaded by every Python process of the run (PYTHONPATH); in the train stage it SIGKILLs the
# process right after the epoch-1 checkpoint is written: a kill at a known point, at any speed.
KILL_HOOK = textwrap.dedent("""
    import os, signal, sys
    if sys.argv and sys.argv[0].endswith("train.py") and os.environ.get("KILL_AFTER_EPOCH"):
        from clearspeech.training import trainer
        save = trainer.Trainer._save
        def _save(self, row):
            save(self, row)
            if row["epoch"] >= int(os.environ["KILL_AFTER_EPOCH"]):
                os.kill(os.getpid(), signal.SIGKILL)
        trainer.Trainer._save = _save
""")


def test_a_killed_dvc_exp_run_resumes_when_rerun(tmp_path):
    overrides = {**TINY_DATA, **TINY_TRAINING, "peers": {"peers": []}}
    root = project_copy(tmp_path, overrides, scm=True)
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(KILL_HOOK)
    # The README's command shape (a named experiment with -S overrides), up to the train stage.
    command = ("exp", "run", "train", "-n", "resumable", "-S", "train.epochs=3", "-S", "model.crnn.channels=4")
    killed = dvc(root, *command, extra_env={"PYTHONPATH": str(tmp_path / "hook"), "KILL_AFTER_EPOCH": "1"}, ok=False)
    assert "Running stage 'train'" in killed and "epoch 2:" not in killed
    [last] = (root / "checkpoints").rglob("last.pt")
    epoch_1 = load_checkpoint(last)["history"]

    dvc(root, *command)
    assert len(epoch_1) == 1 and load_checkpoint(last)["history"][:1] == epoch_1  # its seconds too: resumed
    summary = json.loads((root / "metrics" / "train.json").read_text())
    assert summary["epochs"] == 3
    assert len((root / "metrics" / "train_curve.csv").read_text().splitlines()) == 1 + 3


def mixtures_hash(root: Path) -> str:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["synthesize"]["outs"] if out["path"] == "data/mixtures")


def test_rerunning_synthesize_keeps_the_dvc_hash(tmp_path):
    root = project_copy(tmp_path, TINY_DATA)
    dvc(root, "repro", "synthesize")
    first = mixtures_hash(root)
    # A forced rerun of the stage alone writes every file again (a second or more later).
    dvc(root, "repro", "--force", "--single-item", "synthesize")
    assert mixtures_hash(root) == first
