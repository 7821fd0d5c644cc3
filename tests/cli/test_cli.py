import numpy as np
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.core.audio import read_audio, write_audio
from clearspeech.data import demo
from clearspeech.data.mixing import measured_snr

from conftest import write_local_copy, write_mixtures


def test_help_on_every_command():
    runner = CliRunner()
    for args in ([], ["check-corpus"], ["mix"], ["enhance"], ["export"], ["peers"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_mix_writes_the_requested_snr_and_refuses_to_overwrite(tmp_path):
    clean = demo.utterance("demo_male", 0, seed=0)
    write_audio(tmp_path / "clean.wav", clean, 16000, "PCM_16")
    write_audio(tmp_path / "noise.wav", demo.noise("demo_music", 1.0, seed=0, rate=22050), 22050, "PCM_16")
    args = [str(tmp_path / "clean.wav"), str(tmp_path / "noise.wav"), "--snr", "7", "-o", str(tmp_path / "out.wav")]
    result = CliRunner().invoke(main, ["mix", *args])
    assert result.exit_code == 0, result.output
    noisy, _ = read_audio(tmp_path / "out.wav")
    clean_read, _ = read_audio(tmp_path / "clean.wav")
    assert abs(measured_snr(noisy[:, 0], clean_read[:, 0]) - 7.0) < 0.01
    again = CliRunner().invoke(main, ["mix", *args])
    assert again.exit_code != 0 and "exists" in again.output


def test_mix_names_a_bad_input_file(tmp_path):
    (tmp_path / "clean.wav").write_text("nope")
    write_audio(tmp_path / "noise.wav", np.ones(100, dtype=np.float32) * 0.1, 16000)
    result = CliRunner().invoke(main, ["mix", str(tmp_path / "clean.wav"), str(tmp_path / "noise.wav"),
                                       "--snr", "5", "-o", str(tmp_path / "o.wav")])
    assert result.exit_code == 1 and "clean.wav: not a readable audio file" in result.output
    assert not (tmp_path / "o.wav").exists()


def test_check_corpus_reports_each_group(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=2)
    ok = CliRunner().invoke(main, ["check-corpus", str(local), "--noise", "hum", "--noise", "DTEST"])
    assert ok.exit_code == 0 and ok.output.count("ok ") == 4
    (local / "noise" / "hum" / "bad.ogg").write_bytes(b"junk")
    (local / "noise" / "hum" / "worse.wav").write_bytes(b"junk")
    bad = CliRunner().invoke(main, ["check-corpus", str(local), "--noise", "hum"])
    # Before: only bad.ogg was named.
    assert bad.exit_code == 1 and "bad.ogg" in bad.output and "worse.wav" in bad.output


def test_peers_without_evaluate_outputs_says_what_is_missing(tmp_path):
    write_mixtures(tmp_path / "mixtures").to_csv(tmp_path / "manifest.csv", index=False)
    result = CliRunner().invoke(main, ["peers", "--peer", "webrtc_ns", "--mixtures", str(tmp_path / "manifest.csv"),
                                       "--eval-utterances", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "nope.csv" in result.output and "Traceback" not in result.output
