from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.summaries.models import Summary
from xtrack.summaries.usage import CostTotals, cost_totals


async def test_cost_totals_sum_only_the_users_summaries(session: AsyncSession) -> None:
    alice = await make_user(session)
    bob = await make_user(session)
    now = datetime.now(UTC)
    session.add_all(
        [
            Summary(user_id=alice.id, content="a", model="gpt-4o-mini", input_tokens=1000, output_tokens=100,
                    cost=0.0002, is_playground=True, created_at=now - timedelta(days=10)),
            Summary(user_id=alice.id, content="b", model="gpt-4o-mini", input_tokens=500, output_tokens=50,
                    cost=0.0001, created_at=now),
            Summary(user_id=alice.id, content="c", model="extractive", created_at=now),
            Summary(user_id=bob.id, content="d", model="gpt-4o", input_tokens=9999, output_tokens=999,
                    cost=1.5),
        ]
    )  # fmt: skip
    await session.flush()

    totals = await cost_totals(session, user_id=alice.id)
    assert totals.input_tokens == 1500 and totals.output_tokens == 150 and totals.summaries == 3
    assert abs(totals.cost - 0.0003) < 1e-9
    recent = await cost_totals(session, user_id=alice.id, since=now - timedelta(days=1))
    assert (recent.input_tokens, recent.summaries) == (500, 2)
    nobody = await make_user(session)
    assert await cost_totals(session, user_id=nobody.id) == CostTotals(0, 0, 0.0, 0)
