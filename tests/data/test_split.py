import pandas as pd
import pytest

from clearspeech.data.split import SplitConfig, SplitError, split_utterances


def raw_manifest(per_speaker=(240, 240), long_every=10):
    rows = []
    for speaker, count in zip(("bdl", "slt"), per_speaker):
        for i in range(count):
            rows.append({"path": f"/raw/{speaker}/a{i:04d}.wav", "kind": "speech", "speaker": speaker, "noise": "",
                         "name": f"a{i:04d}", "sample_rate": 16000,
                         "duration": 6.0 if i % long_every == 0 else 2.0 + (i % 7) * 0.4})
    rows.append({"path": "/raw/n/x.wav", "kind": "noise", "speaker": "", "noise": "n", "name": "x",
                 "sample_rate": 16000, "duration": 300.0})
    return pd.DataFrame(rows)


def test_default_split_counts_are_stratified_and_short():
    out = split_utterances(raw_manifest(), SplitConfig())
    assert out.groupby("speaker").size().to_dict() == {"bdl": 203, "slt": 204}
    assert out.groupby("split").size().to_dict() == {"train": 300, "valid": 99, "test": 8}
    assert (out["duration"] <= 5.0).all()
    by = out.groupby(["split", "speaker"]).size()
    for split, size in (("train", 300), ("valid", 99), ("test", 8)):
        assert abs(by[split]["bdl"] - size * 203 / 407) <= 1
        assert abs(by[split]["slt"] - size * 204 / 407) <= 1


def test_split_is_disjoint_and_deterministic():
    first = split_utterances(raw_manifest(), SplitConfig(seed=3))
    again = split_utterances(raw_manifest(), SplitConfig(seed=3))
    other = split_utterances(raw_manifest(), SplitConfig(seed=4))
    pd.testing.assert_frame_equal(first, again)
    assert first["utterance_id"].is_unique
    assert first["utterance_id"].tolist() != other["utterance_id"].tolist()  # the seed matters
    by_split = first.groupby("split")["utterance_id"].apply(set)
    assert not (by_split["train"] & by_split["valid"] or by_split["train"] & by_split["test"]
                or by_split["valid"] & by_split["test"])


def test_too_few_utterances_is_a_clear_error():
    with pytest.raises(SplitError, match=r"speaker 'slt' has \d+ utterances of at most 5.0 s, .* asks for 204"):
        split_utterances(raw_manifest(per_speaker=(240, 200)), SplitConfig())


def test_inconsistent_counts_are_rejected():
    with pytest.raises(ValueError, match="sums to"):
        SplitConfig(per_speaker=(10, 10), sizes=(10, 5, 2))
    with pytest.raises(SplitError, match="speakers"):
        split_utterances(raw_manifest(), SplitConfig(per_speaker=(100, 100, 207)))
