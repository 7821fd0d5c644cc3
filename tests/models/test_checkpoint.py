import pytest
import torch

from clearspeech.models.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint

from conftest import write_checkpoint


def test_round_trip_gives_identical_outputs(tmp_path):
    path = write_checkpoint(tmp_path / "a.pt", seed=3)
    payload = load_checkpoint(path)
    first, second = model_from_checkpoint(payload), model_from_checkpoint(load_checkpoint(path))
    features = torch.randn(2, 30, 257)
    assert torch.equal(first(features), second(features))
    assert not first.training
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_bad_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "other.pt", {"weights": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="other.pt: not a ClearSpeech checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def _broken(tmp_path, change) -> str:
    payload = load_checkpoint(write_checkpoint(tmp_path / "ok.pt"))
    change(payload)
    save_checkpoint(tmp_path / "bad.pt", payload)
    return str(tmp_path / "bad.pt")


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["model_config"].update(rnn_hidden=16), r"weights do not match the model config"),
    (lambda p: p.update(stats={}), r"stats\.noisy_mean has 0 values"),
    (lambda p: p["stft"].update(sample_rate=0), r"stft\.sample_rate is 0"),
    (lambda p: p["model_state"]["out.bias"].fill_(float("nan")), r"weights contain NaN or infinite values"),
])
def test_inconsistent_checkpoints_are_one_line_naming_the_file(tmp_path, change, message):
    # Before: RuntimeError (size mismatch), KeyError 'noisy_mean', ZeroDivisionError, silent NaN output.
    with pytest.raises(CheckpointError, match=rf"bad\.pt: inconsistent checkpoint \(.*{message}"):
        load_checkpoint(_broken(tmp_path, change))


def test_a_pickled_payload_is_refused_without_suggesting_the_unsafe_load(tmp_path):
    import os

    torch.save({"x": os.getcwd}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path / "evil.pt")
    assert "evil.pt: not a readable checkpoint (" in str(caught.value) and "GLOBAL posix.getcwd" in str(caught.value)
    assert "weights_only" not in str(caught.value) and "\n" not in str(caught.value)
