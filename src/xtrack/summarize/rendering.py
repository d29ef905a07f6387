"""Summary Markdown -> safe HTML (pages, emails, feeds) or plain text (text emails, chat).

markdown-it-py's CommonMark parser with raw HTML off (``<script>`` becomes text) and its link
validation (no ``javascript:``/``data:`` links), then nh3 with an allowlist as the second line of
defence: a few formatting tags, ``href`` on links only (http, https, mailto; relative URLs
dropped), no images, no event handlers, ``rel="nofollow noopener noreferrer"`` on every link.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    "strikethrough"
)
_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    url_relative="deny",
    strip_comments=True,
)


def render_markdown(markdown: str) -> Markup:
    """Safe HTML for summary Markdown; the one function every page, email and feed uses."""
    return Markup(_cleaner.clean(_markdown.render(markdown or "")))  # noqa: S704 - sanitized by nh3


def markdown_to_text(markdown: str) -> str:
    """Readable plain text: headings and paragraphs as lines, ``- `` bullets, links as
    ``label (url)`` (just the URL when the label is a footnote number or the URL itself)."""
    lines: list[str] = []
    prefix_stack: list[str] = []
    ordered: list[int] = []
    for token in _markdown.parse(markdown or ""):
        if token.type == "bullet_list_open":
            prefix_stack.append("- ")
            ordered.append(0)
        elif token.type == "ordered_list_open":
            prefix_stack.append("#")
            ordered.append(int(str(token.attrGet("start") or 1)) - 1)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            prefix_stack.pop()
            ordered.pop()
            if not prefix_stack:
                lines.append("")
        elif token.type == "list_item_open" and ordered:
            ordered[-1] += 1
        elif token.type == "inline":
            marker = ""
            if prefix_stack:
                indent = "  " * (len(prefix_stack) - 1)
                marker = indent + (f"{ordered[-1]}. " if prefix_stack[-1] == "#" else "- ")
            lines.append(marker + _inline_text(token.children or []))
        elif token.type in ("paragraph_close", "heading_close") and not prefix_stack:
            lines.append("")
        elif token.type in ("code_block", "fence"):
            lines.extend([*token.content.rstrip("\n").split("\n"), ""])
        elif token.type == "hr":
            lines.extend(["---", ""])
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _inline_text(children: list[Token]) -> str:
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "link_open":
            href_stack.append((str(child.attrGet("href") or ""), len(out)))
        elif child.type == "link_close" and href_stack:
            href, start = href_stack.pop()
            label = "".join(out[start:]).strip()
            if not href:
                continue
            if label in ("", href):
                out[start:] = [href]
            elif label.strip("[]").isdigit():
                out[start:] = [f"({href})"]  # a footnote citation
            else:
                out.append(f" ({href})")
    return "".join(out)
