"""What a notification says, as pure functions of the data: subject, Markdown (chat), plain text and
sanitized HTML (email). Summary Markdown goes through ``xtrack.summarize.rendering`` only.

Chat services have message limits (Telegram 4,096 characters, Discord 2,000, Slack about 4,000):
``fit_markdown`` truncates at a line or word boundary and ends with a link to the full summary, so a
notification is always exactly one message (a retry never re-sends half of a split message).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from markupsafe import Markup

from xtrack.summarize.rendering import markdown_to_text, render_markdown

SUBJECT_PREFIX = "[XTrack]"
MAX_SUBJECT = 200
MAX_POST_LINKS = 20

# Message limits in characters by apprise scheme; a service not listed uses apprise's own limit.
# Generic webhooks (json, form, xml) take the whole message.
CHAT_LIMITS: dict[str, int | None] = {
    "tgram": 4096,
    "discord": 2000,
    "slack": 4000,
    "mmost": 4000,
    "mmosts": 4000,
    "json": None,
    "jsons": None,
    "form": None,
    "forms": None,
    "xml": None,
    "xmls": None,
}

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification; stored as the delivery's payload (``as_payload``)."""

    subject: str
    markdown: str  # the chat message body (Markdown), without the subject
    text: str  # the email's plain-text part
    html: str  # the email's HTML part (sanitized)
    link: str | None = None  # the page the message is about: "read more" when a chat body is cut

    def as_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Message:
        return cls(
            subject=str(payload.get("subject") or SUBJECT_PREFIX),
            markdown=str(payload.get("markdown") or ""),
            text=str(payload.get("text") or ""),
            html=str(payload.get("html") or ""),
            link=str(payload["link"]) if payload.get("link") else None,
        )


def one_line(text: str) -> str:
    return _SPACES.sub(" ", text or "").strip()


def subject_line(username: str, headline: str) -> str:
    """``[XTrack] @alice: <headline>`` (a headline that already names the account is kept as is)."""
    handle = f"@{username.lstrip('@')}"
    headline = one_line(headline)
    if headline.lower().startswith(handle.lower()):
        subject = f"{SUBJECT_PREFIX} {headline}"
    elif headline:
        subject = f"{SUBJECT_PREFIX} {handle}: {headline}"
    else:
        subject = f"{SUBJECT_PREFIX} {handle}: new summary"
    return truncate(subject, MAX_SUBJECT)


def truncate(text: str, limit: int, *, ellipsis: str = "…") -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def fit_markdown(markdown: str, limit: int | None, *, link: str | None) -> str:
    """``markdown`` within ``limit`` characters: cut at a line (else a word) boundary, never inside a
    line's link, and ended with a link to the whole text. ``None`` means no limit."""
    if limit is None or len(markdown) <= limit:
        return markdown
    suffix = f"\n\n… [Read the full summary]({link})" if link else "\n\n…"
    budget = limit - len(suffix)
    if budget <= 0:
        return suffix.strip()[:limit]
    cut = markdown[:budget]
    newline = cut.rfind("\n")
    if newline > budget // 3:
        cut = cut[:newline]
    else:
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else cut
    return cut.rstrip() + suffix


CHAT_POINTS = 5


def chat_digest(content: str, *, points: int = CHAT_POINTS) -> str:
    """A briefing for chat: its headline, then its first ``points`` points under their theme
    headings, then how many more there are (the message then fits every chat service's limit)."""
    lines: list[str] = []
    pending_heading: str | None = None
    shown = hidden = 0
    for line in content.strip().splitlines():
        stripped = line.strip()
        if stripped.startswith("## ") and not lines:
            lines.append(stripped)
        elif stripped.startswith("#"):
            pending_heading = stripped
        elif stripped.startswith("- "):
            if shown == points:
                hidden += 1
                continue
            if pending_heading is not None:
                lines.extend(["", pending_heading])
                pending_heading = None
            lines.append(stripped)
            shown += 1
    if hidden:
        lines.extend(["", f"…and {hidden} more point{'s' if hidden != 1 else ''}."])
    return "\n".join(lines)


def _links_markdown(post_urls: Sequence[str]) -> str:
    shown = list(post_urls[:MAX_POST_LINKS])
    lines = [f"- <{url}>" for url in shown]
    if len(post_urls) > len(shown):
        lines.append(f"- …and {len(post_urls) - len(shown)} more")
    return "\n".join(lines)


