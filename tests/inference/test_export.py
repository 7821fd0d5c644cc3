import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.core.files import file_digest
from clearspeech.inference.enhancer import Enhancer
from clearspeech.inference.export import INPUT, OUTPUT, export_onnx, metadata_path
from clearspeech.models.checkpoint import load_checkpoint

from conftest import onnx_enhance, real_noisy_speech, write_checkpoint


@pytest.mark.parametrize("target", ["irm", "mapping"])
def test_onnx_matches_pytorch_on_real_speech(tmp_path, shared_data, target):
    checkpoint = write_checkpoint(tmp_path / "m.pt", seed=3, target=target)
    meta = export_onnx(load_checkpoint(checkpoint), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    speech = real_noisy_speech(shared_data, seconds=12.0)
    waves = np.stack([speech[:160000], speech[-160000:]])  # batch 2, though exported with batch 1
    reference = Enhancer.from_checkpoint(checkpoint).enhance(waves)
    assert np.abs(onnx_enhance(session, meta, waves) - reference).max() < 1e-4
    short = speech[:5000][None]  # another length, batch 1
    assert np.abs(onnx_enhance(session, meta, short) - Enhancer.from_checkpoint(checkpoint).enhance(short)).max() < 1e-4


def test_metadata_describes_the_graph(tmp_path):
    export_onnx(load_checkpoint(write_checkpoint(tmp_path / "m.pt")), tmp_path / "m.onnx")
    meta = json.loads(metadata_path(tmp_path / "m.onnx").read_text())
    assert meta["sha256"] == file_digest(tmp_path / "m.onnx")
    assert (meta["sample_rate"], meta["n_fft"], meta["hop"], meta["bins"]) == (16000, 512, 128, 257)
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert {p.key: p.value for p in model.metadata_props}["sample_rate"] == "16000"
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert inputs == {INPUT: ["batch", "frames", 257]} and model.graph.output[0].name == OUTPUT


def test_export_command_refuses_to_overwrite(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "m.pt")
    args = ["export", "-m", str(checkpoint), "-o", str(tmp_path / "out.onnx")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "out.json").is_file()  # was folded into the message above, so never checked
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "out.onnx: exists (use --force to overwrite)" in again.output
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0
    wrong = CliRunner().invoke(main, ["export", "-m", str(checkpoint), "-o", str(tmp_path / "out.bin")])
    assert wrong.exit_code == 1 and "must end in .onnx" in wrong.output


@pytest.mark.parametrize(("arch", "config"), [
    ("crn", {"channels": [4, 4, 8, 8, 8], "rnn_layers": 1}), ("rced", {"repeats": 1}),
    ("autoencoder", {"channels": [4, 8]}),
])
def test_every_spectral_architecture_exports_with_parity(tmp_path, shared_data, arch, config):
    checkpoint = write_checkpoint(tmp_path / "m.pt", arch=arch, config=config, stats=(0.5, 2.0))
    meta = export_onnx(load_checkpoint(checkpoint), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    speech = real_noisy_speech(shared_data, seconds=4.0)
    waves = np.stack([speech[:30000], speech[-30000:]])
    assert np.abs(onnx_enhance(session, meta, waves) - Enhancer.from_checkpoint(checkpoint).enhance(waves)).max() < 1e-4


def test_the_waveform_model_is_refused(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "m.pt", arch="segan", config={"window": 1024, "channels": [4, 8]})
    with pytest.raises(ValueError, match="segan is a waveform model"):
        export_onnx(load_checkpoint(checkpoint), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
