"""Frozen config dataclasses from plain mappings (a ``params.yaml`` section), checked on creation.

Each section's dataclass calls :func:`validate` from ``__post_init__``: every field's type comes
from its annotation, ranges and choices from small rules, and a bad value is reported with its
key (``train.lr: must be > 0, got -1.0``) before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# A rule returns what is wrong with a value ("must be > 0"), or None when the value is fine.
Rule = Callable[[Any], str | None]


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


def _each(value: Any) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _bound(test: Callable[[Any], bool], text: str) -> Rule:
    """A rule on a number, or on every number of a list."""
    def rule(value: Any) -> str | None:
        if all(test(item) for item in _each(value)):
            return None
        return f"{'every value ' if isinstance(value, tuple | list) else ''}must be {text}"
    return rule


def above(bound: float) -> Rule:
    return _bound(lambda value: value > bound, f"> {bound}")


def at_least(bound: float) -> Rule:
    return _bound(lambda value: value >= bound, f">= {bound}")


def below(bound: float) -> Rule:
    return _bound(lambda value: value < bound, f"< {bound}")


def at_most(bound: float) -> Rule:
    return _bound(lambda value: value <= bound, f"<= {bound}")


def one_of(choices: Collection[str]) -> Rule:
    """A choice, or a list of choices."""
    return _bound(lambda value: value in choices, f"one of {sorted(choices)}")


def non_empty(value: Any) -> str | None:
    return None if len(value) else "must not be empty"


def _type_problem(value: Any, kind: Any) -> str | None:
    """What keeps ``value`` from being a ``kind`` (int, float, str, bool, tuples of them, Mapping)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if kind is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else "must be a finite number"
    if kind is str:
        return None if isinstance(value, str) else "must be a string"
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return "must be a list"
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return f"must be a list of {len(args)} values"
        problems = (_type_problem(item, item_kind) for item, item_kind in zip(value, args, strict=True))
        return next((f"every value {problem}" for problem in problems if problem), None)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return None if isinstance(value, Mapping) else "must be a mapping"
    return None


def validate(config: Any, section: str, **rules: Rule | tuple[Rule, ...]) -> None:
    """Check the dataclass instance ``config`` (the ``section`` of ``params.yaml``): each field
    against its annotated type, then against ``rules[field]``. The first problem raises
    ``ValueError("<section>.<field>: <problem>, got <value>")``."""
    names = [field.name for field in dataclasses.fields(config)]
    if stray := set(rules) - set(names):
        raise TypeError(f"{type(config).__name__} has no fields {sorted(stray)}")
    hints = typing.get_type_hints(type(config))
    for name in names:
        value = getattr(config, name)
        problem = _type_problem(value, hints[name])
        checks = rules.get(name, ())
        for rule in checks if isinstance(checks, tuple) else (checks,):
            problem = problem or rule(value)
        if problem:
            raise ValueError(f"{section}.{name}: {problem}, got {value!r}")
