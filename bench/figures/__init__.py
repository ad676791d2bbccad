"""The figures of issue #8, one module each. A module here that defines `FIGURE = Figure(...)` is run by
`python -m bench.run`, in the order of `Figure.number`; nothing needs registering elsewhere.

    async def run(ctx: BenchContext) -> FigureResult: ...
    FIGURE = Figure(number=1, name="projection-ingest", title="...", run=run)
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.model import Figure


def discover() -> list[Figure]:
    figures = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        figure = getattr(module, "FIGURE", None)
        if isinstance(figure, Figure):
            figures.append(figure)
    return sorted(figures, key=lambda f: f.number)
