"""Grounding an answer in the fetched posts, and writing post text safely into Markdown (pure).

``ground_citations`` keeps only citations of posts that were really fetched:

- ``[1790012345678901234]`` (also ``[id1, id2]``, or a bare post-id-sized number): a fetched
  post's id becomes a link to the post (``[[1]](url)``, numbered in order of first citation); an
  unknown id is removed.
- ``[text](url)``, ``<url>`` and bare URLs: a link to a fetched post (matched by URL, or by a
  ``/status/<id>`` path with a fetched id, whatever the host) is kept and pointed at the post's own
  URL; a link that appears in the posts' text is kept; any other link is removed (the text of a
  ``[text](url)`` link stays, unlinked). Images are removed.
- A bullet whose every citation was removed is dropped: it cited only posts that do not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from xtrack.sources.base import Post

_MD_INLINE = re.compile(r"([\\`*_\[\]<>&])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))", re.MULTILINE)
_MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)")
_ID_GROUP = re.compile(r"\[\s*#?(\d{1,20}(?:\s*[,;]\s*#?\d{1,20})*)\s*\](?!\()")
_AUTOLINK = re.compile(r"<(https?://[^\s>]+)>", re.IGNORECASE)
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
_STATUS_ID = re.compile(r"/status(?:es)?/(\d{1,20})")
_SNOWFLAKE = re.compile(r"(?<![\w\x00])\d{15,20}(?![\w\x00])")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_EMPTY_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s*$")
_TRAILING_PUNCT = ".,;:!?"
_X_HOSTS = {"twitter.com", "www.twitter.com", "mobile.twitter.com", "www.x.com", "mobile.x.com"}
_GENERIC_LABELS = {"", "post", "source", "link", "here", "tweet"}


def escape_markdown(text: str) -> str:
    """Backslash-escape what Markdown could read as syntax, so post text stays text: emphasis,
    links, HTML, entities anywhere; headings, lists and rules at the start of a line."""
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker[0].isdigit():
        return f"{indent}{marker}\\"  # "1." -> "1\." (the escape goes before the dot)
    return f"{indent}\\{marker}"


def link_destination(url: str) -> str:
    """A URL made safe as a Markdown link destination (no spaces, parentheses or angle brackets)."""
    return (
        url.strip()
        .replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )


def markdown_link(label: str, url: str) -> str:
    """``[label](url)`` with ``label`` already Markdown (escape it first if it is data)."""
    return f"[{label}]({link_destination(url)})"


def normalize_url(url: str) -> str:
    """Compare URLs loosely: scheme and query ignored, twitter.com == x.com, no trailing slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if host in _X_HOSTS:
        host = "x.com"
    return f"{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class GroundedAnswer:
    markdown: str
    cited_post_ids: list[str] = field(default_factory=list)  # fetched posts only, first citation first
    removed: list[str] = field(default_factory=list)  # ids and URLs that were not fetched posts


def urls_in_posts(posts: Iterable[Post]) -> set[str]:
    return {
        normalize_url(url.rstrip(_TRAILING_PUNCT)) for post in posts for url in _BARE_URL.findall(post.text)
    }


