from __future__ import annotations

from tests.summarize.conftest import make_post
from xtrack.summarize.citations import escape_markdown, ground_citations, normalize_url

POSTS = [
    make_post(1, "Nvidia results https://nvidia.com/report are out"),
    make_post(2, "Second post"),
    make_post(3, "Third post"),
]
A, B, C = (post.external_id for post in POSTS)
FAKE = "1790000000000000999"


def test_ids_become_numbered_links_in_order_of_first_citation() -> None:
    grounded = ground_citations(f"## Head\n\n- one [{B}]\n- two [{A}, {B}]\n- three [#{C}]", POSTS)
    assert grounded.cited_post_ids == [B, A, C]
    assert f"- one [\\[1\\]]({POSTS[1].url})" in grounded.markdown
    assert f"- two [\\[2\\]]({POSTS[0].url})[\\[1\\]]({POSTS[1].url})" in grounded.markdown
    assert grounded.removed == []


def test_unknown_ids_are_removed_and_points_citing_only_them_dropped() -> None:
    text = f"## Head\n\n- real [{A}] and fake [{FAKE}].\n- invented [{FAKE}]\n- uncited point\n"
    grounded = ground_citations(text, POSTS)
    assert FAKE not in grounded.markdown and "invented" not in grounded.markdown
    assert f"- real [\\[1\\]]({POSTS[0].url}) and fake." in grounded.markdown
    assert "- uncited point" in grounded.markdown
    assert grounded.cited_post_ids == [A] and grounded.removed == [FAKE, FAKE]


def test_links_to_posts_are_kept_other_links_removed() -> None:
    text = (
        f"- a [Nvidia](https://twitter.com/alice/status/{A}/) said so\n"
        f"- b [see](https://x.com/alice/status/{FAKE}) and [report](https://nvidia.com/report)\n"
        f"- c [evil](javascript:alert(1)) <https://x.com/alice/status/{B}> ![img](https://t.rk/p.png)\n"
        f"- d https://made.up/page and https://x.com/alice/status/{C}."
    )
    grounded = ground_citations(text, POSTS)
    md = grounded.markdown
    assert f"[Nvidia]({POSTS[0].url}) said so" in md
    assert FAKE not in md and "[report](https://nvidia.com/report)" in md  # the URL is in a post
    assert "javascript" not in md and "evil" in md and "t.rk" not in md
    assert f"[\\[2\\]]({POSTS[1].url})" in md
    assert "made.up" not in md and md.endswith(f"[\\[3\\]]({POSTS[2].url}).")
    assert grounded.cited_post_ids == [A, B, C]


def test_partial_mode_keeps_bare_ids() -> None:
    text = f"- x [{A}] [{FAKE}]\n- y ([post](https://x.com/a/status/{B}))"
    grounded = ground_citations(text, POSTS, as_links=False)
    assert grounded.markdown == f"- x [{A}]\n- y ([{B}])"


def test_helpers() -> None:
    assert normalize_url("https://mobile.twitter.com/a/status/1/?s=20") == "x.com/a/status/1"
    assert escape_markdown("1. *a* [b](c) <i> & #tag") == "1\\. \\*a\\* \\[b\\](c) \\<i\\> \\& #tag"
    assert escape_markdown("# heading\n- item") == "\\# heading\n\\- item"


def test_bare_post_ids_are_checked_too() -> None:
    grounded = ground_citations(f"- real ({A}) and fake {FAKE}, year 2026\n", POSTS)
    assert grounded.markdown == f"- real ([\\[1\\]]({POSTS[0].url})) and fake, year 2026"
    assert grounded.cited_post_ids == [A] and grounded.removed == [FAKE]


def test_headline_is_plain_text() -> None:
    from xtrack.summarize.llm import headline_of

    assert headline_of("\n## Chips *rally*\n- x") == "Chips rally"
    assert (
        headline_of(f"- **Nvidia** ships \\[x\\] chips [\\[1\\]]({POSTS[0].url}).")
        == "Nvidia ships [x] chips."
    )
    assert (
        headline_of("## @alice\\_b: 3 posts on [AI](https://x.com/a/status/1)") == "@alice_b: 3 posts on AI"
    )