def _html_document(title: str, body: Markup) -> str:
    return str(
        Markup(
            '<!doctype html>\n<html><head><meta charset="utf-8">'
            # Phones: without it, mail apps render the page at desktop width and shrink it.
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>{title}</title></head>\n"
            "<body>\n{body}\n</body></html>\n"
        ).format(title=title, body=body)
    )


def _footer_text(reason: str, unsubscribe_url: str | None, manage_url: str | None) -> str:
    lines = ["--", reason]
    if unsubscribe_url:
        lines.append(f"Unsubscribe: {unsubscribe_url}")
    if manage_url:
        lines.append(f"Manage your notification targets: {manage_url}")
    return "\n".join(lines)


def _footer_html(reason: str, unsubscribe_url: str | None, manage_url: str | None) -> Markup:
    links: list[Markup] = []
    if unsubscribe_url:
        links.append(Markup('<a href="{}">Unsubscribe</a>').format(unsubscribe_url))
    if manage_url:
        links.append(Markup('<a href="{}">Manage your notification targets</a>').format(manage_url))
    return Markup("<hr>\n<p><small>{reason}{sep}{links}</small></p>").format(
        reason=reason, sep=Markup(" ") if links else "", links=Markup(" · ").join(links)
    )


def summary_message(
    *,
    username: str,
    headline: str,
    content: str,
    post_urls: Sequence[str],
    summary_url: str,
    unsubscribe_url: str | None,
    manage_url: str | None,
    target_name: str,
    accounts: Sequence[str] = (),
) -> Message:
    """A new summary: the summary itself, links to its posts and its page, and an unsubscribe link.
    A briefing (``accounts``, more than one): chat gets its headline and top points, the email all
    of it, section by theme, each point with its link."""
    subject = subject_line(username, headline)
    handle = f"@{username.lstrip('@')}"
    reason = f"You get this because your XTrack job for {handle} sends its summaries to “{target_name}”."
    posts_md = _links_markdown(post_urls)
    markdown = f"{content.strip()}\n\n[Read it on XTrack]({summary_url})"
    if len(accounts) > 1:
        subject = truncate(f"{SUBJECT_PREFIX} {one_line(headline) or 'Your briefing'}", MAX_SUBJECT)
        briefing = f"your XTrack briefing over {len(accounts)} accounts"
        reason = f"You get this because {briefing} sends its summaries to “{target_name}”."
        posts_md = ""  # every point of a briefing carries its own link
        markdown = f"{chat_digest(content)}\n\n[Read it on XTrack]({summary_url})"
    text_parts = [markdown_to_text(content)]
    if posts_md:
        text_parts.append("Posts:\n" + markdown_to_text(posts_md))
    text_parts.append(f"Read it on XTrack: {summary_url}")
    text_parts.append(_footer_text(reason, unsubscribe_url, manage_url))
    body = Markup('{summary}\n{posts}<p><a href="{url}">Read it on XTrack</a></p>\n{footer}').format(
        summary=render_markdown(content),
        posts=(Markup("<h3>Posts</h3>\n{}\n").format(render_markdown(posts_md)) if posts_md else ""),
        url=summary_url,
        footer=_footer_html(reason, unsubscribe_url, manage_url),
    )
    return Message(
        subject=subject,
        markdown=markdown,
        text="\n\n".join(text_parts) + "\n",
        html=_html_document(subject, body),
        link=summary_url,
    )


def _notice(
    *,
    subject: str,
    paragraphs: Sequence[str],
    link: str,
    link_label: str,
    reason: str,
    unsubscribe_url: str | None,
    manage_url: str | None,
) -> Message:
    markdown = "\n\n".join([*(escape_markdown(p) for p in paragraphs), f"[{link_label}]({link})"])
    text = "\n\n".join(
        [*paragraphs, f"{link_label}: {link}", _footer_text(reason, unsubscribe_url, manage_url)]
    )
    body = Markup('{paragraphs}\n<p><a href="{link}">{label}</a></p>\n{footer}').format(
        paragraphs=Markup("\n").join(Markup("<p>{}</p>").format(p) for p in paragraphs),
        link=link,
        label=link_label,
        footer=_footer_html(reason, unsubscribe_url, manage_url),
    )
    return Message(
        subject=subject, markdown=markdown, text=text + "\n", html=_html_document(subject, body), link=link
    )


