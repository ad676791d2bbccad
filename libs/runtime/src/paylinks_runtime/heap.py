"""The garbage collector of a long-running service process: what start-up built is set aside, once.

CPython's cyclic collector walks every container object it tracks; its oldest generation is collected
again and again as the process allocates. A service's start-up leaves a few hundred thousand objects that
live as long as the process (modules, pydantic's validators, OpenTelemetry, the app's routes), so each of
those collections walked all of them again while a consumer decoded a batch. Frozen (`gc.freeze`), they
are never walked again; what the service allocates afterwards is collected as before. The cost measured
on the projection's own decode and plan is in bench/README.md (issue 21, goal 1).
"""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> None:
    """Collect start-up's garbage, then exempt every object still alive from later collections; once per
    process (a test process starts many runtimes: later starts would each walk its whole heap again)."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
