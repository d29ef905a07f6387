"""Every feature's routers, in one place: the API under /api/v1, the pages at the root."""

from __future__ import annotations

from fastapi import APIRouter

from xtrack.executions.router import router as executions_router
from xtrack.jobs.router import router as jobs_router
from xtrack.playground.router import router as playground_router
from xtrack.summaries.router import router as summaries_router
from xtrack.users.account_pages import router as users_account_pages
from xtrack.users.admin_pages import router as users_admin_pages
from xtrack.users.pages import router as users_pages
from xtrack.users.router import router as users_router
from xtrack.web.connect import router as connect_pages

API_ROUTERS: list[APIRouter] = []
API_ROUTERS += [jobs_router, executions_router, summaries_router]
PAGE_ROUTERS: list[APIRouter] = []
API_ROUTERS += [users_router]
PAGE_ROUTERS += [users_pages, users_account_pages, users_admin_pages]
PAGE_ROUTERS += [connect_pages]
API_ROUTERS += [playground_router]
from xtrack.executions.pages import router as executions_pages  # noqa: E402
from xtrack.jobs.pages import router as jobs_pages  # noqa: E402
from xtrack.playground.pages import router as playground_pages  # noqa: E402
from xtrack.summaries.pages import router as summaries_pages  # noqa: E402

PAGE_ROUTERS += [jobs_pages, executions_pages, summaries_pages, playground_pages]
from xtrack.summaries.router import feed_router, feeds_api_router  # noqa: E402

API_ROUTERS += [feeds_api_router]
PAGE_ROUTERS += [feed_router]
from xtrack.notify.pages import router as notify_pages  # noqa: E402
from xtrack.notify.router import router as notify_router  # noqa: E402

API_ROUTERS += [notify_router]
PAGE_ROUTERS += [notify_pages]
