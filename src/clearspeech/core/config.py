"""Building the frozen config dataclasses from plain mappings (a ``params.yaml`` section)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], mapping: Mapping[str, Any]) -> T:
    """Instantiate the dataclass ``cls`` from ``mapping``; lists become tuples (hashable, frozen).

    Unknown or missing keys raise ``ValueError`` naming them, so a typo in ``params.yaml`` is
    reported instead of silently falling back to a default.
    """
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known keys are {sorted(names)}")
    values = {key: tuple(val) if isinstance(val, list) else val for key, val in mapping.items()}
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"{cls.__name__}: {err}") from err
