"""Frame-by-frame enhancement equals the offline pass, for every causal architecture."""

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.inference.enhancer import Enhancer
from clearspeech.inference.streaming import StreamingEnhancer, StreamingError, streamable

from conftest import real_noisy_speech, write_checkpoint

SMALL = {"crn": {"channels": (4, 4, 8, 8, 8), "rnn_layers": 1}, "rced": {}}


def causal_checkpoint(path, arch: str):
    """A small random-weight checkpoint of ``arch``, with standardisation that is not the identity."""
    return write_checkpoint(path, seed=1, arch=arch, config=SMALL[arch], stats=(0.5, 2.0))


@pytest.mark.parametrize("arch", streamable())
@pytest.mark.parametrize("block", [7, 137, 1600])
def test_streaming_equals_the_offline_pass(tmp_path, shared_data, arch, block):
    enhancer = Enhancer.from_checkpoint(causal_checkpoint(tmp_path / "m.pt", arch))
    noisy = real_noisy_speech(shared_data, seconds=1.0 if block < 100 else 3.0)
    stereo = np.stack([noisy, 0.5 * noisy[::-1]], axis=1)
    offline = np.stack([enhancer.enhance(channel) for channel in stereo.T], axis=1)
    streamer = StreamingEnhancer(enhancer, channels=2)
    pieces = [streamer.process(stereo[i:i + block]) for i in range(0, len(stereo), block)]
    streamed = np.concatenate([*pieces, streamer.flush()])
    assert streamed.shape == offline.shape and np.abs(streamed - offline).max() < 1e-4
    assert streamer.latency_ms == pytest.approx(1000 * (enhancer.params.n_fft - 1) / 16000)


def test_output_comes_out_while_input_goes_in(tmp_path):
    enhancer = Enhancer.from_checkpoint(causal_checkpoint(tmp_path / "m.pt", "crn"))
    streamer = StreamingEnhancer(enhancer, channels=1)
    signal = np.random.default_rng(0).standard_normal((16000, 1)).astype(np.float32) * 0.1
    emitted = [len(streamer.process(signal[i:i + 160])) for i in range(0, 16000, 160)]
    # After the first window, every 10 ms in gives 10 ms out: no more than one window behind.
    assert sum(emitted) >= 16000 - enhancer.params.n_fft and max(emitted[5:]) == 160


def test_offline_models_are_refused(tmp_path):
    with pytest.raises(StreamingError, match="crnn is not causal"):
        StreamingEnhancer(Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt")), channels=1)


def test_enhance_stream_command(tmp_path, shared_data):
    checkpoint = causal_checkpoint(tmp_path / "m.pt", "crn")
    noisy = real_noisy_speech(shared_data, seconds=2.0)
    sf.write(tmp_path / "in.wav", noisy, 16000, subtype="FLOAT")
    result = CliRunner().invoke(main, ["enhance", "-q", "--threads", "1", "--stream", str(tmp_path / "in.wav"),
                                       str(tmp_path / "out.wav"), "-m", str(checkpoint)])
    assert result.exit_code == 0, result.output
    assert "model compute per 10 ms frame, algorithmic latency 19.9 ms" in result.output
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert np.abs(out - Enhancer.from_checkpoint(checkpoint).enhance(noisy)).max() < 1e-4
    sf.write(tmp_path / "44k.wav", noisy[:4410], 44100)
    wrong_rate = CliRunner().invoke(main, ["enhance", "-q", "--threads", "1", "--stream", str(tmp_path / "44k.wav"),
                                           "-m", str(checkpoint)])
    assert wrong_rate.exit_code == 1
    assert "--stream needs audio at the model's 16000 Hz, not 44100 Hz" in wrong_rate.output
    offline = CliRunner().invoke(main, ["enhance", "-q", "--threads", "1", "--stream", str(tmp_path / "in.wav"),
                                        str(tmp_path / "x.wav"), "-m", str(write_checkpoint(tmp_path / "crnn.pt"))])
    assert offline.exit_code == 1 and "--stream needs a causal model" in offline.output
