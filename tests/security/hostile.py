"""Hostile strings, and what a response must never show."""

from __future__ import annotations

import re

import pytest

SCRIPT = "<script>alert(1)</script>"
SQL_DROP = "'; DROP TABLE bills; --"
SQL_TAUTOLOGY = "' OR '1'='1"
ATTRIBUTE_BREAKOUT = '"><img src=x onerror=alert(1)>'
HEADER_BREAKOUT = "Eve\r\nBcc: thief@evil.example\r\nX-Injected: 1"

# Strings that go into filters: each must be taken as the literal text it is.
FILTER_INJECTIONS = (
    SQL_TAUTOLOGY,
    SQL_DROP,
    "1; SELECT pg_sleep(5)--",
    "' UNION SELECT payment_id, firm_id FROM payments--",
    "%",
    "_",
    "\\",
    SCRIPT,
)

# A NUL character in text is refused at the edge (422) by every service: the fuzzer sends it too.
FUZZ_WITH_NUL = True
FUZZ_DICTIONARY = (
    *FILTER_INJECTIONS,
    ATTRIBUTE_BREAKOUT,
    HEADER_BREAKOUT,
    "\u202egnp.exe",
    "\ufeff",
    "💸" * 50,
    "A" * 10_000,
    "../../../../etc/passwd",
    "{{7*7}}",
    "${jndi:ldap://127.0.0.1/a}",
    "-1",
    "1e309",
    "NaN",
    *(("\x00", "a\x00b") if FUZZ_WITH_NUL else ()),
)

# Stack traces, exception class names, driver internals: none may reach a client.
_INTERNALS = re.compile(
    r"Traceback|File \"|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|asyncpg|psycopg|sqlstate|jinja2|pydantic_core"
    r"|site-packages|/work/"
)


def leaked_internals(text: str) -> list[str]:
    return sorted(set(_INTERNALS.findall(text)))


# The services share this process and keep running (and drawing from `random`: Kafka clients, jitter)
# while hypothesis generates in a worker thread; hypothesis takes that for a strategy using `random`.
HYPOTHESIS_IN_A_BUSY_PROCESS = [
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]
