"""The results: one table, each figure beside its baseline, printed and written as Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
HEADERS = ("#", "metric", "value", "baseline", "ratio", "goal", "met")
MET = {True: "yes", False: "NO", None: "-"}


def figure_entry(number: int, name: str, title: str, **fields: Any) -> dict[str, Any]:
    """A figure's record in results.json: rows are already Measurement.to_json() dicts."""
    return {"number": number, "name": name, "title": title, **fields}


def merge(path: Path, run: dict[str, Any]) -> dict[str, Any]:
    """This run's figures replace the same figures of earlier runs; the others are kept (--only runs)."""
    previous = json.loads(path.read_text()).get("figures", []) if path.exists() else []
    fresh = {f["number"] for f in run["figures"]}
    kept = [f for f in previous if f["number"] not in fresh]
    return {**run, "figures": sorted(kept + run["figures"], key=lambda f: f["number"])}


def table_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for fig in results["figures"]:
        if fig.get("error"):
            rows.append((str(fig["number"]), f"{fig['title']}: FAILED", fig["error"], "", "", "", "NO"))
        for row in fig.get("rows", []):
            rows.append((str(fig["number"]), *_cells(row)))
    return rows


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    unit = row["unit"]
    baseline = row["baseline_value"]
    return (
        row["metric"],
        f"{_num(row['value'])} {unit}",
        f"{_num(baseline)} {unit}" if baseline is not None else "-",
        f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-",
        " and ".join(row["goals"]) or "-",
        MET[row["met"]],
    )


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def text_table(results: dict[str, Any]) -> str:
    rows = [HEADERS, *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", *_baselines(results)])


def markdown(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            "# Benchmark results",
            "",
            _machine_line(results["machine"]),
            "",
            *_md_table(results),
            "",
            *_bullets(results),
            "",
            *_notes(results),
        ]
    )


def _md_table(results: dict[str, Any]) -> list[str]:
    rows = table_rows(results)
    return [_md_row(HEADERS), _md_row(tuple("---" for _ in HEADERS)), *map(_md_row, rows)]


def _bullets(results: dict[str, Any]) -> list[str]:
    return [
        "Baselines, measured in the same run as each figure:",
        "",
        *(f"- {b}" for b in _baselines(results)),
    ]


def _md_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _baselines(results: dict[str, Any]) -> list[str]:
    return [f"{f['number']}. {f['title']}: baseline = {f.get('baseline', '-')}" for f in results["figures"]]


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"Measured {m['date']} at commit {m['commit']} on {m['nproc']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB RAM; Python {m['python']}, Kafka {m['kafka']}, PostgreSQL {m['postgres']}, "
        f"aiokafka {m['aiokafka']}, asyncpg {m['asyncpg']}, uvloop {m.get('uvloop', '-')}; "
        f"load average {m['load_average_1m']} at the start."
    )


def _notes(results: dict[str, Any]) -> list[str]:
    lines = ["## How each figure was measured", ""]
    for fig in results["figures"]:
        load = "load average {} -> {}".format(*fig.get("load_average_1m", ["?", "?"]))
        when = f" (measured {fig['measured_at']}{', --quick' if fig.get('quick') else ''}, {load})"
        lines += [f"### {fig['number']}. {fig['title']}{when}", ""]
        lines += [f"- {note}" for note in fig.get("notes", [])]
        lines.append("")
    return lines


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Put the table between the README's results markers."""
    text = readme.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    table = "\n".join([_machine_line(results["machine"]), "", *_md_table(results), "", *_bullets(results)])
    readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")


def write(out_dir: Path, results: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results) + "\n")
    return json_path, md_path
