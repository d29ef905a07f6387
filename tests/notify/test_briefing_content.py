"""A briefing's notification: chat gets the headline and top points within its limit; the email
gets every theme and point with its link, in HTML for a phone and as plain text."""

from __future__ import annotations

from xtrack.notify.content import CHAT_LIMITS, Message, chat_digest, fit_markdown, summary_message

BRIEFING = "\n".join(
    [
        "## Briefing: 40 new posts from 12 accounts, on chips",
        "",
        "### chips",
        "",
        *(
            f"- **@acct{i}**: chips news number {i} — [post](https://x.com/acct{i}/status/{i})"
            for i in range(6)
        ),
        "",
        "### Other posts",
        "",
        *(f"- **@other{i}**: other {i} — [post](https://x.com/other{i}/status/{i})" for i in range(4)),
        "",
        "…and 30 more posts.",
    ]
)


def _message(accounts: list[str]) -> Message:
    return summary_message(
        username="acct0",
        headline="Briefing: 40 new posts from 12 accounts, on chips",
        content=BRIEFING,
        post_urls=[f"https://x.com/acct{i}/status/{i}" for i in range(40)],
        summary_url="https://xtrack.test/summaries/7",
        unsubscribe_url="https://xtrack.test/u/1",
        manage_url="https://xtrack.test/notifications",
        target_name="phone",
        accounts=accounts,
    )


def test_chat_gets_the_headline_and_top_five_points_under_their_themes() -> None:
    digest = chat_digest(BRIEFING)
    assert digest.splitlines()[0] == "## Briefing: 40 new posts from 12 accounts, on chips"
    assert digest.count("\n- ") == 5 and "### chips" in digest and "### Other posts" not in digest
    assert digest.endswith("…and 5 more points.")


def test_a_briefing_notification_fits_chat_and_keeps_everything_in_the_email() -> None:
    message = _message([f"acct{i}" for i in range(12)])
    assert message.subject == "[XTrack] Briefing: 40 new posts from 12 accounts, on chips"
    markdown = message.markdown
    assert markdown.count("\n- ") == 5 and markdown.endswith(
        "[Read it on XTrack](https://xtrack.test/summaries/7)"
    )
    assert fit_markdown(markdown, CHAT_LIMITS["discord"], link=None) == markdown  # one message, uncut
    html, text = message.html, message.text
    assert 'name="viewport"' in html and "<h3>chips</h3>" in html and "<h3>Other posts</h3>" in html
    assert html.count('href="https://x.com/') == 10  # each point's own link, no separate list
    assert "other3" in text and "https://x.com/other3/status/3" in text and "<" not in text.split("--")[0]
    assert "briefing over 12 accounts" in text


def test_a_single_account_summary_message_is_unchanged() -> None:
    message = _message([])
    assert message.subject.startswith("[XTrack] @acct0")
    assert "Posts:" in message.text