class _Grounding:
    """One pass of ``ground_citations``: the posts by id and URL, the citations kept and removed so
    far, and the replacement texts held out of a line (as placeholders) until the line is tidied."""

    def __init__(self, posts: Sequence[Post], *, as_links: bool) -> None:
        self.as_links = as_links
        self.by_id = {post.external_id: post for post in posts}
        self.by_url = {normalize_url(post.url): post for post in posts}
        self.post_text_urls = urls_in_posts(posts)
        self.cited: list[str] = []
        self.removed: list[str] = []
        self.pieces: list[str] = []  # replacement text, referenced from the working text by placeholder

    def hold(self, text: str) -> str:
        self.pieces.append(text)
        return f"\x00{len(self.pieces) - 1}\x00"

    def cite(self, post: Post) -> str:
        if post.external_id not in self.cited:
            self.cited.append(post.external_id)
        if not self.as_links:
            return self.hold(f"[{post.external_id}]")
        number = self.cited.index(post.external_id) + 1
        return self.hold(markdown_link(f"\\[{number}\\]", post.url))

    def post_for_url(self, url: str) -> Post | None:
        post = self.by_url.get(normalize_url(url))
        if post is None:
            status = _STATUS_ID.search(url)
            if status:
                post = self.by_id.get(status.group(1))
        return post

    def replace_link(self, match: re.Match[str]) -> str:
        is_image, label, url = match.group(1), match.group(2), match.group(3)
        if is_image:
            self.removed.append(url)
            return ""
        post = self.post_for_url(url)
        if post is not None:
            stripped = label.strip().strip("[]#").strip()
            if stripped.lower() in _GENERIC_LABELS or stripped == post.external_id or stripped.isdigit():
                return self.cite(post)
            if post.external_id not in self.cited:
                self.cited.append(post.external_id)
            if not self.as_links:
                return self.hold(f"{label} [{post.external_id}]")
            return self.hold(markdown_link(label, post.url))
        if normalize_url(url) in self.post_text_urls and url.lower().startswith(("http://", "https://")):
            return self.hold(markdown_link(label, url))
        self.removed.append(url)
        stripped = label.strip().strip("[]#").strip()
        if stripped.lower() in _GENERIC_LABELS or stripped.isdigit():
            return ""
        return label

    def replace_ids(self, match: re.Match[str]) -> str:
        out: list[str] = []
        for raw in re.split(r"[,;]", match.group(1)):
            post_id = raw.strip().lstrip("#")
            post = self.by_id.get(post_id)
            if post is None:
                self.removed.append(post_id)
            else:
                out.append(self.cite(post))
        return "".join(out)

    def replace_url(self, match: re.Match[str]) -> str:
        url = match.group(1) if match.re is _AUTOLINK else match.group(0)
        trailing = ""
        while url and url[-1] in _TRAILING_PUNCT:
            trailing = url[-1] + trailing
            url = url[:-1]
        post = self.post_for_url(url)
        if post is not None:
            return self.cite(post) + trailing
        if normalize_url(url) in self.post_text_urls:
            return self.hold(f"<{url}>") + trailing
        self.removed.append(url)
        return trailing

    def replace_bare_id(self, match: re.Match[str]) -> str:
        post = self.by_id.get(match.group())
        if post is None:
            self.removed.append(match.group())
            return ""
        return self.cite(post)

    def line(self, line: str) -> str | None:
        """The line with its citations grounded; None when it is to be dropped."""
        before = len(self.removed), len(self.pieces)
        work = _MD_LINK.sub(self.replace_link, line)
        work = _ID_GROUP.sub(self.replace_ids, work)
        work = _AUTOLINK.sub(self.replace_url, work)
        work = _BARE_URL.sub(self.replace_url, work)
        work = _SNOWFLAKE.sub(self.replace_bare_id, work)
        lost = len(self.removed) > before[0]
        kept = len(self.pieces) > before[1]
        if lost:
            work = _tidy(work)
            if _BULLET.match(line) and not kept:
                return None  # every source this point named was made up: drop the point
            if _EMPTY_BULLET.match(work) or (not work.strip() and line.strip()):
                return None
        return _PLACEHOLDER.sub(lambda m: self.pieces[int(m.group(1))], work)


def ground_citations(markdown: str, posts: Sequence[Post], *, as_links: bool = True) -> GroundedAnswer:
    """Keep only citations of ``posts``; with ``as_links`` turn them into numbered Markdown links,
    otherwise leave them as ``[id]`` (partial summaries that a later call combines)."""
    grounding = _Grounding(posts, as_links=as_links)
    lines = (grounding.line(line) for line in markdown.replace("\r\n", "\n").split("\n"))
    text = "\n".join(line for line in lines if line is not None).strip()
    return GroundedAnswer(re.sub(r"\n{3,}", "\n\n", text), grounding.cited, grounding.removed)


def _tidy(line: str) -> str:
    """Clean what a removed citation leaves behind: empty parentheses, space before punctuation."""
    line = re.sub(r"\(\s*(?:see\s*)?[,;\s]*\)", "", line)
    line = re.sub(r"(?<=\S)[ \t]+([.,;:!?])", r"\1", line)
    indent = line[: len(line) - len(line.lstrip())]
    return indent + re.sub(r"[ \t]{2,}", " ", line.strip())