def account_failure_message(
    *,
    warnings: Sequence[str],
    failures: int,
    job_url: str,
    unsubscribe_url: str | None,
    manage_url: str | None,
    target_name: str,
) -> Message:
    """Accounts of a briefing skipped in ``failures`` runs in a row (sent once per streak)."""
    lead = f"Some accounts of your XTrack briefing were skipped in the last {failures} runs in a row:"
    paragraphs = [lead, *(truncate(one_line(warning), 300) for warning in warnings[:20])]
    paragraphs.append("The other accounts are still summarized. Remove or fix these on the job page.")
    return _notice(
        subject=truncate(f"{SUBJECT_PREFIX} briefing: {len(warnings)} account(s) keep failing", MAX_SUBJECT),
        paragraphs=paragraphs,
        link=job_url,
        link_label="Open the job",
        reason=f"You get this because your XTrack job notifies “{target_name}” about failures.",
        unsubscribe_url=unsubscribe_url,
        manage_url=manage_url,
    )


def failure_message(
    *,
    username: str,
    failures: int,
    error: str | None,
    job_url: str,
    unsubscribe_url: str | None,
    manage_url: str | None,
    target_name: str,
) -> Message:
    """The job's last ``failures`` runs failed (sent once per streak)."""
    handle = f"@{username.lstrip('@')}"
    if failures == 1:
        headline, lead = "the last run failed", f"The last run of your XTrack job for {handle} failed."
    else:
        headline = f"{failures} runs in a row failed"
        lead = f"The last {failures} runs of your XTrack job for {handle} failed."
    paragraphs = [lead]
    if error:
        paragraphs.append(f"Latest error: {truncate(one_line(error), 500)}")
    paragraphs.append("We will tell you once when it works again; no more failure notices until then.")
    return _notice(
        subject=truncate(f"{SUBJECT_PREFIX} {handle}: {headline}", MAX_SUBJECT),
        paragraphs=paragraphs,
        link=job_url,
        link_label="Open the job",
        reason=f"You get this because your XTrack job for {handle} notifies “{target_name}” about failures.",
        unsubscribe_url=unsubscribe_url,
        manage_url=manage_url,
    )


def recovery_message(
    *, username: str, job_url: str, unsubscribe_url: str | None, manage_url: str | None, target_name: str
) -> Message:
    """A run completed again after a failure notice."""
    handle = f"@{username.lstrip('@')}"
    return _notice(
        subject=truncate(f"{SUBJECT_PREFIX} {handle}: runs work again", MAX_SUBJECT),
        paragraphs=[f"Your XTrack job for {handle} completed a run again after failing."],
        link=job_url,
        link_label="Open the job",
        reason=f"You get this because your XTrack job for {handle} notifies “{target_name}” about failures.",
        unsubscribe_url=unsubscribe_url,
        manage_url=manage_url,
    )


def target_test_message(*, target_name: str, manage_url: str) -> Message:
    """ "Send test" from the targets page or the API."""
    return _notice(
        subject=f"{SUBJECT_PREFIX} Test notification",
        paragraphs=[f"This is a test of your XTrack notification target “{target_name}”. It works."],
        link=manage_url,
        link_label="Your notification targets",
        reason="You get this because someone pressed “Send test” for this target on XTrack.",
        unsubscribe_url=None,
        manage_url=None,
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def escape_markdown(text: str) -> str:
    """Plain text that renders as itself in Markdown (error messages, names)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def budget_message(
    *,
    percent: int,
    limit_usd: float,
    spent_usd: float,
    action: str,
    resets: str,
    usage_url: str,
    manage_url: str,
) -> Message:
    """80 % or 100 % of the month's budget is spent (each sent once a month)."""
    spent = f"${spent_usd:.2f} of your ${limit_usd:.2f} monthly budget"
    if percent >= 100:
        headline = "monthly budget spent"
        then = (
            "Scheduled runs are skipped and manual runs refused"
            if action == "pause"
            else "Runs keep going, summarized offline (no LLM tokens)"
        )
        paragraphs = [f"You have spent {spent}.", f"{then} until the budget resets on {resets}."]
    else:
        headline = f"{percent}% of the monthly budget spent"
        paragraphs = [f"You have spent {spent} ({percent}% or more).", f"The budget resets on {resets}."]
    return _notice(
        subject=truncate(f"{SUBJECT_PREFIX} {headline}", MAX_SUBJECT),
        paragraphs=paragraphs,
        link=usage_url,
        link_label="See your usage",
        reason="You get this because your XTrack account has a monthly budget.",
        unsubscribe_url=None,
        manage_url=manage_url,
    )
