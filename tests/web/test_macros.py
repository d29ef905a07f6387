from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from xtrack.web.templating import templates

NOW = datetime(2025, 11, 25, 13, 5, tzinfo=UTC)
EVIL = "<script>alert('x')</script>\"&"


def render(call: str, **context: Any) -> str:
    source = '{% import "macros.html" as ui %}' + call
    return templates.env.from_string(source).render(now=NOW, evil=EVIL, **context)


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    parser = Collector()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def test_status_badge_has_colour_icon_and_word() -> None:
    html = render('{{ ui.status_badge("FAILED", error_kind="rate_limited", run_id=7) }}')
    (span, *_) = tags(html, "span")
    assert span["class"] == "badge status-failed"
    assert span["data-status"] == "FAILED" and span["data-run-id"] == "7"
    assert "data-active" not in span
    (svg,) = tags(html, "svg")
    assert svg["aria-hidden"] == "true"
    assert "Failed · rate limited" in html


def test_status_badge_of_an_execution_marks_active_runs() -> None:
    class Run:
        id = 42
        status = "RUNNING"
        tweets_fetched = 0
        error_kind = None
        started_at = NOW - timedelta(seconds=80)

    html = render("{{ ui.status_badge(run, now=now) }}", run=Run())
    (span, *_) = tags(html, "span")
    assert span["data-run-id"] == "42" and "data-active" in span
    assert "Running · 1m 20s" in html


def test_time_tag_is_server_rendered_with_absolute_title() -> None:
    html = render('{{ ui.time_tag(t, "Europe/Paris", now=now) }}', t=NOW - timedelta(minutes=3))
    (time,) = tags(html, "time")
    assert time["datetime"] == "2025-11-25T13:02:00Z"
    assert time["title"] == "Tue 25 Nov 2025, 14:02 CET"
    assert "data-relative" in time
    assert ">3 min ago</time>" in html


def test_time_tag_both_prints_absolute_text_for_touch_screens() -> None:
    html = render('{{ ui.time_tag(t, "Europe/Paris", now=now, show="both") }}', t=NOW + timedelta(minutes=12))
    assert ">Tue 25 Nov 2025, 14:17 CET</time>" in html and ">in 12 min</time>" in html
    assert render("{{ ui.time_tag(none) }}").strip() == '<span class="muted">—</span>'


def test_field_wires_label_hint_and_error() -> None:
    html = render(
        '{{ ui.field("topics", "Topics", value=evil, hint="Comma separated",'
        ' errors={"topics": "Choose at least one topic"}) }}'
    )
    (label,) = tags(html, "label")
    (field,) = tags(html, "input")
    assert label["for"] == field["id"] == "field-topics"
    assert field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "field-topics-hint field-topics-error"
    assert field["value"] == EVIL  # kept, and escaped in the markup
    assert "<script>" not in html
    assert 'id="field-topics-error"' in html and "Choose at least one topic" in html


def test_field_without_error_is_not_invalid_and_password_is_never_echoed() -> None:
    html = render('{{ ui.field("password", "Password", type="password", value="hunter2") }}')
    (field,) = tags(html, "input")
    assert "aria-invalid" not in field and "aria-describedby" not in field
    assert "hunter2" not in html


def test_select_textarea_and_checkbox_fields() -> None:
    html = render(
        '{{ ui.field("frequency", "Frequency", type="select", value=60,'
        ' options=[(15, "15 min"), (60, "1 h")]) }}'
        '{{ ui.field("notes", "Notes", type="textarea", value=evil) }}'
        '{{ ui.field("active", "Active", type="checkbox", checked=true) }}'
    )
    options = tags(html, "option")
    assert [o.get("value") for o in options] == ["15", "60"]
    assert "selected" in options[1] and "selected" not in options[0]
    assert "&lt;script&gt;" in html and "<script>" not in html
    checkbox = next(i for i in tags(html, "input") if i["type"] == "checkbox")
    assert "checked" in checkbox


def test_error_summary_links_each_message_to_its_field() -> None:
    html = render('{{ ui.error_summary({"topics": "Choose at least one topic", "__all__": evil}) }}')
    links = tags(html, "a")
    assert [a["href"] for a in links] == ["#field-topics"]
    (box,) = [d for d in tags(html, "div") if "data-error-summary" in d]
    assert box["role"] == "alert" and box["tabindex"] == "-1"
    assert "<script>" not in html
    assert render("{{ ui.error_summary({}) }}").strip() == ""


