"""The report figures: real PNGs, written atomically."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from clearspeech.evaluation.plots import plot_curve, plot_spectrograms

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, tmp_path):
    """``path`` is a decodable PNG of a plausible size and the only file left in ``tmp_path``."""
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and 5_000 < len(data) < 2_000_000
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 200 and width > 400
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary files left


def test_plot_curve(tmp_path):
    curve = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_loss": [1.0, 0.5, 0.3, 0.25],
                          "valid_loss": [1.2, 0.7, 0.6, 0.65], "lr": [1e-3, 1e-3, 5e-4, 5e-4],
                          "seconds": [1.0, 1.0, 1.0, 1.0]})
    plot_curve(curve, tmp_path / "curve.png")
    assert_png(tmp_path / "curve.png", tmp_path)


def test_plot_curve_with_negative_loss(tmp_path):
    curve = pd.DataFrame({"epoch": [1, 2], "train_loss": [-1.0, -2.0], "valid_loss": [-0.5, -1.5], "lr": [1e-3, 1e-3]})
    plot_curve(curve, tmp_path / "curve.png")
    assert_png(tmp_path / "curve.png", tmp_path)


def test_plot_spectrograms(tmp_path):
    rate = 16000
    t = np.arange(rate) / rate
    clean = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    dest = tmp_path / "spectrograms.png"
    plot_spectrograms({"noisy": noisy, "enhanced": 0.9 * noisy, "clean": clean}, rate, dest, "mixture 0001")
    assert_png(dest, tmp_path)


def test_plot_spectrograms_needs_a_signal(tmp_path):
    with pytest.raises(ValueError, match="at least one signal"):
        plot_spectrograms({}, 16000, tmp_path / "x.png", "empty")
    assert not list(tmp_path.iterdir())
