"""Run the benchmarks: `python -m bench.run [--only NAME ...] [--quick] [--profile] [--out DIR]`.

Each figure runs in turn (in its own schema and topics), its baseline measured in the same run; the table
is printed and written to bench/results/ (results.json, results.md). A missed goal is reported, not an
error: the exit status is non-zero only when a figure could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import machine, report
from bench.context import BenchContext
from bench.figures import discover
from bench.model import Figure, FigureResult
from paylinks_runtime.logs import setup_logging
from paylinks_runtime.tracing import setup_tracing

HERE = Path(__file__).resolve().parent
RESULTS, README = HERE / "results", HERE / "README.md"
FIGURE_TIMEOUT = 900  # seconds: a broker or database gone mid-run fails the figure instead of hanging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", action="extend", metavar="NAME", help="figure names or numbers")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (own output dir)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument each figure into <out>/profiles")
    parser.add_argument("--out", type=Path, help="output dir (default bench/results, --quick: .../quick)")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    return parser.parse_args(argv)


def select(figures: list[Figure], only: list[str] | None) -> list[Figure]:
    if not only:
        return figures
    chosen = [f for f in figures if f.name in only or str(f.number) in only]
    unknown = set(only) - {f.name for f in chosen} - {str(f.number) for f in chosen}
    if unknown:
        raise SystemExit(f"unknown figure(s): {', '.join(sorted(unknown))}; see --list")
    return chosen


@contextlib.contextmanager
def profiled(enabled: bool, out_dir: Path, name: str) -> Iterator[None]:
    """Profile the block with pyinstrument (asyncio-aware) and save HTML and text reports."""
    if not enabled:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        folder = out_dir / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.html").write_text(profiler.output_html())
        (folder / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))


async def run_figure(figure: Figure, ctx: BenchContext, profile: bool) -> dict[str, Any]:
    print(f"== {figure.number}. {figure.title} ...", flush=True)
    began, measured_at = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    result, error = FigureResult(baseline="-"), None
    try:
        with profiled(profile, ctx.out_dir, figure.name):
            async with asyncio.timeout(ctx.size(FIGURE_TIMEOUT, FIGURE_TIMEOUT // 5)):
                result = await figure.run(ctx)
    except Exception as exc:
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration = time.perf_counter() - began
    print(f"   done in {duration:.0f} s" + (f": FAILED {error}" if error else ""), flush=True)
    return report.figure_entry(
        figure.number,
        figure.name,
        figure.title,
        measured_at=measured_at,
        quick=ctx.quick,
        duration_s=round(duration, 1),
        load_average_1m=[round(load_before, 2), round(os.getloadavg()[0], 2)],  # others' work is noise
        baseline=result.baseline,
        rows=[row.to_json() for row in result.rows],
        notes=result.notes,
        data=result.data,
        error=error,
    )


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = select(discover(), args.only)
    if args.list:
        print("\n".join(f"{f.number}. {f.name}: {f.title}" for f in figures))
        return 0
    setup_logging("bench", "WARNING")
    setup_tracing("bench")  # as a service process has it: spans are made (not exported)
    ctx = BenchContext(quick=args.quick, out_dir=args.out or (RESULTS / "quick" if args.quick else RESULTS))
    await ctx.groups_ready()
    run: dict[str, Any] = {"machine": await machine.describe(ctx.database_url), "figures": []}
    for figure in figures:
        run["figures"].append(await run_figure(figure, ctx, args.profile))
    results = report.merge(ctx.out_dir / "results.json", run)
    print("\n" + report.text_table(results))
    paths = report.write(ctx.out_dir, results)
    if ctx.out_dir == RESULTS:
        report.update_readme(README, results)
    print("\nwritten: " + ", ".join(str(p) for p in paths))
    return 1 if any(f["error"] for f in run["figures"]) else 0


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))  # the event loop the services run on (paylinks_runtime.http.serve)
