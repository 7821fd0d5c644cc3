"""One base class for what the user can fix; every library error keeps its built-in base too."""

import importlib
import subprocess
import sys

import pytest

from clearspeech.core.errors import UserError

from conftest import REPO

ERRORS = [
    ("clearspeech.core.audio", "AudioError", ValueError),
    ("clearspeech.core.manifest", "ManifestError", ValueError),
    ("clearspeech.data.archives", "ArchiveError", ValueError),
    ("clearspeech.data.archives", "UnsafeArchiveError", ValueError),
    ("clearspeech.data.download", "CorpusError", ValueError),
    ("clearspeech.data.fetch", "DownloadError", RuntimeError),
    ("clearspeech.data.fetch", "ChecksumError", RuntimeError),
    ("clearspeech.data.split", "SplitError", ValueError),
    ("clearspeech.evaluation.metrics", "MetricError", ValueError),
    ("clearspeech.inference.streaming", "StreamingError", ValueError),
    ("clearspeech.models.checkpoint", "CheckpointError", ValueError),
    ("clearspeech.peers.base", "PeerUnavailable", RuntimeError),
    ("clearspeech.peers.compare", "EvaluationMissing", ValueError),
    ("clearspeech.tracking.model_source", "ModelSourceError", ValueError),
    ("clearspeech.tracking.store", "ModelNotFound", LookupError),
    ("clearspeech.training.trainer", "TrainingDiverged", RuntimeError),
]


@pytest.mark.parametrize(("module", "name", "builtin"), ERRORS, ids=[name for _, name, _ in ERRORS])
def test_error_is_a_user_error_and_keeps_its_base(module, name, builtin):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, UserError) and issubclass(cls, builtin)


def test_stage_helpers_and_split_load_no_model_and_no_torch():
    """Catching UserError costs nothing: the split stage imports no architecture, no torch, no MLflow."""
    code = ("import sys; sys.path.insert(0, 'stages'); import split; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mlflow') "
            "or m.startswith(('clearspeech.models', 'clearspeech.training'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
