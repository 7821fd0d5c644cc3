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
