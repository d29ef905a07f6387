"""Token usage and what it costs: a price table (built-in defaults + XTRACK_LLM_PRICES), pure functions.

``XTRACK_LLM_PRICES`` lists ``model=input/output[/cached_input]`` in US dollars per million tokens,
separated by commas, semicolons or newlines, e.g. ``gpt-4o-mini=0.15/0.60,my-model=1/2/0.1``.
Its entries override the defaults below. A model is looked up by exact name, then by the longest
table entry its name starts with (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``), also after
dropping a router prefix (``openai/gpt-4o-mini``). A model with no price (a local Ollama model)
costs 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xtrack.config import parse_llm_prices


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens. ``cached_input`` is the discounted price of input tokens the
    provider served from its prompt cache; None when no discount is known (full input price)."""

    input: float
    output: float
    cached_input: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more calls. ``input_tokens`` includes ``cached_input_tokens``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
        )


# List prices (USD per million tokens) as published by the providers; override with XTRACK_LLM_PRICES.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-opus-4": Price(15.00, 75.00, 1.50),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
}


def parse_price_table(text: str) -> dict[str, Price]:
    """Parse ``model=input/output[/cached_input]`` entries; raise ValueError naming a bad entry."""
    return {name: Price(*values) for name, values in parse_llm_prices(text).items()}


def price_table(text: str) -> dict[str, Price]:
    """The built-in defaults overridden by the configured entries."""
    return {**DEFAULT_PRICES, **parse_price_table(text)}


def find_price(model: str, table: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: exact name, else the longest entry it starts with; None if unknown."""
    name = model.strip().lower()
    candidates = [name]
    if "/" in name:
        candidates.append(name.rsplit("/", 1)[-1])
    for candidate in candidates:
        if candidate in table:
            return table[candidate]
    for candidate in candidates:
        prefixes = [key for key in table if candidate.startswith(key)]
        if prefixes:
            return table[max(prefixes, key=len)]
    return None


def compute_cost(usage: Usage, price: Price | None) -> float:
    """US dollars for ``usage`` at ``price``; cached input tokens at the cached price when known."""
    if price is None:
        return 0.0
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    cached_price = price.cached_input if price.cached_input is not None else price.input
    dollars = (
        (usage.input_tokens - cached) * price.input
        + cached * cached_price
        + usage.output_tokens * price.output
    ) / 1_000_000
    return round(dollars, 8)
