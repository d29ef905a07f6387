from __future__ import annotations

import pytest
from pydantic import ValidationError

from xtrack.config import Settings
from xtrack.summarize.pricing import (
    DEFAULT_PRICES,
    Price,
    Usage,
    compute_cost,
    find_price,
    parse_price_table,
    price_table,
)


def test_parse_entries_and_override_defaults() -> None:
    table = parse_price_table(" gpt-4o-mini=0.15/0.60 ; My-Model = 1/2/0.5\nclaude-3-5-haiku=0.80/4.00,")
    assert table == {
        "gpt-4o-mini": Price(0.15, 0.60),
        "my-model": Price(1.0, 2.0, 0.5),
        "claude-3-5-haiku": Price(0.80, 4.00),
    }
    merged = price_table("gpt-4o=9/9")
    assert merged["gpt-4o"] == Price(9, 9) and merged["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]
    assert parse_price_table("") == {}


@pytest.mark.parametrize("bad", ["gpt=1", "gpt=a/b", "=1/2", "gpt 1/2", "gpt=1/2/3/4", "gpt=-1/2"])
def test_bad_entries_are_refused_with_the_entry_named(bad: str) -> None:
    with pytest.raises(ValueError, match="bad price entry"):
        parse_price_table(bad)
    with pytest.raises(ValidationError, match="llm_prices"):
        Settings(llm_prices=bad)


def test_lookup_exact_then_longest_prefix_then_router_prefix() -> None:
    table = price_table("")
    assert find_price("gpt-4o-mini-2024-07-18", table) == DEFAULT_PRICES["gpt-4o-mini"]
    assert find_price("gpt-4o-2024-08-06", table) == DEFAULT_PRICES["gpt-4o"]
    assert find_price("openai/gpt-4o-mini", table) == DEFAULT_PRICES["gpt-4o-mini"]
    assert find_price("claude-3-5-haiku-20241022", table) == DEFAULT_PRICES["claude-3-5-haiku"]
    assert find_price("llama3.1:8b", table) is None


def test_cost_prices_cached_input_at_a_discount_where_known() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=500_000)
    assert compute_cost(usage, Price(0.15, 0.60, 0.075)) == pytest.approx(0.075 + 0.0375 + 0.06)
    assert compute_cost(usage, Price(0.15, 0.60)) == pytest.approx(0.15 + 0.06)  # no discount known
    assert compute_cost(usage, None) == 0.0
    assert Usage(1, 2, 0) + Usage(10, 20, 5) == Usage(11, 22, 5)
