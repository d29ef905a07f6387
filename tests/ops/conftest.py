"""Helpers for the operations tests: scrape and read /metrics, run executions for real."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions import dispatcher
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.runner import run_execution
from xtrack.sources.demo import DemoSource


class Scrape:
    """One /metrics exposition, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a counter never incremented has no sample yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(value for (sample, got), value in self.samples.items() if sample == name and wanted <= got)


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def dispatch_and_run(db: Database, settings: Settings) -> list[int]:
    """One dispatcher tick now, then every dispatched execution through the real runner on the
    offline demo source (and the configured summarizer: extractive)."""
    from xtrack.db import utcnow

    ids = (await dispatcher.tick(db, now=utcnow())).dispatched
    heartbeats = Heartbeats(auto_start=False)
    source = DemoSource()
    for execution_id in ids:
        await run_execution(
            execution_id, database=db, settings=settings, source=source, heartbeats=heartbeats
        )
    return ids
