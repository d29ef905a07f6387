"""TurnBatches: what is submitted in one turn of the loop is handled together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from xtrack.db import Database
from xtrack.executions.batching import TurnBatches

DB = cast(Database, object())
OTHER_DB = cast(Database, object())


class Recorder:
    def __init__(self, *, bad: set[int] | None = None) -> None:
        self.calls: list[tuple[Any, list[int]]] = []
        self.bad = bad or set()
        self.abandoned: list[int] = []

    async def handle(self, database: Database, items: Sequence[int]) -> list[int]:
        self.calls.append((database, list(items)))
        if self.bad & set(items):
            raise ValueError(f"bad item in {list(items)}")
        return [item * 10 for item in items]

    async def give_back(self, _database: Database, result: int) -> None:
        self.abandoned.append(result)


async def test_one_turn_is_one_batch_per_database_and_results_go_to_their_submitters() -> None:
    recorder = Recorder()
    batches: TurnBatches[int, int] = TurnBatches(recorder.handle, max_size=100)
    results = await asyncio.gather(*(batches.submit(DB, i) for i in range(5)), batches.submit(OTHER_DB, 7))
    assert results == [0, 10, 20, 30, 40, 70]
    assert recorder.calls == [(DB, [0, 1, 2, 3, 4]), (OTHER_DB, [7])]
    # A later turn is a new batch.
    assert await batches.submit(DB, 9) == 90
    assert recorder.calls[-1] == (DB, [9])


async def test_a_batch_holds_at_most_max_size_items() -> None:
    recorder = Recorder()
    batches: TurnBatches[int, int] = TurnBatches(recorder.handle, max_size=2)
    assert await asyncio.gather(*(batches.submit(DB, i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert [items for _db, items in recorder.calls] == [[0, 1], [2, 3], [4]]


async def test_a_failing_batch_is_retried_item_by_item_so_only_the_bad_item_fails() -> None:
    recorder = Recorder(bad={2})
    batches: TurnBatches[int, int] = TurnBatches(recorder.handle, max_size=100)
    results = await asyncio.gather(*(batches.submit(DB, i) for i in range(4)), return_exceptions=True)
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError)
    assert [items for _db, items in recorder.calls] == [[0, 1, 2, 3], [0], [1], [2], [3]]
    with pytest.raises(ValueError):  # a batch of one is not retried
        await batches.submit(DB, 2)
    assert recorder.calls[-1] == (DB, [2]) and recorder.calls[-2] == (DB, [3])


async def test_a_submitter_cancelled_meanwhile_has_its_result_given_back() -> None:
    recorder = Recorder()
    batches: TurnBatches[int, int] = TurnBatches(recorder.handle, max_size=100, abandoned=recorder.give_back)
    kept = asyncio.create_task(batches.submit(DB, 1))
    dropped = asyncio.create_task(batches.submit(DB, 2))
    await asyncio.sleep(0)
    dropped.cancel()
    assert await kept == 10
    await asyncio.gather(*batches._flushing)
    assert dropped.cancelled() and recorder.abandoned == [20]


def test_a_batch_left_open_by_a_stopped_loop_is_not_joined_by_the_next() -> None:
    recorder = Recorder()
    batches: TurnBatches[int, int] = TurnBatches(recorder.handle, max_size=100)

    async def submit_and_stop() -> None:
        asyncio.get_running_loop().create_task(batches.submit(DB, 1))
        await asyncio.sleep(0)  # submitted; the loop ends before the batch is flushed

    stopped = asyncio.new_event_loop()
    stopped.run_until_complete(submit_and_stop())
    stopped.close()
    assert asyncio.run(asyncio.wait_for(batches.submit(DB, 2), 5)) == 20  # it would wait forever
    assert recorder.calls == [(DB, [2])]
