"""Batches of the work that many runs submit in the same turn of the event loop.

Hundreds of runs in flight in one process start and finish in bursts (a dispatcher tick hands out
a batch of ids; a fake or a real upstream answers a burst of requests together). Each run claiming
or completing on its own costs a connection checkout and a few statements; the runs that submit in
the same turn of the loop instead share one, so the per-run database cost falls as the load rises,
and a lone run waits only one turn of the loop.

``TurnBatches(handle).submit(database, item)`` queues ``item`` and returns its result: ``handle``
gets every item submitted in the turn (up to ``max_size``) and returns one result per item, in
order. If ``handle`` raises, each item is retried alone (so one bad item fails only its own run),
unless the batch had only that item. A submitter that was cancelled while its batch ran gets
``abandoned(database, result)`` called for it, to give back what was taken for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from xtrack.db import Database

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class _Batch(Generic[ItemT, ResultT]):
    loop: asyncio.AbstractEventLoop
    items: list[ItemT] = field(default_factory=list)
    futures: list[asyncio.Future[ResultT]] = field(default_factory=list)


class TurnBatches(Generic[ItemT, ResultT]):
    def __init__(
        self,
        handle: Callable[[Database, Sequence[ItemT]], Awaitable[Sequence[ResultT]]],
        *,
        max_size: int,
        abandoned: Callable[[Database, ResultT], Awaitable[None]] | None = None,
    ) -> None:
        self._handle = handle
        self._max_size = max_size
        self._abandoned = abandoned
        self._open: dict[Database, _Batch[ItemT, ResultT]] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def submit(self, database: Database, item: ItemT) -> ResultT:
        loop = asyncio.get_running_loop()
        batch = self._open.get(database)
        # A batch left open by another event loop (one that stopped before flushing it) is not joined.
        if batch is None or batch.loop is not loop or len(batch.items) >= self._max_size:
            batch = self._open[database] = _Batch(loop)
            flush = asyncio.create_task(self._flush(database, batch))
            self._flushing.add(flush)  # a task is only weakly referenced by the loop
            flush.add_done_callback(self._flushing.discard)
        future: asyncio.Future[ResultT] = loop.create_future()
        batch.items.append(item)
        batch.futures.append(future)
        return await future

    async def _flush(self, database: Database, batch: _Batch[ItemT, ResultT]) -> None:
        await asyncio.sleep(0)  # what is submitted in this turn of the loop joins the batch
        if self._open.get(database) is batch:
            del self._open[database]
        try:
            results = await self._handle(database, batch.items)
        except Exception as exc:
            if len(batch.items) == 1:
                _fail(batch.futures, exc)
                return
            for item, future in zip(batch.items, batch.futures, strict=True):
                await self._alone(database, item, future)
            return
        except BaseException as exc:
            _fail(batch.futures, exc)
            raise
        for result, future in zip(results, batch.futures, strict=True):
            await self._deliver(database, future, result)

    async def _alone(self, database: Database, item: ItemT, future: asyncio.Future[ResultT]) -> None:
        try:
            [result] = await self._handle(database, [item])
        except Exception as exc:
            _fail([future], exc)
            return
        await self._deliver(database, future, result)

    async def _deliver(self, database: Database, future: asyncio.Future[ResultT], result: ResultT) -> None:
        if not future.done():
            future.set_result(result)
        elif self._abandoned is not None:
            await self._abandoned(database, result)


def _fail(futures: Sequence[asyncio.Future[ResultT]], exc: BaseException) -> None:
    for future in futures:
        if future.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)
