import numpy as np
import pytest
import torch

from clearspeech import synthetic
from clearspeech.checkpoint import load_checkpoint
from clearspeech.enhancer import Enhancer

from conftest import write_checkpoint


@pytest.mark.parametrize("samples", [1, 100, 511, 16000, 23457])
def test_any_length_comes_back_with_the_same_length(tmp_path, samples):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    out = enhancer.enhance(np.random.default_rng(0).standard_normal(samples).astype(np.float32) * 0.1)
    assert out.shape == (samples,) and out.dtype == np.float32 and np.isfinite(out).all()


def test_batch_equals_one_by_one(tmp_path):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    batch = np.stack([synthetic.utterance("demo_male", i, 0)[:16000] for i in range(2)])
    np.testing.assert_allclose(enhancer.enhance(batch), np.stack([enhancer.enhance(x) for x in batch]), atol=1e-5)


def test_a_mask_of_ones_gives_back_the_input(tmp_path):
    payload = load_checkpoint(write_checkpoint(tmp_path / "m.pt", target="irm"))
    payload["model_state"]["out.weight"].zero_()
    payload["model_state"]["out.bias"].fill_(30.0)  # sigmoid(30) = 1 - 1e-13
    enhancer = Enhancer(payload)
    speech = synthetic.utterance("demo_female", 1, 0)
    np.testing.assert_allclose(enhancer.enhance(speech), speech, atol=1e-4)


def test_mapping_target_uses_the_clean_statistics(tmp_path):
    payload = load_checkpoint(write_checkpoint(tmp_path / "m.pt", target="mapping"))
    payload["model_state"]["out.weight"].zero_()
    payload["model_state"]["out.bias"].zero_()
    payload["stats"]["clean_mean"] = [float(np.log(1e-3))] * 257  # every bin estimated at magnitude 1e-3
    enhancer = Enhancer(payload)
    out = enhancer.enhance_batch(torch.from_numpy(synthetic.utterance("demo_male", 0, 0))[None])
    assert 0 < float(out.abs().max()) < 0.01
