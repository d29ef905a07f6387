"""PATCH /api/v1/me sets the monthly budget and what happens when it is spent; bad values are 422
naming the field; a new user starts from XTRACK_DEFAULT_MONTHLY_BUDGET_USD."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user
from xtrack.config import Settings
from xtrack.users import service as users_service


async def test_the_budget_is_set_cleared_and_validated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    await session.commit()
    assert (await client.get("/api/v1/me", headers=headers)).json()["monthly_budget_usd"] is None

    set_ = await client.patch(
        "/api/v1/me", headers=headers, json={"monthly_budget_usd": 5, "budget_action": "pause"}
    )
    assert set_.status_code == 200
    assert set_.json()["monthly_budget_usd"] == 5 and set_.json()["budget_action"] == "pause"
    kept = await client.patch("/api/v1/me", headers=headers, json={"theme": "dark"})
    assert kept.json()["monthly_budget_usd"] == 5  # absent: unchanged

    for bad, field in (
        ({"monthly_budget_usd": "lots"}, "monthly_budget_usd"),
        ({"monthly_budget_usd": -1}, "monthly_budget_usd"),
        ({"budget_action": "explode"}, "budget_action"),
    ):
        response = await client.patch("/api/v1/me", headers=headers, json=bad)
        assert response.status_code == 422
        assert field in str(response.json()["detail"])

    cleared = await client.patch("/api/v1/me", headers=headers, json={"monthly_budget_usd": ""})
    assert cleared.status_code == 200 and cleared.json()["monthly_budget_usd"] is None
    assert cleared.json()["budget_action"] == "pause"


async def test_a_new_user_starts_from_the_default_budget(session: AsyncSession, settings: Settings) -> None:
    with_default = settings.model_copy(update={"default_monthly_budget_usd": 3.5})
    user = await users_service.create(
        session, email="budget-default@example.com", password="a long enough password", settings=with_default
    )
    assert user.monthly_budget_usd == 3.5 and user.budget_action == "offline"
