"""No template renders user text unescaped: autoescape is on, templates never use ``|safe``,
``{% autoescape false %}`` or ``Markup``, and the only Python that builds ``Markup`` is on an
explicit allowlist, each entry with the reason it is safe."""

from __future__ import annotations

import re
from pathlib import Path

import xtrack
from xtrack.web.templating import TEMPLATES_DIR, templates

SRC = Path(xtrack.__file__).parent

TEMPLATE_PATTERNS = {
    "|safe": re.compile(r"\|\s*safe\b"),
    "autoescape false": re.compile(r"autoescape\s+(false|False)"),
    "Markup": re.compile(r"\bMarkup\b"),
}
# (template path relative to templates/, pattern name) -> why it is safe. Keep empty if you can.
TEMPLATE_ALLOWED: dict[tuple[str, str], str] = {}

PYTHON_MARKUP = re.compile(r"\bMarkup\s*\(|\bautoescape\s*=\s*False|select_autoescape\(\s*\[\s*\]")
# Modules allowed to build Markup, and why what they build cannot carry user-controlled HTML.
PYTHON_ALLOWED: dict[str, str] = {
    "summarize/rendering.py": (
        "render_markdown, the sanctioned renderer: CommonMark without raw HTML, then an nh3 allowlist"
    ),
    "web/csrf.py": "a fixed <input> whose only value is a hex HMAC digest",
    "web/charts.py": "SVG from formatted numbers; every text passes through markupsafe.escape",
    "notify/content.py": (
        "email HTML from literal Markup templates whose .format() escapes every argument; the summary"
        " itself comes from render_markdown"
    ),
}


def test_autoescape_is_on_for_html_templates() -> None:
    rendered = templates.env.from_string("{{ x }}").render(x="<b>")
    assert rendered == "&lt;b&gt;"
    page = templates.env.get_template("errors/error.html")
    assert page.environment.autoescape is not False


def test_templates_never_mark_text_safe() -> None:
    found: list[str] = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        name = path.relative_to(TEMPLATES_DIR).as_posix()
        source = path.read_text()
        for label, pattern in TEMPLATE_PATTERNS.items():
            for line_no, line in enumerate(source.splitlines(), 1):
                if pattern.search(line) and (name, label) not in TEMPLATE_ALLOWED and not _is_comment(line):
                    found.append(f"{name}:{line_no}: {label}: {line.strip()}")
    assert found == [], "use the `markdown` filter for rich text; never |safe:\n" + "\n".join(found)


def _is_comment(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("{#") or stripped.endswith("#}")


def test_only_allowlisted_python_builds_markup() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if PYTHON_MARKUP.search(path.read_text()) and name not in PYTHON_ALLOWED:
            found.append(name)
    assert found == [], (
        f"Markup built outside the allowlist in {found}: add a reasoned entry or escape instead"
    )


def test_the_allowlist_has_no_stale_entries() -> None:
    for name in PYTHON_ALLOWED:
        assert PYTHON_MARKUP.search((SRC / name).read_text()), f"{name} no longer builds Markup: remove it"


def test_the_markdown_filter_is_the_sanctioned_renderer_and_strips_script() -> None:
    hostile = "Hi <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    html = templates.env.from_string("{{ text|markdown }}").render(text=hostile)
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text, not run
