"""The split stage: pick utterances per speaker and divide them into train / valid / test.

Stratified by speaker: each speaker's chosen utterances are shuffled and spread evenly over the
combined order (utterance ``i`` of ``n`` sits at position ``(i + 0.5) / n``), which is then cut
into the three sizes. Every split so receives each speaker in proportion, within one utterance.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from clearspeech.core.config import above, at_least, non_empty, validate
from clearspeech.core.errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


class SplitError(UserError, ValueError):
    """The corpus cannot provide the requested split."""


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """The ``split`` section of ``params.yaml``.

    ``per_speaker`` pairs with the speakers in the raw manifest's order (``download.speakers``
    for ARCTIC: male ``bdl`` first, then female ``slt``).
    """

    seed: int = 0
    max_duration: float = 5.0
    per_speaker: tuple[int, ...] = (203, 204)
    sizes: tuple[int, int, int] = (300, 99, 8)

    def __post_init__(self) -> None:
        validate(self, "split", seed=at_least(0), max_duration=above(0), per_speaker=(non_empty, at_least(0)),
                 sizes=at_least(1))
        if sum(self.per_speaker) != sum(self.sizes):
            raise ValueError(
                f"split.per_speaker {self.per_speaker} sums to {sum(self.per_speaker)} but "
                f"split.sizes {self.sizes} sums to {sum(self.sizes)}"
            )


def split_utterances(raw: pd.DataFrame, cfg: SplitConfig) -> pd.DataFrame:
    """Choose and split speech rows of the raw manifest.

    Returns one row per chosen utterance: utterance_id, speaker, utterance, split, path,
    duration, sample_rate; sorted by split then id.
    """
    speech = raw[(raw["kind"] == "speech") & (raw["duration"] <= cfg.max_duration)]
    speakers = list(dict.fromkeys(raw.loc[raw["kind"] == "speech", "speaker"]))
    if len(speakers) != len(cfg.per_speaker):
        raise SplitError(f"split.per_speaker has {len(cfg.per_speaker)} counts but the corpus has speakers {speakers}")
    rng = np.random.default_rng(cfg.seed)
    chosen = []
    for speaker, count in zip(speakers, cfg.per_speaker):
        pool = speech[speech["speaker"] == speaker].sort_values("name")
        if len(pool) < count:
            raise SplitError(
                f"speaker {speaker!r} has {len(pool)} utterances of at most {cfg.max_duration} s, "
                f"but split.per_speaker asks for {count}"
            )
        picked = pool.iloc[rng.permutation(len(pool))[:count]].copy()
        picked["position"] = (np.arange(count) + 0.5) / count
        chosen.append(picked)
    ordered = pd.concat(chosen).sort_values(["position", "speaker"], kind="stable")
    ordered["split"] = np.repeat(SPLITS, cfg.sizes)
    out = pd.DataFrame({
        "utterance_id": ordered["speaker"] + "_" + ordered["name"],
        "speaker": ordered["speaker"],
        "utterance": ordered["name"],
        "split": ordered["split"],
        "path": ordered["path"],
        "duration": ordered["duration"],
        "sample_rate": ordered["sample_rate"],
    })
    out["split"] = pd.Categorical(out["split"], SPLITS, ordered=True)
    out = out.sort_values(["split", "utterance_id"]).reset_index(drop=True)
    out["split"] = out["split"].astype(str)
    log.info("split: %s", out.groupby(["split", "speaker"]).size().to_dict())
    return out
