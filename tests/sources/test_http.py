"""The sources' HTTP pool: big pools are split into shards that together hold exactly the
configured number of connections."""

from __future__ import annotations

import asyncio
import time

from tests.sources.fakes import FakeX
from xtrack.sources.http import SHARD_CONNECTIONS, SourceHttp


async def test_a_big_pool_is_sharded_and_holds_exactly_its_connections_in_flight(
    fake_x: tuple[FakeX, str],
) -> None:
    fake, base_url = fake_x
    alice = fake.add_user("alice")
    fake.delay = 2.0  # every answer takes a while: requests pile up at the pool's limit
    http = SourceHttp(
        source_name="x",
        base_url=base_url,
        public_url="http://xtrack.test",
        timeout=10.0,
        max_retries=0,
        headers={"Authorization": "Bearer good-token"},
        max_connections=2 * SHARD_CONNECTIONS,
    )
    assert len(http.clients) == 2
    calls = [asyncio.create_task(http.get(f"/2/users/{alice.id}/tweets")) for _ in range(70)]
    try:
        deadline = time.monotonic() + 10
        while fake.count("/tweets") < 2 * SHARD_CONNECTIONS and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        # Both shards' connections are busy and not one more request left: 64 of the 70 arrived.
        assert fake.count("/tweets") == 2 * SHARD_CONNECTIONS
        replies = await asyncio.gather(*calls)
        assert {reply.response.status_code for reply in replies} == {200}
        assert fake.count("/tweets") == 70
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await http.aclose()
