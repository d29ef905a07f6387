"""The stylesheet keeps its promises: 4.5:1 contrast in both themes, the same dark palette for
the system setting and the explicit choice, and the rules the pages rely on."""

from __future__ import annotations

import re

import pytest

from xtrack.web.app import STATIC_DIR

CSS = (STATIC_DIR / "css" / "app.css").read_text()
TOKEN = re.compile(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})")


def block(selector_pattern: str) -> dict[str, str]:
    match = re.search(selector_pattern + r"\s*\{([^}]*)\}", CSS)
    assert match, selector_pattern
    return dict(TOKEN.findall(match.group(1)))


LIGHT = block(r"(?m)^:root")
DARK_SYSTEM = block(r':root:not\(\[data-theme="light"\]\)')
DARK_CHOSEN = block(r':root\[data-theme="dark"\]')


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_dark_palette_is_the_same_for_system_and_explicit_choice() -> None:
    assert DARK_SYSTEM == DARK_CHOSEN
    assert set(DARK_SYSTEM) <= set(LIGHT)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("foreground", ["text", "muted", "accent", "ok", "warn", "err", "info"])
@pytest.mark.parametrize("background", ["bg", "surface"])
def test_text_colours_meet_4_5_to_1(theme: str, foreground: str, background: str) -> None:
    palette = {**LIGHT, **DARK_SYSTEM} if theme == "dark" else LIGHT
    assert contrast(palette[foreground], palette[background]) >= 4.5


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_button_labels_meet_4_5_to_1(theme: str) -> None:
    palette = {**LIGHT, **DARK_SYSTEM} if theme == "dark" else LIGHT
    assert contrast(palette["accent-text"], palette["accent"]) >= 4.5
    assert contrast(palette["err-text"], palette["err"]) >= 4.5


def test_rules_the_pages_rely_on() -> None:
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important", CSS), "buttons must honour hidden"
    phone = CSS[CSS.index("@media (max-width: 640px)") :]
    assert re.search(r"\.col-optional\s*\{\s*display:\s*none", phone)
    assert ":focus-visible" in CSS and ".skip-link:focus" in CSS
    assert "min-height: 44px" in CSS
    assert "prefers-reduced-motion" in CSS
    for status in ("queued", "running", "completed", "failed", "cancelled"):
        assert f".status-{status}" in CSS
