""" "Connect real services": which variables switch XTrack from the offline defaults to the real
X API, twitterapi.io, RSS, an LLM and SMTP, with what this instance uses now (never secrets), and
whether the open networks the viewer's jobs follow (Bluesky, Mastodon servers) answer."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from xtrack.config import Settings
from xtrack.ops.networks import accounts_in_use, check_networks
from xtrack.summarize.pricing import find_price, price_table
from xtrack.users.deps import CurrentUser
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Integration:
    title: str
    current: str
    variables: list[tuple[str, str]]  # (line for .env, what it does)
    note: str


def integrations(current_source: str, current_summarizer: str, smtp_configured: bool) -> list[Integration]:
    return [
        Integration(
            "Official X API v2",
            "in use" if current_source == "x" else "",
            [
                ("XTRACK_SOURCE=x", "fetch posts from the official X API"),
                ("XTRACK_X_BEARER_TOKEN=…", "the app's bearer token from the X developer portal"),
            ],
            "X bills per post read; XTrack reads each post once however many jobs follow the account.",
        ),
        Integration(
            "twitterapi.io",
            "in use" if current_source == "twitterapi" else "",
            [
                ("XTRACK_SOURCE=twitterapi", "use twitterapi.io's search"),
                ("XTRACK_TWITTERAPI_KEY=…", "your key"),
            ],
            "A cheaper third-party API with the same results for public accounts.",
        ),
        Integration(
            "RSS (self-hosted bridge)",
            "in use" if current_source == "rss" else "",
            [
                ("XTRACK_SOURCE=rss", "read an RSS bridge"),
                ("XTRACK_RSS_URL_TEMPLATE=https://…/{username}", ""),
            ],
            "For an RSSHub-style bridge you run; conditional requests keep it cheap.",
        ),
        Integration(
            "Bluesky and Mastodon",
            "in use" if current_source != "demo" else "",
            [
                (
                    "XTRACK_BLUESKY_API_URL=https://public.api.bsky.app",
                    "the Bluesky AppView (the public one by default)",
                ),
                ("XTRACK_MASTODON_BASE_URL=", "empty: each account is read on its own server"),
            ],
            "No key: follow alice.bsky.social or @bob@mastodon.social in any job. Mastodon servers are "
            "contacted through the outbound guard (XTRACK_OUTBOUND_ALLOW_PRIVATE). With the demo source, "
            "the demo plays these accounts too.",
        ),
        Integration(
            "OpenAI-compatible LLM (OpenAI, Ollama, vLLM, OpenRouter, Gemini)",
            "in use" if current_summarizer == "openai" else "",
            [
                ("XTRACK_SUMMARIZER=openai", "summaries written by an LLM"),
                ("XTRACK_LLM_API_KEY=…", "not needed for a local Ollama"),
                ("XTRACK_LLM_URL=http://127.0.0.1:11434/v1", "only for a server other than OpenAI's"),
                ("XTRACK_LLM_MODEL=…", "e.g. gpt-4o-mini or llama3.1"),
            ],
            "Runs with fewer new posts than XTRACK_LLM_MIN_POSTS still use the free extractive summary.",
        ),
        Integration(
            "Anthropic",
            "in use" if current_summarizer == "anthropic" else "",
            [
                ("XTRACK_SUMMARIZER=anthropic", ""),
                ("XTRACK_LLM_API_KEY=…", ""),
                ("XTRACK_LLM_MODEL=…", "optional"),
            ],
            "Token use and cost are recorded on every summary.",
        ),
        Integration(
            "Email (SMTP)",
            "configured" if smtp_configured else "",
            [
                ("XTRACK_SMTP_URL=smtp://user:password@host:587?starttls=true", ""),
                ("XTRACK_EMAIL_FROM=XTrack <xtrack@yourdomain>", ""),
            ],
            "Without it, emails are printed in the terminal and kept as .eml files in the data directory.",
        ),
    ]


def prices(settings: Settings) -> dict[str, object]:
    """What XTrack assumes things cost (the settings' price table): each source's price per post and
    lookup, and the LLM prices per million tokens, the configured model's marked."""
    table = price_table(settings.llm_prices)
    model = settings.llm_model or ""
    current = find_price(model, table) if model else None
    return {
        "sources": [
            ("X API v2, per post read", settings.x_price_per_post_usd, "XTRACK_X_PRICE_PER_POST_USD"),
            (
                "X API v2, per user lookup",
                settings.x_price_per_user_lookup_usd,
                "XTRACK_X_PRICE_PER_USER_LOOKUP_USD",
            ),
            (
                "twitterapi.io, per 1,000 posts",
                settings.twitterapi_price_per_1000_posts_usd,
                "XTRACK_TWITTERAPI_PRICE_PER_1000_POSTS_USD",
            ),
            ("RSS bridge, demo", 0.0, ""),
        ],
        "llm": sorted(table.items()),
        "current_price": current,
        "llm_min_posts": settings.llm_min_posts,
        "default_budget": settings.default_monthly_budget_usd,
        "instance_budget": settings.monthly_budget_usd,
    }


@router.get("/connect", response_class=HTMLResponse)
async def connect_page(
    request: Request, user: CurrentUser, settings: SettingsDep, session: SessionDep
) -> HTMLResponse:
    # One lookup per network the viewer's active jobs follow (none for X: `xtrack doctor` checks it).
    networks = await check_networks(settings, await accounts_in_use(session, user_id=user.id))
    return render(
        request,
        "connect.html",
        {
            "source": settings.source,
            "summarizer": settings.summarizer,
            "items": integrations(settings.source, settings.summarizer, settings.smtp_url is not None),
            "prices": prices(settings),
            "llm_model": settings.llm_model,
            "networks": networks,
        },
    )
