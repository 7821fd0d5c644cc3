"""End to end: the pipeline through `dvc repro` in a copy of the project."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from clearspeech.core.manifest import read_manifest
from clearspeech.data.features import load_split

from conftest import REPO, SHARED_DATA, TINY_CRNN

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
    return DvcRun(root, args, extra_env).wait(ok)


class DvcRun:
    """``dvc ARGS`` in ``root``, started now in its own process group; :meth:`wait` gives its
    stdout, or fails the test with its output. Output goes to files, so a long run never blocks
    on a full pipe while the test does something else."""

    def __init__(self, root: Path, args: tuple[str, ...], extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))} | (extra_env or {})
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        for role in ("AUTHOR", "COMMITTER"):  # dvc exp run commits; CI may have no git identity
            env.setdefault(f"GIT_{role}_NAME", "clearspeech-tests")
            env.setdefault(f"GIT_{role}_EMAIL", "tests@clearspeech.invalid")
        self.root, self.args, self.output = root, args, None
        self.logs = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=root, env=env, text=True,
                                        stdout=self.logs[0], stderr=self.logs[1], start_new_session=True)

    def wait(self, ok: bool = True) -> str:
        if self.output is None:
            returncode = self.process.wait()
            stdout, stderr = (self._read(log) for log in self.logs)
            assert (returncode == 0) == ok, f"dvc {' '.join(self.args)} exited {returncode}:\n{stdout}\n{stderr}"
            self.output = stdout if ok else stdout + stderr
        return self.output

    @staticmethod
    def _read(log) -> str:
        log.seek(0)
        text = log.read()
        log.close()
        return text

    def stop(self) -> None:
        """End the run if it is still going (a test failed before waiting for it)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait()


def assert_second_repro_is_a_no_op(root: Path, *targets: str) -> None:
    stamp = (root / "data" / "features" / "stats.json").stat().st_mtime_ns
    output = dvc(root, "repro", *targets)
    assert "Running stage" not in output
    assert "up to date" in dvc(root, "status", *targets)
    assert (root / "data" / "features" / "stats.json").stat().st_mtime_ns == stamp


ARCH_SIZES = {
    "crn": {"channels": [4, 4, 8, 8, 8], "rnn_layers": 1},
    "rced": {"repeats": 1},
    "autoencoder": {"channels": [4, 8]},
    "segan": {"window": 1024, "channels": [4, 8, 8, 16, 16], "kernel": 7},
}

# The DVC projects the tests below assert on: (params overrides, git repository?, first command).
# Each is built and run once per session; several tests share one, in file order.
PROJECTS = {
    "features_project": (
        {"download": {"source": "local", "local_dir": str(SHARED_DATA), "noises": SHARED_NOISES}},
        False, ("repro", "features")),
    "shared_project": (
        {"download": {"source": "local", "local_dir": str(SHARED_DATA), "noises": SHARED_NOISES[:2]},
         "split": {"per_speaker": [6, 6], "sizes": [6, 3, 3]}, **TINY_TRAINING},
        False, ("repro",)),
    "synthetic_project": (
        {"download": {"source": "synthetic", "synthetic_utterances": 12, "synthetic_noise_seconds": 30.0},
         "split": {"per_speaker": [10, 10], "sizes": [12, 6, 2]}, **TINY_TRAINING,
         "model": {**TINY_TRAINING["model"], **ARCH_SIZES}},
        True, ("repro",)),
}
NEEDS_SHARED_DATA = ("features_project", "shared_project")


@pytest.fixture(scope="module")
def started(request, tmp_path_factory):
    """The first run of every project a selected test needs, all started at once. A run is mostly
    one process at a time on one core (imports, a tiny model), so on two cores they overlap: the
    module's wall time is about half the sum of its runs. Tests wait only for their own project."""
    wanted = {name for item in request.session.items for name in item.fixturenames if name in PROJECTS}
    if not (SHARED_DATA / "arctic").is_dir():
        wanted -= set(NEEDS_SHARED_DATA)  # their tests skip, saying why, through `shared_data`
    runs = {}
    for name in sorted(wanted, key=list(PROJECTS).index):
        overrides, scm, args = PROJECTS[name]
        runs[name] = DvcRun(project_copy(tmp_path_factory.mktemp(name), overrides, scm), args)
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope="module")
def features_project(started, shared_data) -> Path:
    """``dvc repro features`` on ../shared/data at the default counts."""
    started["features_project"].wait()
    return started["features_project"].root


@pytest.fixture(scope="module")
def shared_project(started, shared_data) -> Path:
    """The whole ``dvc repro`` on a small part of ../shared/data with a tiny CRNN and two peers."""
    started["shared_project"].wait()
    return started["shared_project"].root


@pytest.fixture(scope="module")
def synthetic_project(started) -> Path:
    """The whole ``dvc repro`` on the synthetic source, in a git repository (for ``dvc exp run``).
    The last test, ``dvc exp run``, leaves an experiment's results in the workspace."""
    started["synthetic_project"].wait()
    return started["synthetic_project"].root


