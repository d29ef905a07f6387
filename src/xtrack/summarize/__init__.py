"""Summarizers (extractive default, OpenAI-compatible, Anthropic), prompts, citations, cost, rendering."""
