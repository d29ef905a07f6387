"""The sender loop inside ``xtrack serve`` / ``xtrack scheduler``: woken by the commit that writes
deliveries (no poll delay), delivering itself, or handing rounds to a Celery worker when due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from tests.notify.conftest import T0, Pipeline, Sink
from xtrack.notify.loop import NotifyLoop


async def _eventually(check: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_commit_that_writes_deliveries_wakes_the_loop(pipeline: Pipeline, sink: Sink) -> None:
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url=sink.url("live"))
    await pipeline.choose(user, job, [hook])
    # An hour between rounds: only the nudge after the runner's commit can deliver within the test.
    loop = NotifyLoop(pipeline.db, pipeline.settings, clock=pipeline.clock, interval=3600)
    await loop.start()
    try:
        await _eventually(lambda: loop.rounds == 1)  # the first round finds nothing
        pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
        await pipeline.run_due()
        await _eventually(lambda: len(sink.got("live")) == 1)
        assert loop.rounds == 2
    finally:
        await loop.stop()
    assert sink.got("live")[0]["title"].startswith("[XTrack] @alice: ")


async def test_with_a_trigger_the_loop_hands_a_round_over_only_when_something_is_due(
    pipeline: Pipeline, sink: Sink
) -> None:
    triggered: list[int] = []

    async def trigger() -> None:
        triggered.append(1)

    loop = NotifyLoop(pipeline.db, pipeline.settings, clock=pipeline.clock, interval=3600, trigger=trigger)
    assert await loop.run_once() is None and triggered == []
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url=sink.url("worker"))
    await pipeline.choose(user, job, [hook])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
    await pipeline.run_due()
    await loop.run_once()
    assert triggered == [1]
    assert sink.requests == []  # the worker sends, not the loop
    await pipeline.deliver()
    await loop.run_once()
    assert triggered == [1] and len(sink.got("worker")) == 1


async def test_a_round_that_fails_does_not_stop_the_loop(pipeline: Pipeline) -> None:
    calls: list[int] = []

    async def trigger() -> None:
        calls.append(1)
        raise RuntimeError("broker down")

    loop = NotifyLoop(pipeline.db, pipeline.settings, clock=pipeline.clock, interval=0.01, trigger=trigger)
    user, job = await pipeline.user_and_job()
    await pipeline.choose(user, job, [await pipeline.target(user, name="Inbox")])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
    await pipeline.run_due()
    await loop.start()
    try:
        await _eventually(lambda: len(calls) >= 3)
    finally:
        await loop.stop()
