"""xtrack.mail: SMTP delivery, the development mail sink, URL parsing, escaping."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.fakes.server import free_port
from tests.fakes.smtp import Inbox
from xtrack.config import Settings
from xtrack.mail import MailError, parse_smtp_url, send_email
from xtrack.users import emails


async def test_send_email_over_smtp_is_multipart_text_and_html(
    smtp_server: tuple[Inbox, str], settings: Settings
) -> None:
    inbox, url = smtp_server
    configured = settings.model_copy(update={"smtp_url": url, "email_from": "XTrack <robot@xtrack.test>"})
    await send_email(
        configured, to="reader@example.com", subject="Hello", text="plain body", html="<p>html body</p>"
    )
    message = inbox.last_to("reader@example.com")
    assert inbox.envelopes[-1] == ("robot@xtrack.test", ["reader@example.com"])
    assert message["Subject"] == "Hello" and message["From"] == "XTrack <robot@xtrack.test>"
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().strip() == "plain body"
    assert html is not None and "<p>html body</p>" in html.get_content()
    assert message["Message-ID"] and message["Date"]


async def test_without_smtp_the_email_is_printed_and_kept_as_eml(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sink = settings.model_copy(update={"smtp_url": None, "data_dir": tmp_path})
    caplog.set_level(logging.DEBUG)
    await send_email(
        sink, to="dev@example.com", subject="Sink", text="see http://x/verify?token=SECRET1", html="h"
    )
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    saved = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert saved["To"] == "dev@example.com" and saved["Subject"] == "Sink"
    captured = capsys.readouterr()
    assert (
        "token=SECRET1" in captured.err
        and "To: dev@example.com" in captured.err
        and str(files[0]) in captured.err
    )
    assert captured.out == ""
    assert "SECRET1" not in caplog.text  # the terminal shows the link, the structured log never does
    assert any(record.message == "mail.kept" for record in caplog.records)


async def test_unreachable_smtp_server_is_a_mail_error(settings: Settings) -> None:
    configured = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    with pytest.raises(MailError) as caught:
        await send_email(configured, to="a@example.com", subject="s", text="t", html="h")
    assert "127.0.0.1" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:1025", ("127.0.0.1", 1025, None, None, False, False)),
        (
            "smtp://user:p%40ss@mail.example.com:587?starttls=true",
            ("mail.example.com", 587, "user", "p@ss", False, True),
        ),
        ("smtp://u:p@mail.example.com?ssl=true", ("mail.example.com", 465, "u", "p", True, False)),
        ("smtps://mail.example.com", ("mail.example.com", 465, None, None, True, False)),
        ("smtp://mail.example.com?starttls=true", ("mail.example.com", 587, None, None, False, True)),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[object, ...]) -> None:
    config = parse_smtp_url(url)
    got = (config.hostname, config.port, config.username, config.password, config.use_tls, config.start_tls)
    assert got == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:notaport"])
def test_parse_smtp_url_rejects_nonsense(url: str) -> None:
    with pytest.raises(ValueError, match="XTRACK_SMTP_URL"):
        parse_smtp_url(url)


def test_account_emails_escape_the_html_part() -> None:
    email = emails.verification('https://x.test/verify?token=a"b<c>&d')
    assert 'href="https://x.test/verify?token=a&quot;b&lt;c&gt;&amp;d"' in email.html
    assert "<c>" not in email.html
    assert 'https://x.test/verify?token=a"b<c>&d' in email.text
