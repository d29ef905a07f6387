"""What notifications say (pure functions): subjects, emails, chat limits, masking, unsubscribe tokens."""

from __future__ import annotations

import logging

import apprise
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from xtrack.config import Settings
from xtrack.notify import content, links, masking, senders

TELEGRAM = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567"
DISCORD = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"


def _summary(**changes: object) -> content.Message:
    values: dict[str, object] = {
        "username": "alice",
        "headline": "Chips are back",
        "content": "## Chips are back\n\n- TSMC doubles output ([post](https://x.com/alice/status/1))\n",
        "post_urls": ["https://x.com/alice/status/1", "https://x.com/alice/status/2"],
        "summary_url": "https://xtrack.test/summaries/7",
        "unsubscribe_url": "https://xtrack.test/unsubscribe?token=abc",
        "manage_url": "https://xtrack.test/targets",
        "target_name": "My inbox",
    } | changes
    return content.summary_message(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("username", "headline", "subject"),
    [
        ("alice", "Chips are back", "[XTrack] @alice: Chips are back"),
        ("@alice", "  Chips\n are   back ", "[XTrack] @alice: Chips are back"),
        ("alice", "@Alice says chips are back", "[XTrack] @Alice says chips are back"),
        ("alice", "", "[XTrack] @alice: new summary"),
    ],
)
def test_subject_names_the_account_and_the_headline(username: str, headline: str, subject: str) -> None:
    assert content.subject_line(username, headline) == subject


def test_a_long_subject_is_cut_at_a_word() -> None:
    subject = content.subject_line("alice", "word " * 100)
    assert len(subject) <= content.MAX_SUBJECT and subject.endswith("word…")


def test_the_email_has_the_summary_posts_page_and_unsubscribe_in_both_parts() -> None:
    message = _summary()
    assert message.subject == "[XTrack] @alice: Chips are back"
    for part in (message.text, message.html):
        assert "TSMC doubles output" in part
        assert "https://x.com/alice/status/2" in part
        assert "https://xtrack.test/summaries/7" in part
        assert "https://xtrack.test/unsubscribe?token=abc" in part
        assert "https://xtrack.test/targets" in part
        assert "My inbox" in part
    assert "<h2>" not in message.text and "## " not in message.text  # plain text, not Markdown
    assert message.link == "https://xtrack.test/summaries/7"
    assert message.markdown.endswith("[Read it on XTrack](https://xtrack.test/summaries/7)")


def test_the_email_html_is_sanitized() -> None:
    message = _summary(
        content="## Hi <script>alert(1)</script>\n\n- [go](javascript:alert(1)) <img src=x onerror=alert(1)>",
        target_name='<b onmouseover="x">me</b>',
    )
    html = message.html.lower()
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="javascript' not in html and "<img" not in html and "<b onmouseover" not in html
    assert "&lt;b onmouseover" in html  # the target's name is shown, escaped


def test_many_posts_are_listed_up_to_a_limit() -> None:
    urls = [f"https://x.com/alice/status/{i}" for i in range(30)]
    message = _summary(post_urls=urls)
    assert urls[19] in message.text and urls[20] not in message.text
    assert "…and 10 more" in message.text


def test_failure_and_recovery_notices() -> None:
    failure = content.failure_message(
        username="alice",
        failures=3,
        error="Account @alice not found on X\n(404)",
        job_url="https://xtrack.test/jobs/4",
        unsubscribe_url="https://xtrack.test/unsubscribe?token=t",
        manage_url=None,
        target_name="Hook",
    )
    assert failure.subject == "[XTrack] @alice: 3 runs in a row failed"
    assert "Account @alice not found on X (404)" in failure.text
    assert "https://xtrack.test/jobs/4" in failure.markdown and failure.link == "https://xtrack.test/jobs/4"
    assert "Unsubscribe: https://xtrack.test/unsubscribe?token=t" in failure.text
    one = content.failure_message(
        username="alice",
        failures=1,
        error=None,
        job_url="u",
        unsubscribe_url=None,
        manage_url=None,
        target_name="x",
    )
    assert one.subject == "[XTrack] @alice: the last run failed" and "The last run of" in one.text
    recovery = content.recovery_message(
        username="alice",
        job_url="https://xtrack.test/jobs/4",
        unsubscribe_url=None,
        manage_url=None,
        target_name="x",
    )
    assert recovery.subject == "[XTrack] @alice: runs work again"
    assert content.Message.from_payload(recovery.as_payload()) == recovery


def test_markdown_in_error_messages_is_escaped_for_chat() -> None:
    failure = content.failure_message(
        username="alice",
        failures=3,
        error="[click me](https://evil.example) *bold*",
        job_url="https://xtrack.test/jobs/4",
        unsubscribe_url=None,
        manage_url=None,
        target_name="x",
    )
    assert "\\[click me\\](https://evil.example) \\*bold\\*" in failure.markdown


