"""observe_all relies on prometheus_client's histogram layout: it must count exactly as observe() does."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from paylinks_runtime.metrics import observe_all

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


def histogram_samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def test_observe_all_counts_as_observe_does_value_by_value() -> None:
    one_by_one, all_at_once = CollectorRegistry(), CollectorRegistry()
    by_value = Histogram("visibility_seconds", "d", ["type"], buckets=BUCKETS, registry=one_by_one)
    in_bulk = Histogram("visibility_seconds", "d", ["type"], buckets=BUCKETS, registry=all_at_once)
    rng = random.Random(7)
    # every bound exactly (a value equal to a bound counts in that bucket), past the last one, and noise
    amounts = [
        *BUCKETS,
        0.0,
        1e9,
        *(rng.expovariate(0.5) for _ in range(500)),
        *(rng.random() for _ in range(500)),
    ]
    for kind, values in (("a", amounts), ("b", amounts[::3]), ("a", [0.3, 0.3])):
        for value in values:
            by_value.labels(kind).observe(value)
        observe_all(in_bulk.labels(kind), values)

    expected, got = histogram_samples(one_by_one), histogram_samples(all_at_once)
    sums = [key for key in expected if key[0].endswith("_sum")]
    assert {k: v for k, v in got.items() if k not in sums} == {
        k: v for k, v in expected.items() if k not in sums
    }
    assert [got[key] for key in sums] == pytest.approx([expected[key] for key in sums], rel=1e-12)  # order
    assert expected[("visibility_seconds_count", (("type", "a"),))] == len(amounts) + 2


def test_observe_all_of_nothing_changes_nothing() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("visibility_seconds", "d", ["type"], buckets=BUCKETS, registry=registry)
    observe_all(histogram.labels("a"), [])
    assert histogram_samples(registry)[("visibility_seconds_count", (("type", "a"),))] == 0
