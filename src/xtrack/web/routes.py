"""Every feature's routers, in one place: the API under /api/v1, the pages at the root."""

from __future__ import annotations

from fastapi import APIRouter

API_ROUTERS: list[APIRouter] = []
PAGE_ROUTERS: list[APIRouter] = []
