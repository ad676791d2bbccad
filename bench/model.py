"""What a figure reports: rows of measurements, each beside its baseline, with the goals they are held to."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .context import BenchContext

_OPS = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Goal:
    """A threshold on a row's value (`of="value"`) or on value / baseline (`of="ratio"`)."""

    op: Literal[">=", ">", "<", "<="]
    threshold: float
    of: Literal["value", "ratio"] = "value"

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = value if self.of == "value" else ratio
        return None if subject is None else _OPS[self.op](subject, self.threshold)

    def describe(self, unit: str) -> str:
        if self.of == "ratio":
            return f"{self.op} {self.threshold:g}x baseline"
        return f"{self.op} {self.threshold:,.6g} {unit}"


@dataclass(frozen=True)
class Measurement:
    """One row of the table: a metric of the system beside the same metric of the baseline."""

    metric: str
    value: float
    unit: str
    baseline_value: float | None = None
    goals: tuple[Goal, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        """True/False when the row has goals, None when it is informational."""
        if not self.goals:
            return None
        verdicts = [goal.met(self.value, self.ratio) for goal in self.goals]
        return None if None in verdicts else all(verdicts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["goals"] = [goal.describe(self.unit) for goal in self.goals]
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


@dataclass
class FigureResult:
    """Everything one figure measured. `baseline` names what the baseline column is."""

    baseline: str
    rows: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # raw material (e.g. for plots), kept in the JSON


FigureRun = Callable[["BenchContext"], Awaitable[FigureResult]]


@dataclass(frozen=True)
class Figure:
    """A benchmark of issue #8. A module under bench/figures/ exposes one as `FIGURE`."""

    number: int
    name: str  # for --only
    title: str
    run: FigureRun
