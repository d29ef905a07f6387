"""A briefing's summary names its accounts in the API, the Markdown export and the Atom feed."""

from __future__ import annotations

from datetime import UTC, datetime

from xtrack.summaries.export import summary_markdown
from xtrack.summaries.feeds import entry_title
from xtrack.summaries.models import Summary
from xtrack.summaries.schemas import SummaryRead


def summary(accounts: list[str] | None, headline: str = "Chips are back") -> Summary:
    raw = {"post_ids": ["1"], "headline": headline, **({"accounts": accounts} if accounts else {})}
    return Summary(
        id=1,
        job_id=2,
        execution_id=3,
        is_playground=False,
        x_username=(accounts or ["alice"])[0],
        topics=["chips"],
        content=f"## {headline}\n\n- a point",
        tweets_count=5,
        raw_data=raw,
        created_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        model="extractive",
        input_tokens=0,
        output_tokens=0,
        cost=0.0,
    )


def test_a_briefing_names_its_accounts_everywhere() -> None:
    briefing = summary(["alice", "bob", "carol", "dave"])
    assert briefing.who == "@alice, @bob and 2 more"
    assert SummaryRead.of(briefing).accounts == ["alice", "bob", "carol", "dave"]
    assert summary_markdown(briefing).startswith("## @alice, @bob and 2 more · Mon 07 Dec 2026, 08:00 UTC")
    assert entry_title(briefing) == "@alice, @bob and 2 more: Chips are back"
    three = summary(["alice", "bob", "carol"], headline="Briefing: 5 new posts from 3 accounts")
    assert three.who == "@alice, @bob and @carol"
    assert entry_title(three) == "Briefing: 5 new posts from 3 accounts"


def test_a_single_account_summary_reads_as_before() -> None:
    single = summary(None)
    assert single.accounts == ["alice"] and single.who == "@alice"
    assert SummaryRead.of(single).accounts == ["alice"]
    assert entry_title(single) == "@alice: Chips are back"
