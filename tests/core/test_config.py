"""Every params section is checked when it is read, with the key named (issue 14, case 5)."""

import dataclasses

import pytest
import yaml

from clearspeech.core.config import above, from_mapping, non_empty, validate
from clearspeech.data.download import DownloadConfig
from clearspeech.data.features import FeaturesConfig
from clearspeech.data.split import SplitConfig
from clearspeech.data.synthesize import SynthesizeConfig
from clearspeech.evaluation.evaluate import EvaluateConfig
from clearspeech.models import ModelParams
from clearspeech.peers.compare import PeersConfig
from clearspeech.tracking.publish import MlflowConfig
from clearspeech.training.trainer import TrainConfig

from conftest import REPO

SECTIONS = {"download": DownloadConfig, "split": SplitConfig, "synthesize": SynthesizeConfig,
            "features": FeaturesConfig, "model": ModelParams, "train": TrainConfig, "evaluate": EvaluateConfig,
            "mlflow": MlflowConfig, "peers": PeersConfig}
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def test_the_projects_params_are_valid():
    for section, cls in SECTIONS.items():
        from_mapping(cls, PARAMS[section])


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "lr", -1, "train.lr: must be > 0, got -1"),
    ("train", "epochs", "ten", "train.epochs: must be an integer, got 'ten'"),
    ("train", "epochs", 2.5, "train.epochs: must be an integer"),
    ("train", "batch_size", 0, "train.batch_size: must be >= 1"),
    ("train", "lr_factor", 1.0, "train.lr_factor: must be < 1"),
    ("train", "device", "gpu", "train.device: must be auto or a torch device"),
    ("train", "loss", "l1", "train.loss: must be one of"),
    ("train", "max_minutes", float("nan"), "train.max_minutes: must be a finite number"),
    ("synthesize", "snrs", [], "synthesize.snrs: must not be empty"),
    ("synthesize", "snrs", [10, "x"], "synthesize.snrs: every value must be a finite number"),
    ("synthesize", "regions", [0.5, 0.5], "synthesize.regions: must be a list of 3 values"),
    ("synthesize", "peak", 1.5, "synthesize.peak: must be <= 1"),
    ("synthesize", "noise_segment", "end", "synthesize.noise_segment: must be one of"),
    ("download", "speakers", [], "download.speakers: must not be empty"),
    ("download", "retries", -1, "download.retries: must be >= 0"),
    ("download", "seed", -3, "download.seed: must be >= 0"),
    ("split", "sizes", [3, 0, 1], "split.sizes: every value must be >= 1"),
    ("split", "max_duration", 0, "split.max_duration: must be > 0"),
    ("features", "hop", 1024, "features.hop: must be <= 512"),
    ("features", "window", "kaiser", "features.window: must be one of"),
    ("features", "dtype", "int8", "features.dtype: must be one of"),
    ("features", "workers", -1, "features.workers: must be >= 0"),
    ("model", "arch", "transformer", "model.arch: must be one of"),
    ("model", "crnn", {"channels": 0}, "model.crnn: model.crnn.channels: must be >= 1"),
    ("model", "segan", {"window": "big"}, "model.segan: model.segan.window: must be an integer"),
    ("evaluate", "valid_mixtures", 0, "evaluate.valid_mixtures: must be >= 1"),
    ("evaluate", "threads", -1, "evaluate.threads: must be >= 0"),
    ("mlflow", "registered_model", "", "mlflow.registered_model: must not be empty"),
    ("mlflow", "examples", -1, "mlflow.examples: must be >= 0"),
    ("peers", "timeout", 0, "peers.timeout: must be > 0"),
    ("peers", "peers", ["nope"], "peers.peers: unknown peer 'nope'"),
])
def test_a_bad_value_names_its_key(section, key, value, message):
    with pytest.raises(ValueError) as raised:
        from_mapping(SECTIONS[section], {**PARAMS[section], key: value})
    assert str(raised.value).startswith(message)


def test_validate_checks_annotated_types_then_rules():
    @dataclasses.dataclass(frozen=True)
    class Section:
        rate: float = 1.0
        names: tuple[str, ...] = ("a",)
        flag: bool = False

        def __post_init__(self) -> None:
            validate(self, "section", rate=above(0), names=non_empty)

    assert Section(rate=2).rate == 2  # an int is a number
    for changes, message in (({"rate": True}, "section.rate: must be a finite number, got True"),
                             ({"rate": -1.0}, "section.rate: must be > 0, got -1.0"),
                             ({"names": ()}, "section.names: must not be empty, got ()"),
                             ({"names": ("a", 3)}, "section.names: every value must be a string"),
                             ({"flag": "yes"}, "section.flag: must be true or false, got 'yes'")):
        with pytest.raises(ValueError) as raised:
            Section(**changes)
        assert str(raised.value) == message or str(raised.value).startswith(message)


def test_a_rule_for_a_missing_field_is_a_programming_error():
    @dataclasses.dataclass(frozen=True)
    class Section:
        rate: float = 1.0

    with pytest.raises(TypeError, match="no fields"):
        validate(Section(), "section", rte=above(0))
