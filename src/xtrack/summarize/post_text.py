"""How one post reads to a summarizer (and on the summary page): who said what. A repost is the
original author's words, a quote carries the quoted post beside the account's own (pure)."""

from __future__ import annotations

from xtrack.sources.base import Post

UNKNOWN_AUTHOR = "unknown"


def render_post(post: Post) -> str:
    """``@a reposted @b: …`` for a repost; a quote's own text, then ``(quoting @c: …)``; else the
    text as written. The whole text always: cutting is the caller's choice."""
    if post.is_repost:
        original = post.original_author or UNKNOWN_AUTHOR
        return f"@{post.author_username} reposted @{original}: {post.text}"
    if post.is_quote and post.quoted_text:
        quoted = post.quoted_author or UNKNOWN_AUTHOR
        return f"{post.text}\n(@{post.author_username} quoting @{quoted}: {post.quoted_text})"
    return post.text
