"""Option types that refuse non-finite numbers (``nan``, ``inf``) with click's one-line error."""

from __future__ import annotations

import math

import click


class FiniteFloat(click.ParamType):
    """A finite float, optionally bounded below (``minimum``, inclusive unless ``strict``)."""

    name = "float"

    def __init__(self, minimum: float | None = None, strict: bool = False) -> None:
        self.minimum, self.strict = minimum, strict

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.minimum is not None and (number <= self.minimum if self.strict else number < self.minimum):
            self.fail(f"{value!r} must be {'>' if self.strict else '>='} {self.minimum:g}", param, ctx)
        return number


FINITE = FiniteFloat()
FINITE_POSITIVE = FiniteFloat(0.0, strict=True)
FINITE_NON_NEGATIVE = FiniteFloat(0.0)
