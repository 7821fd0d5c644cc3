"""Which test mixtures are shown as listening examples (the report and the MLflow run alike).

Light on purpose: the train stage's MLflow code imports it, and must not depend on the metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pick_examples(test: pd.DataFrame, count: int) -> pd.DataFrame:
    """``count`` test mixtures spread evenly over the test set in id order (so different
    speakers, noises and SNRs): the ``mlflow.examples`` of the report and the MLflow run."""
    ordered = test.sort_values("id").reset_index(drop=True)
    if ordered.empty or count <= 0:
        return ordered.iloc[:0]
    return ordered.iloc[np.unique(np.linspace(0, len(ordered) - 1, min(count, len(ordered))).astype(int))]
