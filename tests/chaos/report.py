"""The chaos report: what was done to the system (faults, inputs) and what was checked afterwards (records,
lost, duplicated). Tests add to it; the session prints it as a table and writes it as JSON."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = ("faults", "inputs", "checked", "lost", "duplicated", "card_data", "notes")
TITLES = {
    "faults": "faults injected",
    "inputs": "inputs tried",
    "checked": "records checked",
    "lost": "lost",
    "duplicated": "duplicated",
    "card_data": "card data found (card, CVC, bank account or routing number)",
    "notes": "tolerated (at-least-once, same id)",
}


@dataclass
class ChaosReport:
    mode: str = "quick"
    seed: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {s: Counter() for s in SECTIONS})
    readiness: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)  # when each fault began and ended (they overlap)
    outcomes: dict[str, str] = field(default_factory=dict)  # test -> passed / failed / xfailed
    timings: dict[str, float] = field(default_factory=dict)
    mutations: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> caught, by, removes
    started: float = field(default_factory=time.time)

    def add(self, section: str, what: str, n: int = 1) -> None:
        self.counts[section][what] += n

    def merge(self, section: str, counter: Counter[str]) -> None:
        self.counts[section].update(counter)

    @property
    def used(self) -> bool:
        return any(self.counts[s] for s in SECTIONS) or bool(self.outcomes) or bool(self.mutations)

    def total(self, section: str) -> int:
        return sum(self.counts[section].values())

    def table(self) -> str:
        lines = [f"chaos report ({self.mode}, seed {self.seed}, {time.time() - self.started:.0f} s)"]
        for section in SECTIONS:
            lines.append(f"  {TITLES[section]:<60} {self.total(section):>8}")
            lines += [f"      {what:<56} {n:>8}" for what, n in sorted(self.counts[section].items())]
        if self.readiness:
            lines.append("  /readyz")
            lines += [f"      {line}" for line in self.readiness]
        if self.mutations:
            caught = sum(1 for m in self.mutations.values() if m["caught"])
            lines.append(f"  {'mutations caught':<60} {caught:>4} of {len(self.mutations)}")
            lines += [
                f"      {name:<16} {'caught' if m['caught'] else 'NOT CAUGHT':<10} by {m['by'] or '-'}"
                for name, m in self.mutations.items()
            ]
        if self.timeline:
            lines.append("  fault timeline (seconds into the load)")
            lines += [f"      {line}" for line in self.timeline]
        lines.append("  tests")
        lines += [
            f"      {result:<8} {self.timings.get(name, 0):5.0f} s  {name}"
            for name, result in self.outcomes.items()
        ]
        lost, duplicated, card_data = (self.total(s) for s in ("lost", "duplicated", "card_data"))
        lines.append(f"  LOST = {lost}, DUPLICATED = {duplicated}, CARD DATA FOUND = {card_data}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "seed": self.seed,
            "seconds": round(time.time() - self.started, 1),
            **{s: {"total": self.total(s), **dict(self.counts[s])} for s in SECTIONS},
            "readiness": self.readiness,
            "mutations caught": self.mutations,
            "timeline": self.timeline,
            "tests": {
                name: {"outcome": r, "seconds": round(self.timings.get(name, 0), 1)}
                for name, r in self.outcomes.items()
            },
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
