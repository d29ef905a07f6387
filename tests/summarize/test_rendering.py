from __future__ import annotations

from html.parser import HTMLParser

from markupsafe import Markup

from xtrack.summarize.rendering import markdown_to_text, render_markdown

EVIL = """## Head <script>alert('h')</script>

- point <img src=x onerror="alert(1)"> [\\[1\\]](https://x.com/a/status/1)
- [click](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=) and [rel](/admin)
- <a href="javascript:alert(2)" onclick="alert(3)">raw</a> <iframe src="https://evil"></iframe>
- [ok](https://example.com/page "title") [mail](mailto:a@example.com)

<div onmouseover="alert(4)">block html</div>
"""


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_dangerous_markup_is_inert() -> None:
    html = render_markdown(EVIL)
    assert isinstance(html, Markup)
    parser = Tags()
    parser.feed(str(html))
    names = {tag for tag, _ in parser.tags}
    assert names <= {"h2", "ul", "li", "a", "p"}, names
    for tag, attrs in parser.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "a":
            assert set(attrs) <= {"href", "title", "rel"}
            assert attrs["rel"] == "nofollow noopener noreferrer"
            href = attrs.get("href")
            assert href is None or href.startswith(("https://", "mailto:")), href
    assert [attrs.get("href") for tag, attrs in parser.tags if tag == "a"] == [
        "https://x.com/a/status/1",
        None,  # the relative link lost its URL
        "https://example.com/page",
        "mailto:a@example.com",
    ]
    assert "&lt;script&gt;" in html  # shown as text, not run
    assert '<a href="https://x.com/a/status/1" rel="nofollow noopener noreferrer">[1]</a>' in html
    assert (
        '<a href="https://example.com/page" title="title" rel="nofollow noopener noreferrer">ok</a>' in html
    )
    assert 'href="mailto:a@example.com"' in html
    assert "<h2>" in html and "<ul>" in html and "<li>" in html


def test_markup_is_not_escaped_again_by_templates() -> None:
    assert str(Markup("{}").format(render_markdown("**b**"))) == "<p><strong>b</strong></p>\n"


def test_plain_text_keeps_structure_and_urls() -> None:
    text = markdown_to_text(
        "## Head\n\n- one [\\[1\\]](https://x.com/a/status/1)\n- two [post](https://x.com/a/status/2)\n\n"
        "…and 3 more posts."
    )
    assert text == (
        "Head\n\n"
        "- one (https://x.com/a/status/1)\n"
        "- two post (https://x.com/a/status/2)\n\n"
        "…and 3 more posts."
    )
    assert markdown_to_text("") == ""
