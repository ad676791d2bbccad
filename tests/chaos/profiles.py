"""How hard the chaos run pushes: the quick profile runs inside `make test`, the full one in `make chaos`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    rate: float  # payments started per second, steadily, while the faults happen
    min_payments: int  # the load goes on (after the last fault) until this many were started
    fault_rounds: int  # each round: SIGKILL every service, SIGKILL Kafka, restart Postgres, in random order
    pause: tuple[float, float]  # seconds between two faults (random in this range): a "random moment"
    firms: int
    bills_per_firm: int
    bill_amount: int
    converge_seconds: float  # after the load: how long the system may take to settle everything
    test_timeout: int
    brokers: int = 1  # 3: a replicated Kafka (replication factor 3, min.insync.replicas 2) under the payments
    replicated: bool = False  # two processes of every service (the replica_kill fault)


QUICK = Profile(
    name="quick",
    rate=6.0,
    min_payments=300,
    fault_rounds=1,
    # Shorter gaps than the full profile's: the faults of one round still fall at random moments of the
    # load (its 300 payments take 50 s; a round's restarts take about 80), and `make test` keeps its time.
    pause=(0.5, 2.5),
    firms=2,
    bills_per_firm=3,
    bill_amount=60_000,
    converge_seconds=150.0,
    test_timeout=420,
)

FULL = Profile(
    name="full",
    rate=10.0,
    min_payments=3000,
    fault_rounds=3,
    pause=(1.0, 8.0),
    firms=4,
    bills_per_firm=8,
    bill_amount=150_000,
    converge_seconds=300.0,
    test_timeout=1200,
    brokers=3,
    replicated=True,
)