def test_a_long_summary_fits_telegram_as_one_message_ending_with_a_link() -> None:
    lines = [
        f"- point {i}: " + "chips and AI " * 8 + f"([post](https://x.com/alice/status/{i}))"
        for i in range(80)
    ]
    message = _summary(content="## Chips are back\n\n" + "\n".join(lines))
    assert len(message.markdown) > 8000
    service = apprise.Apprise.instantiate(TELEGRAM)
    title, body = senders.fit_for_service(service, TELEGRAM, message)
    assert len(body) <= 4096 and title == ""  # Telegram has no title field: the subject leads the body
    assert body.startswith("**\\[XTrack\\] @alice: Chips are back**")
    assert body.endswith("… [Read the full summary](https://xtrack.test/summaries/7)")
    kept = body.split("\n\n… [Read")[0]
    assert kept.endswith(")")  # cut between lines, never inside a line's link

    discord = apprise.Apprise.instantiate(DISCORD)
    title, body = senders.fit_for_service(discord, DISCORD, message)
    assert len(body) <= 2000 and title == message.subject

    webhook = "json://127.0.0.1/hook"
    title, body = senders.fit_for_service(apprise.Apprise.instantiate(webhook), webhook, message)
    assert body == message.markdown  # a webhook takes the whole message


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=1, max_value=2000))
def test_fit_markdown_never_exceeds_the_limit(markdown: str, limit: int) -> None:
    fitted = content.fit_markdown(markdown, limit, link="https://xtrack.test/s/1")
    assert len(fitted) <= limit
    if len(markdown) <= limit:
        assert fitted == markdown


def test_body_limits() -> None:
    assert senders.body_limit("tgram", 4096) == 4096
    assert senders.body_limit("discord", 2000) == 2000
    assert senders.body_limit("json", 32768) is None
    assert senders.body_limit("ntfy", 3900) == 3900
    assert senders.body_limit("other", 0) is None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (TELEGRAM, "tgram://***/…"),
        ("jsons://user:pw@hooks.example.com/x/KEY", "jsons://***@hooks.example.com/…"),
        ("json://127.0.0.1:8080/hook?token=abc", "json://127.0.0.1:8080/…"),
        (DISCORD, "discord://***/…"),
        ("ntfy://my-secret-topic", "ntfy://***"),
        ("", ""),
        ("no scheme at all", "***"),
    ],
)
def test_urls_are_masked(url: str, masked: str) -> None:
    assert masking.mask_url(url) == masked


def test_scrub_removes_every_secret_part_of_a_url_from_a_message() -> None:
    url = "jsons://user:hunter22@hooks.example.com/path/K3Y-SECRET?token=t0ken%2Bx"
    text = f"Failed to post {url} (token=t0ken+x, auth hunter22, key K3Y-SECRET) to hooks.example.com"
    scrubbed = masking.scrub(text, url)
    for secret in ("hunter22", "K3Y-SECRET", "t0ken%2Bx", "t0ken+x", "user:"):
        assert secret not in scrubbed
    assert "hooks.example.com" in scrubbed
    assert masking.scrub(f"bad token {TELEGRAM.split('//')[1].split('/')[0]}", TELEGRAM) == "bad token ***"


def test_check_apprise_url_explains_what_is_wrong() -> None:
    assert senders.check_apprise_url(f"  {TELEGRAM} ") == TELEGRAM
    with pytest.raises(ValueError, match="json://"):
        senders.check_apprise_url("https://hooks.slack.com/services/x")
    with pytest.raises(ValueError, match="does not understand"):
        senders.check_apprise_url("pigeon://coo")
    with pytest.raises(ValueError, match="too long"):
        senders.check_apprise_url("json://h/" + "x" * 2001)


def test_a_url_a_user_mistyped_is_a_form_message_not_an_error_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError, match="does not understand"):
        senders.check_apprise_url("tgram://bad")
    assert [r for r in caplog.records if r.name.startswith("apprise") and r.levelno >= logging.WARNING] == []


def test_unsubscribe_tokens_are_signed_for_one_pair(settings: Settings) -> None:
    token = links.unsubscribe_token(settings, target_id=3, job_id=9)
    assert links.read_unsubscribe_token(settings, token) == (3, 9)
    other = links.unsubscribe_token(settings, target_id=3, job_id=10)
    assert other != token
    payload, _, signature = token.rpartition(".")
    forged_payload = links.unsubscribe_token(settings, target_id=4, job_id=9).rpartition(".")[0]
    for bad in (
        f"{forged_payload}.{signature}",  # another pair with this token's signature
        # (not the last character: its low bits are base64 padding that decoding ignores)
        f"{payload}.{signature[:5]}{'A' if signature[5] != 'A' else 'B'}{signature[6:]}",
        payload,
        "",
        "garbage",
    ):
        with pytest.raises(links.InvalidUnsubscribeToken):
            links.read_unsubscribe_token(settings, bad)
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("another-secret-key-that-is-long-enough-987654")}
    )
    with pytest.raises(links.InvalidUnsubscribeToken):
        links.read_unsubscribe_token(rotated, token)
    assert links.unsubscribe_url(settings, target_id=3, job_id=9).startswith(
        f"{settings.base_url}/unsubscribe?token="
    )
