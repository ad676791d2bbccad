"""The contacts and matters a bill may name, learnt from practice.events (published outside this system)."""

from __future__ import annotations

import asyncpg

from paylinks_events import ContactCreated, MatterOpened
from paylinks_runtime.aggregate import DomainError


class UnknownParty(DomainError):
    """A bill names a matter or contact this service does not know for the caller's firm."""


async def record_contact(conn: asyncpg.Connection, event: ContactCreated) -> None:
    await conn.execute(
        "INSERT INTO contacts (firm_id, contact_id, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (firm_id, contact_id) DO UPDATE SET name = EXCLUDED.name",
        event.firm_id,
        event.contact_id,
        event.name,
    )


async def record_matter(conn: asyncpg.Connection, event: MatterOpened) -> None:
    await conn.execute(
        "INSERT INTO matters (firm_id, matter_id, contact_id, name) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (firm_id, matter_id)"
        " DO UPDATE SET contact_id = EXCLUDED.contact_id, name = EXCLUDED.name",
        event.firm_id,
        event.matter_id,
        event.contact_id,
        event.name,
    )


async def check_parties(conn: asyncpg.Connection, firm_id: str, matter_id: str, contact_id: str) -> None:
    """Refuse a matter or contact that is unknown here or belongs to another firm (never said which)."""
    matter = await conn.fetchval(
        "SELECT 1 FROM matters WHERE firm_id = $1 AND matter_id = $2", firm_id, matter_id
    )
    if matter is None:
        raise UnknownParty("unknown_matter", f"matter {matter_id} is not known")
    contact = await conn.fetchval(
        "SELECT 1 FROM contacts WHERE firm_id = $1 AND contact_id = $2", firm_id, contact_id
    )
    if contact is None:
        raise UnknownParty("unknown_contact", f"contact {contact_id} is not known")
