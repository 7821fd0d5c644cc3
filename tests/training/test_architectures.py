"""Every architecture through the same train() and Enhancer, on the small generated feature store."""

import numpy as np
import pytest
import torch

from clearspeech.core.stft import SpectralFrontEnd, StftParams
from clearspeech.data import demo
from clearspeech.data.features import load_split
from clearspeech.inference.enhancer import Enhancer
from clearspeech.models import ModelParams
from clearspeech.models.checkpoint import load_checkpoint
from clearspeech.training.batches import WaveCropBatches
from clearspeech.training.frontend import waveform_stats
from clearspeech.training.trainer import TrainConfig, Trainer, train

FAST = TrainConfig(device="cpu", threads=1, epochs=2, batch_size=2, crop_frames=32, steps_per_epoch=2)
SMALL = {
    "crn": {"channels": [4, 4, 8, 8, 8], "rnn_layers": 1},
    "rced": {},
    "autoencoder": {"channels": [4, 8]},
    "segan": {"window": 1024, "channels": [4, 8, 8, 16, 16], "kernel": 7},
}


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_each_architecture_trains_saves_and_enhances(feature_store, tmp_path, arch):
    features, _ = feature_store
    target = "waveform" if arch == "segan" else "irm"
    params = ModelParams(arch=arch, target="irm", **{arch: SMALL[arch]})
    summary = train(features, params, FAST, tmp_path / "ckpt", tmp_path / "model.pt", tmp_path / "train.json",
                    tmp_path / "train_curve.csv")
    assert summary["epochs"] == 2 and np.isfinite(summary["best_valid_loss"])
    payload = load_checkpoint(tmp_path / "model.pt")
    assert payload["arch"] == arch and payload["target"] == target
    enhancer = Enhancer(payload)
    speech = demo.utterance("demo_female", 3, seed=0)[:12345]
    out = enhancer.enhance(speech)
    assert out.shape == speech.shape and np.isfinite(out).all() and np.abs(out - speech).max() > 1e-4
    # The chunked path of `clearspeech enhance` and the registered pyfunc, at another rate.
    chunked = enhancer.enhance_signal(np.stack([speech, speech], axis=1)[:9000], 22050)
    assert chunked.shape == (9000, 2) and np.isfinite(chunked).all()


def test_own_front_ends_use_their_stft_and_train_statistics(feature_store):
    features, _ = feature_store
    split = load_split(features, "train")
    front = SpectralFrontEnd(StftParams(320, 160, "hamming", 16000))
    stats = waveform_stats(split, front)
    assert len(stats["noisy_mean"]) == 161 and min(stats["clean_std"]) > 0
    trainer = Trainer(features, ModelParams(arch="crn", crn=SMALL["crn"]), FAST, "unused")
    stft = trainer.base["stft"]
    assert stft["n_fft"] == 320 and stft["bins"] == 161 and trainer.base["stats"] == stats


def test_waveform_crops_cover_the_mixtures_and_pad_short_ones(feature_store):
    features, _ = feature_store
    split = load_split(features, "valid")
    batches = WaveCropBatches(split, 10**6, 8)  # longer than every mixture
    noisy, clean, lengths = next(batches.central_batches())
    assert (lengths == split.index["samples"].to_numpy()).all()
    first = split.index.iloc[0]
    np.testing.assert_array_equal(noisy[0, :first.samples], split.noisy_wave[:first.samples].astype(np.float32))
    assert not noisy[0, first.samples:].any() and clean.shape == noisy.shape


def test_segan_resumes_with_its_discriminator(feature_store, tmp_path):
    features, _ = feature_store
    params = ModelParams(arch="segan", segan=SMALL["segan"])
    first = Trainer(features, params, FAST, tmp_path)
    first.run()
    again = Trainer(features, params, TrainConfig(**{**FAST.__dict__, "epochs": 3}), tmp_path)
    assert again.resume() and again.state["epoch"] == 2
    for left, right in zip(first.task.discriminator.parameters(), again.task.discriminator.parameters()):
        assert torch.equal(left, right)
