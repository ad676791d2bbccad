"""The garbage collector of a long-running service process: what start-up built is set aside, once, and in
a process that consumes in batches, the young generation is sized for them.

CPython's cyclic collector walks every container object it tracks; its oldest generation is collected
again and again as the process allocates. A service's start-up leaves a few hundred thousand objects that
live as long as the process (modules, pydantic's validators, OpenTelemetry, the app's routes), so each of
those collections walked all of them again while a consumer decoded a batch. Frozen (`gc.freeze`), they
are never walked again; what the service allocates afterwards is collected as before. The cost measured
on the projection's own decode and plan is in bench/README.md (issue 21, goal 1).

In a process that consumes in batches, the young generation is then sized for its batches. CPython
collects it as soon as the process holds 700 more container objects than at the last collection; a batch
of 2,000 events, decoded and planned, holds some 40,000 (the records, their headers, the events, the
rows), alive until the batch is written, while the next batch is decoded beside it. So every batch set off
dozens of collections that walked its live objects, promoted them, and walked them again in the older
generations: 12-14 % of the projection benchmark's CPU, timed by the collector's own callbacks. Collected
once per batch or two instead, most of a batch's objects are freed by their reference counts before any
collection walks them. Cyclic garbage waits that much longer, so a process without a batch consumer keeps
CPython's thresholds: raised in every service, the notifier's peak RSS under load read 128 MiB against 85
without (bench/README.md, "Session of 2026-12-03 (night)").
"""

from __future__ import annotations

import gc

# The three generations' thresholds: the young one is collected once the process holds 100,000 more objects
# than at the last collection (two batches in flight), the middle one every 20 young collections, the oldest
# every 20 of those (and, by CPython's own rule, only once a quarter of its objects are new).
THRESHOLDS = (100_000, 20, 20)


def freeze_start_up_objects() -> None:
    """Collect start-up's garbage, then exempt every object still alive from later collections; once per
    process (a test process starts many runtimes: later starts would each walk its whole heap again)."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


def size_generations_for_batches() -> None:
    """Collect by batches, not by hundreds of objects (see the module's docstring)."""
    gc.set_threshold(*THRESHOLDS)
