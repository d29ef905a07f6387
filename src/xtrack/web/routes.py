"""Every feature's routers, in one place: the API under /api/v1, the pages at the root."""

from __future__ import annotations

from fastapi import APIRouter

from xtrack.executions.router import router as executions_router
from xtrack.jobs.router import router as jobs_router
from xtrack.summaries.router import router as summaries_router
from xtrack.users.admin_pages import router as users_admin_pages
from xtrack.users.pages import router as users_pages
from xtrack.users.router import router as users_router

API_ROUTERS: list[APIRouter] = []
API_ROUTERS += [jobs_router, executions_router, summaries_router]
PAGE_ROUTERS: list[APIRouter] = []
API_ROUTERS += [users_router]
PAGE_ROUTERS += [users_pages, users_admin_pages]
