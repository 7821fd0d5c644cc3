from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.inference.enhancer import Enhancer

from conftest import real_noisy_speech, write_checkpoint


@pytest.fixture
def model(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "model.pt")


def run(*args: str):
    return CliRunner().invoke(main, ["enhance", "-q", "--threads", "1", *args])


def test_one_file_in_one_file_out(tmp_path, model, shared_data):
    noisy = real_noisy_speech(shared_data, seconds=3.0)
    sf.write(tmp_path / "noisy.wav", noisy, 16000, subtype="PCM_16")
    result = run(str(tmp_path / "noisy.wav"), str(tmp_path / "clean.wav"), "-m", str(model))
    assert result.exit_code == 0, result.output
    assert "enhanced 1 of 1 files (0 failed, 0 refused): 3.0 s of audio in" in result.output
    assert "real-time factor" in result.output
    out, rate = sf.read(tmp_path / "clean.wav", dtype="float32")
    read_back, _ = sf.read(tmp_path / "noisy.wav", dtype="float32")
    expected = Enhancer.from_checkpoint(model).enhance(read_back)
    assert rate == 16000 and np.abs(out - expected).max() < 2 / 32768  # PCM_16 like the input
    again = run(str(tmp_path / "noisy.wav"), "-o", str(tmp_path / "clean.wav"), "-m", str(model))
    assert again.exit_code == 1 and "clean.wav exists (use --force to overwrite)" in again.output


def test_every_bad_input_gets_one_line_and_the_good_files_still_get_done(tmp_path, model, shared_data):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.flac", real_noisy_speech(shared_data, seconds=2.0), 16000, subtype="PCM_16")
    (folder / "text.wav").write_text("not audio at all\n" * 50)
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "no_samples.wav", np.zeros(0, dtype=np.float32), 16000)
    sf.write(folder / "short.wav", np.full(100, 0.1, dtype=np.float32), 16000)
    sf.write(folder / "nan.wav", np.array([0.1] * 8000 + [np.nan] + [0.1] * 8000, dtype=np.float32), 16000,
             subtype="FLOAT")
    result = run(str(folder), "-o", str(tmp_path / "out"), "-m", str(model))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5 and "Traceback" not in result.output
    for name, cause in [("text.wav", "not a readable audio file"), ("empty.wav", "not a readable audio file"),
                        ("no_samples.wav", "has no samples"), ("short.wav", "shorter than one STFT frame"),
                        ("nan.wav", "NaN or infinite samples")]:
        assert any(f"{folder / name}: " in line and cause in line for line in errors), (name, errors)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.flac"]
    assert "enhanced 1 of 6 files (5 failed, 0 refused)" in result.output


def test_a_missing_model_is_one_line(tmp_path):
    sf.write(tmp_path / "a.wav", np.full(16000, 0.1, dtype=np.float32), 16000)
    result = run(str(tmp_path / "a.wav"), "-m", str(tmp_path / "nope.pt"))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: --model {tmp_path / 'nope.pt'}: checkpoint not found"
    assert not (tmp_path / "a_enhanced.wav").exists()


def test_the_default_registry_model_without_a_store_says_what_to_do(tmp_path, monkeypatch):
    sf.write(tmp_path / "a.wav", np.full(16000, 0.1, dtype=np.float32), 16000)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    result = run("a.wav")
    assert result.exit_code == 1 and "models:/clearspeech@champion: no MLflow store at sqlite:///" in result.output
    assert not (tmp_path / "mlflow.db").exists()  # looking did not create an empty store


def test_bad_chunking_options_are_refused_before_any_file(tmp_path, model):
    sf.write(tmp_path / "a.wav", np.full(16000, 0.1, dtype=np.float32), 16000)
    result = run(str(tmp_path / "a.wav"), "-m", str(model), "--chunk", "0.1", "--context", "1")
    assert result.exit_code == 1 and "bad chunk plan" in result.output
    assert not (tmp_path / "a_enhanced.wav").exists()