def test_empty_state_has_a_next_step() -> None:
    html = render(
        '{{ ui.empty_state(evil, "Jobs appear here.", [{"href": "/jobs/new", "label": "Create a job"},'
        ' {"href": "/playground", "label": "Try the playground"}]) }}'
    )
    links = tags(html, "a")
    assert [a["href"] for a in links] == ["/jobs/new", "/playground"]
    assert links[0]["class"] == "button" and links[1]["class"] == "button secondary"
    assert "<script>" not in html


def test_pagination_disables_missing_directions() -> None:
    html = render('{{ ui.pagination(none, "/jobs/1?before=20&status=FAILED") }}')
    (link,) = tags(html, "a")
    assert link["href"] == "/jobs/1?before=20&status=FAILED" and link["rel"] == "next"
    assert 'aria-disabled="true">← Newer' in html
    assert render("{{ ui.pagination(none, none) }}").strip() == ""


def test_poll_region_and_copy_button_carry_their_data_attributes() -> None:
    html = render(
        '{% call ui.poll_region("/jobs/1/runs/poll?status=FAILED", true) %}rows{% endcall %}'
        '{{ ui.copy_button("#summary-markdown") }}'
    )
    (region, *_) = tags(html, "div")
    assert region["data-poll-url"] == "/jobs/1/runs/poll?status=FAILED"
    assert region["data-poll-active"] == "true"
    assert "rows" in html
    (button,) = tags(html, "button")
    assert button["data-copy-target"] == "#summary-markdown" and "hidden" in button
    assert button["type"] == "button"


def test_noscript_refresh_only_while_active() -> None:
    assert "http-equiv" in render("{{ ui.noscript_refresh(true) }}")
    assert render("{{ ui.noscript_refresh(false) }}").strip() == ""


def test_icons_never_use_style_attributes() -> None:
    html = "".join(
        render(f'{{{{ ui.icon("{n}") }}}}') for n in ["clock", "ring", "check", "cross", "slash", "warn"]
    )
    assert "style=" not in html
    assert html.count('aria-hidden="true"') == 6


class FakeRun:
    def __init__(self, **fields: Any) -> None:
        defaults: dict[str, Any] = {
            "id": 9,
            "status": "COMPLETED",
            "trigger": "SCHEDULED",
            "tweets_fetched": 4,
            "error_kind": None,
            "error_message": None,
            "created_at": NOW - timedelta(minutes=10),
            "queued_at": NOW - timedelta(minutes=10),
            "started_at": NOW - timedelta(minutes=9),
            "completed_at": NOW - timedelta(minutes=8, seconds=40),
            "attempt": 1,
        }
        defaults.update(fields)
        self.__dict__.update(defaults)


def test_run_row_for_a_completed_run() -> None:
    html = render(
        "<table>{{ ui.runs_head() }}<tbody>{{ ui.run_row(run, 'Europe/Paris', now=now, summary_url='/s/1') }}"
        "</tbody></table>",
        run=FakeRun(),
    )
    assert html.count("<th ") == 7 and html.count("<td") == 7
    assert "Completed" in html and ">20s<" in html and ">Scheduled<" in html
    assert '<a href="/s/1">Summary</a>' in html
    assert "<form" not in html


def test_run_row_for_a_failed_run_shows_the_error_and_no_post_count() -> None:
    html = render(
        "{{ ui.run_row(run, now=now, retry_url='/runs/9/retry') }}",
        run=FakeRun(status="FAILED", error_kind="rate_limited", error_message=EVIL, tweets_fetched=0),
    )
    assert "Failed · rate limited" in html
    assert 'class="num">—</td>' in html  # never "0 posts" on a failed run
    assert 'id="run-9-error"' in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "<form" not in html  # no request given: no CSRF token, so no form


def test_run_row_for_a_queued_run() -> None:
    html = render(
        "{{ ui.run_row(run, now=now) }}",
        run=FakeRun(status="QUEUED", started_at=None, completed_at=None, tweets_fetched=0),
    )
    assert "data-active" in html and ">Queued<" in html and "10 min ago" in html
