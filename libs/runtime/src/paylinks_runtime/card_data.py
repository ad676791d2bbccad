"""What a card-data leak looks like, in one place for every suite that scans for one (security, e2e, chaos).

The sandbox processor's test card and bank numbers (CONTRACT.md section 3) are the ones the tests' clients
send to the processor's tokenization; none of them, nor a field named for the card code, may appear in any
table, log line, Kafka record or email (CONTRACT.md: "No event, table, log line or email ever holds a card
number, CVC or bank account number"). The scan helpers here read what a run left behind as text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import asyncpg

OK_CARD = "4242424242424242"  # processed
DECLINED_CARD = "4000000000000002"  # 402 declined
DISPUTED_CARD = "4000000000000259"  # processed, then disputed and lost
INVALID_CARD = "4242424242424241"  # fails the Luhn check: refused before the processor
# A Visa CVC is three digits. With its leading zero no amount, fee, count or process id prints as it, so a
# scan of a long run (thousands of random amounts and fees) does not take one of them for the card code.
CVC = "073"
OK_ACCOUNT = "000123456789"  # eCheck processed
R01_ACCOUNT = "000111111113"  # eCheck failed, R01
R10_ACCOUNT = "000222222227"  # eCheck processed, then returned R10
ROUTING = "110000000"  # passes the ABA checksum

SECRETS = (
    *(OK_CARD, DECLINED_CARD, DISPUTED_CARD, INVALID_CARD, CVC),
    *(OK_ACCOUNT, R01_ACCOUNT, R10_ACCOUNT, ROUTING),
)
# A number standing alone (not part of a longer number, a UUID or a hex digest): what a leak looks like. The
# CVC not after a point or a comma either: "0.073" is a duration, "$2,073.61" an amount, not a card code.
# One lookbehind before the alternation, not one per number: the scan of a long chaos run reads millions of
# lines, and ten leading lookbehinds made it ~9x slower (85 against 9.6 us for a 236-character log line).
LEAK = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(rf"(?<![.,]){number}" if number == CVC else number for number in SECRETS)
    + r")(?![\w-])"
)
# A field named for the card code (JSON, repr or form): not the letters inside a random link token
CVC_FIELD = re.compile(r"""["'](card_)?cvc["']|(?<![\w-])(card_)?cvc=""", re.IGNORECASE)


def card_data_in(text: str) -> list[str]:
    """The distinct secrets and CVC field names found in the text (empty: none)."""
    fields = CVC_FIELD.finditer(text) if "cvc" in text.lower() else ()  # the regex costs more than this
    return sorted({*LEAK.findall(text), *(m.group(0) for m in fields)})


def masked(line: str, limit: int = 500) -> str:
    """A line to show in a failure message, with the secrets replaced (a report must not leak them either)."""
    return LEAK.sub("<SECRET>", line)[:limit]


async def schema_rows(database_url: str, schema: str) -> dict[str, list[str]]:
    """Every row of every table of a schema as text, by table (bytes both decoded and in hex)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        rows: dict[str, list[str]] = {}
        for table in (str(t["table_name"]) for t in tables):
            query = f'SELECT * FROM "{schema}"."{table}"'  # noqa: S608 - catalog names
            rows[table] = [" | ".join(_text(v) for v in row.values()) for row in await conn.fetch(query)]
        return rows
    finally:
        await conn.close()


async def schema_text(database_url: str, schema: str) -> str:
    """Every row of every table of a schema as text, after a line naming the tables."""
    rows = await schema_rows(database_url, schema)
    lines = [text for texts in rows.values() for text in texts]
    return "\n".join([f"-- {schema}: {', '.join(rows)}", *lines])


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") + " " + value.hex()
    return str(value)


def record_text(record: Any) -> str:
    """A Kafka record (aiokafka's ConsumerRecord) as text: topic, key, value and headers."""
    return f"{record.topic} {record.key!r} {record.value!r} {record.headers!r}"


def email_text(raw: bytes) -> str:
    """An email as stored (headers, raw body) and with every text part decoded (base64, quoted-printable)."""
    message = message_from_bytes(raw, policy=default_policy)
    parts = [raw.decode("utf-8", "replace")]
    for part in message.walk():
        if isinstance(part, EmailMessage) and part.get_content_maintype() == "text":
            parts.append(str(part.get_content()))
    return "\n".join(parts)


@dataclass
class CardDataScan:
    """What a scan read (log lines, table rows, Kafka records, emails) and where it found card data."""

    read: Counter[str] = field(default_factory=Counter)
    log_lines: Counter[str] = field(default_factory=Counter)  # per log file name: lines read
    found: list[str] = field(default_factory=list)  # one line per place: where, what (the rest masked)
    found_in: Counter[str] = field(default_factory=Counter)  # places with card data, by kind of place

    def look(self, kind: str, where: str, text: str) -> None:
        self.read[kind] += 1
        hits = card_data_in(text)
        if hits:
            self.found_in[kind] += 1
            self.found.append(f"{where}: {hits} in {masked(text, 300)}")

    def logs(self, paths: Iterable[Path]) -> None:
        for path in sorted(paths):
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                self.log_lines[path.name] += 1
                self.look("log lines", f"{path.name}:{n}", line)

    async def tables(self, database_url: str, schemas: Iterable[str]) -> None:
        for schema in schemas:
            for table, texts in (await schema_rows(database_url, schema)).items():
                for text in texts:
                    self.look("table rows", f"{schema}.{table}", text)

    def records(self, records: Iterable[Any]) -> None:
        """aiokafka ConsumerRecords."""
        for r in records:
            self.look("Kafka records", f"{r.topic}[{r.partition}]@{r.offset}", record_text(r))

    def emails(self, maildir: Path) -> None:
        for path in sorted(maildir.glob("*.eml")):
            self.look("emails", path.name, email_text(path.read_bytes()))

    def summary(self) -> str:
        read = ", ".join(f"{n} {kind}" for kind, n in sorted(self.read.items()))
        return "\n".join([f"card data found in {len(self.found)} places (read {read})", *self.found])
