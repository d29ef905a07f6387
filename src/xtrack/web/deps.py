"""Dependencies shared by routes: the process's database, the request's unit of work and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.db import Database


def database_of(request: Request) -> Database:
    """The process's database (the runtime's, or the one a test or benchmark gave ``create_app``)."""
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database_of(request).session() as session:
        yield session


# The dependencies are ``async def`` even where they only read app state: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop (and a wait for one of its 40 threads) per
# request; under a burst of 500 requests those hops queued (bench/RESULTS.md, issue 28).


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    return database_of(request)


# scope="function": the commit happens before the response is sent, so a client never sees
# success for work that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
