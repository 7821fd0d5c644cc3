"""A model registered before the layout moved into subpackages (commit 0bfbba2) still serves.

The fixture is that model exactly as MLflow saved it: ``MLmodel``, the models-from-code
``pyfunc_model.py`` that imports ``clearspeech.enhancer`` (the old flat layout), the old package
under ``code/`` (``code_paths``) and a tiny random-weight checkpoint. ``mlflow models serve``
loads a model in a fresh interpreter, where the model's own ``code/`` copy comes first on
``sys.path``; ``clearspeech enhance -m`` reads only the checkpoint artifact, whose format the
new layout keeps.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.inference.enhancer import Enhancer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model_layout_0bfbba2.tar.gz"


@pytest.fixture
def old_model(tmp_path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    model = tmp_path / "model"
    assert "from clearspeech.enhancer import Enhancer" in (model / "pyfunc_model.py").read_text()
    return model


def test_the_old_pyfunc_loads_and_predicts_in_a_fresh_interpreter(old_model, tmp_path):
    code = (
        "import sys, numpy as np, mlflow\n"
        f"model = mlflow.pyfunc.load_model({str(old_model)!r})\n"
        "x = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32) * 0.1\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, model.predict(x))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    # The same weights through the new layout's Enhancer give the same waveforms.
    x = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32) * 0.1
    enhancer = Enhancer.from_checkpoint(old_model / "artifacts" / "tiny.pt")
    expected = enhancer.enhance_signal(x.T, enhancer.sample_rate).T
    assert out.shape == (2, 8000) and np.abs(out - expected).max() < 1e-5


def test_clearspeech_enhance_takes_the_old_model_from_the_registry(old_model, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment("old", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(old_model), "model")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("clearspeech")
    version = client.create_model_version("clearspeech", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("clearspeech", "champion", version.version)
    rate, samples = 16000, 16000
    noisy = (0.1 * np.random.default_rng(1).standard_normal(samples)).astype(np.float32)
    sf.write(tmp_path / "noisy.wav", noisy, rate, subtype="FLOAT")
    result = CliRunner().invoke(main, ["enhance", str(tmp_path / "noisy.wav"), "-o", str(tmp_path / "enhanced.wav"),
                                       "-m", "models:/clearspeech@champion", "--quiet"])
    assert result.exit_code == 0, result.output
    enhanced, out_rate = sf.read(tmp_path / "enhanced.wav", dtype="float32")
    assert out_rate == rate and enhanced.shape == (samples,) and np.isfinite(enhanced).all()
