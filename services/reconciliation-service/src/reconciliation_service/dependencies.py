"""What the routes of this service take from the request: the runtime, the service's typed settings, the
writer with this service's tables, a connection, and the staff caller. The service's one dependency module:
the JSON API, the money API, the emailed page and the workspace all take theirs from here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from paylinks_runtime.auth import StaffUser, require_role
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.unit_of_work import Writer

from .config import Settings
from .tables import ReconciliationTables, reconciliation_writer


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def writer_of(request: Request) -> Writer[ReconciliationTables]:
    return reconciliation_writer(runtime_of(request).writer)


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with runtime_of(request).pool.acquire() as conn:
        yield conn


async def staff_user(request: Request) -> StaffUser:
    """The caller, who must hold the staff role (401 / 403 otherwise)."""
    return await require_role("staff", settings_of(request).staff_keys)(request)


Conn = Annotated[asyncpg.Connection, Depends(connection)]
Staff = Annotated[StaffUser, Depends(staff_user)]