def test_data_stages_on_shared_data_give_6105_mixtures(features_project):
    root = features_project
    counts = json.loads((root / "metrics" / "synthesize.json").read_text())
    assert (counts["mixtures"], counts["train_mixtures"], counts["valid_mixtures"], counts["test_mixtures"]) == (
        6105, 4500, 1485, 120)
    assert counts["max_snr_error_db"] < 0.05
    split = read_manifest(root / "data" / "split.csv")
    assert split.groupby("speaker").size().to_dict() == {"bdl": 203, "slt": 204}
    test = load_split(root / "data" / "features", "test")
    assert len(test.index) == 120 and test.noisy.shape[1] == 257
    assert_second_repro_is_a_no_op(root, "features")


def test_whole_pipeline_on_shared_data_registers_a_champion(shared_project, tmp_path):
    root = shared_project
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


def test_repro_with_synthetic_source_needs_no_files(synthetic_project):
    root = synthetic_project
    manifest = read_manifest(root / "data" / "mixtures" / "manifest.csv")
    assert len(manifest) == 20 * 5 * 3
    assert set(manifest["speaker"]) == {"demo_male", "demo_female"}
    assert json.loads((root / "metrics" / "eval.json").read_text())["model"]["pesq_wb_n"] == 2 * 5 * 3
    assert_second_repro_is_a_no_op(root)
    assert_stages_rerun_exactly_when_what_they_read_changes(root)


def test_more_epochs_resume_from_the_persisted_checkpoint(synthetic_project):
    # More epochs: DVC reruns train, which resumes from checkpoints/<signature>/last.pt.
    root = synthetic_project
    curve = (root / "metrics" / "train_curve.csv").read_text().splitlines()
    original = (root / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["train"]["epochs"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        dvc(root, "repro", "train")
        longer = (root / "metrics" / "train_curve.csv").read_text().splitlines()
    finally:
        (root / "params.yaml").write_text(original)
    # Rows 1-2 equal to the byte, "seconds" included: they were resumed, not retrained.
    assert len(longer) == 1 + 3 and longer[:3] == curve


def stale(root: Path, *stages: str) -> set[str]:
    """The ``stages`` whose deps or params changed since they ran (``dvc status`` runs nothing)."""
    return set(json.loads(dvc(root, "status", "--json", *stages)))


@contextlib.contextmanager
def edited(path: Path, change: Callable[[str], str]) -> Iterator[None]:
    original = path.read_text()
    path.write_text(change(original))
    try:
        yield
    finally:
        path.write_text(original)


def params_edit(section: str, *keys: str, value) -> Callable[[str], str]:
    def change(text: str) -> str:
        params = yaml.safe_load(text)
        node = params[section]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        return yaml.safe_dump(params)
    return change


def assert_stages_rerun_exactly_when_what_they_read_changes(root: Path) -> None:
    """On a reproduced project: each change makes stale the stages that read it, and only those."""
    params, src = root / "params.yaml", root / "src" / "clearspeech"
    assert stale(root, "train", "evaluate") == set()
    with edited(params, params_edit("mlflow", "examples", value=2)):  # read by evaluate only
        assert stale(root, "train", "evaluate") == {"evaluate"}
    with edited(params, params_edit("model", "segan", "l1_weight", value=50.0)):  # not the chosen arch
        assert stale(root, "train", "evaluate") == set()
    with edited(params, params_edit("model", "crnn", "dropout", value=0.1)):  # the chosen one
        assert stale(root, "train", "evaluate") == {"train"}
    with edited(params, params_edit("train", "lr", value=0.002)):
        assert stale(root, "train", "evaluate") == {"train"}
    with edited(src / "training" / "trainer.py", lambda text: text + "# touched\n"):
        assert "train" in stale(root, "train", "evaluate")
    with edited(src / "evaluation" / "metrics.py", lambda text: text + "# touched\n"):  # evaluate's only
        assert stale(root, "train", "evaluate") == {"evaluate"}
    assert stale(root, "train", "evaluate") == set()


def test_every_architecture_through_dvc_exp_run(synthetic_project):
    root = synthetic_project
    # crn stands for the spectral models with their own STFT (rced and the autoencoder take the
    # same path and train through train() in tests/training/test_architectures.py); segan is the
    # waveform GAN. The data stages are cached from the fixture's repro; peers are left out.
    for arch in ("crn", "segan"):
        dvc(root, "exp", "run", "-n", f"arch-{arch}", "-S", f"model.arch={arch}", "-S", "peers.peers=[]")
        report = json.loads((root / "metrics" / "eval.json").read_text())
        assert report["model"]["pesq_wb_n"] == 2 * 5 * 3 and json.loads(
            (root / "metrics" / "train.json").read_text())["arch"] == arch
    shown = dvc(root, "exp", "show", "--csv")
    assert "arch-crn" in shown and "arch-segan" in shown
