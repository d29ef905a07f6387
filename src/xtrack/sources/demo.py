"""The default source: offline, no keys, deterministic.

Every username gets a stable profile derived from a hash of the name: two or three favourite
topics and a posting interval of 4 to 14 minutes (with jitter), so scheduled runs every 15 minutes
always find something new. A name that names a topic (``ai_frontier``, ``chipwatch``,
``marketpulse``: see ``Topic.name_words``) posts mostly about it, as such an account would.

Accounts of Bluesky (``alice.bsky.social``) and Mastodon (``bob@mastodon.social``) post the same
way, with their network's links and reposts that name their original author.

Post ``k`` of an account is a pure function of (username, k); it is visible once its time has
passed on the source's clock, so the same ``now`` always gives the same posts. Ids are X-style
snowflakes of the post's time, hence monotonic.

A few usernames demonstrate failures: ``missing``, ``doesnotexist``, ``notfound`` (and any name
starting with ``missing_``) are unknown accounts; ``suspended`` and ``protected`` (or names
starting with those plus ``_``) are unavailable accounts."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from xtrack.db import utcnow
from xtrack.sources.base import AccountInfo, AccountNotFound, AccountUnavailable, FetchResult, Post
from xtrack.sources.bluesky_posts import make_tid
from xtrack.sources.handles import Network, network_of
from xtrack.sources.ids import snowflake, snowflake_time

NOT_FOUND_NAMES = frozenset({"missing", "doesnotexist", "notfound", "nobody"})
UNAVAILABLE_NAMES = {"suspended": "suspended", "protected": "protected"}
# Posting starts here for every account; any window after it holds posts.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
NAMED_TOPIC_SHARE = 0.6  # of the posts of an account whose name names a topic (plus its share of the rest)


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    hashtags: tuple[str, ...]
    subjects: tuple[str, ...]
    players: tuple[str, ...]
    # A username names this topic when one of its words is one of these or, for those of four
    # letters or more, when it contains one anywhere (marketpulse, chipwatch).
    name_words: tuple[str, ...] = ()


TOPICS: tuple[Topic, ...] = (
    Topic(
        "AI",
        ("#AI", "#LLM", "#MachineLearning", "#GenAI", "#AIAgents"),
        (
            "open-weight models",
            "reasoning benchmarks",
            "AI agents",
            "inference costs",
            "small language models",
            "multimodal models",
            "eval suites",
            "context windows",
        ),
        ("OpenAI", "Anthropic", "Google DeepMind", "Meta AI", "Mistral", "Hugging Face"),
        name_words=("ai", "ml", "llm", "gpt", "neural"),
    ),
    Topic(
        "chips",
        ("#semiconductors", "#chips", "#GPU", "#TSMC", "#HBM"),
        (
            "2nm yields",
            "HBM supply",
            "advanced packaging",
            "GPU lead times",
            "RISC-V cores",
            "export controls on accelerators",
            "fab capex",
        ),
        ("TSMC", "Nvidia", "AMD", "Intel", "ASML", "Samsung", "SK hynix"),
        name_words=("chip", "semi", "gpu", "silicon", "fab"),
    ),
    Topic(
        "markets",
        ("#markets", "#stocks", "#investing", "#Fed", "#earnings"),
        (
            "rate-cut odds",
            "the 10-year yield",
            "earnings guidance",
            "small-cap breadth",
            "the dollar",
            "oil prices",
            "credit spreads",
        ),
        ("the Fed", "the ECB", "Nasdaq", "the S&P 500", "Treasury", "the BoJ"),
        name_words=("market", "macro", "stock", "invest", "trader", "wallst"),
    ),
    Topic(
        "sports",
        ("#football", "#NBA", "#F1", "#tennis", "#ChampionsLeague"),
        (
            "the title race",
            "transfer rumours",
            "last night's comeback",
            "the injury list",
            "the playoff picture",
            "qualifying pace",
        ),
        ("Real Madrid", "the Celtics", "McLaren", "Arsenal", "the Lakers", "Ferrari"),
        name_words=("sport", "court", "goal", "ball", "racing"),
    ),
    Topic(
        "climate",
        ("#climate", "#energy", "#solar", "#ClimateAction", "#EVs"),
        (
            "grid-scale batteries",
            "heat records",
            "offshore wind auctions",
            "heat pump sales",
            "methane leaks",
            "EV charging",
            "carbon removal",
        ),
        ("the IEA", "NOAA", "Copernicus", "Ørsted", "CATL", "the UN"),
        name_words=("climate", "grid", "energy", "solar", "green"),
    ),
    Topic(
        "space",
        ("#space", "#SpaceX", "#NASA", "#Starship", "#astronomy"),
        (
            "the next Starship flight",
            "lunar landers",
            "JWST images",
            "reusable boosters",
            "satellite constellations",
            "Mars sample return",
        ),
        ("SpaceX", "NASA", "ESA", "Blue Origin", "Rocket Lab", "ISRO"),
        name_words=("space", "orbit", "rocket", "astro", "launch", "nasa"),
    ),
    Topic(
        "security",
        ("#infosec", "#cybersecurity", "#CVE", "#ransomware"),
        (
            "a new zero-day",
            "supply-chain attacks",
            "passkeys",
            "ransomware gangs",
            "patch Tuesday",
            "memory-safe languages",
        ),
        ("CISA", "Microsoft", "Google Project Zero", "Cloudflare", "GitHub"),
        name_words=("sec", "cyber", "hack", "infosec", "secnews"),
    ),
    Topic(
        "startups",
        ("#startups", "#VC", "#founders", "#SaaS"),
        (
            "seed valuations",
            "AI-native SaaS",
            "down rounds",
            "hiring plans",
            "product-led growth",
            "the IPO window",
        ),
        ("Y Combinator", "a16z", "Sequoia", "Stripe", "Figma"),
        name_words=("startup", "founder", "vc", "saas"),
    ),
)

_ORIGINAL = (
    "{player} just shared new numbers on {subject}. {opinion} {tags}",
    "Thread on {subject}: what changed this week and why it matters 🧵 {tags}",
    "Hot take: {subject} will matter more than {subject2} by {year}. {tags}",
    "{number}% of the people I talked to this week brought up {subject} unprompted. {tags}",
    "Reading the latest report on {subject} from {player}. {opinion} {tags}",
    "Everyone is watching {player} after today's news on {subject}. {opinion} {tags}",
    "Quick note on {subject}: the consensus is {mood}, I'm less sure. {tags}",
    "Chart of the day: {subject}, up {number}% since last quarter. {tags}",
    "If you only read one thing about {subject} today, make it this. {tags}",
    "Unpopular opinion: {player} is underrated on {subject}. {tags}",
)
_REPLY = (
    "@{other} Agreed on {subject}, but the timeline looks {mood} to me.",
    "@{other} Do you have a source for that? The {subject} numbers I saw were different.",
    "@{other} This is the best summary of {subject} I've read this week.",
    "@{other} Not sure {player} sees it that way. {opinion}",
)
_QUOTE = (
    "Worth reading on {subject}. {opinion} {tags}",
    "This, on {subject} 👇 {tags}",
    "Strong disagree on {subject} — here's why. {tags}",
)
_OPINIONS = (
    "Bigger than it looks.",
    "Not convinced yet.",
    "Huge if it holds up.",
    "The second-order effects are the story.",
    "Overhyped, in my view.",
    "Quietly important.",
    "This changes the roadmap for a lot of teams.",
)
_MOODS = ("too optimistic", "too gloomy", "about right", "way off", "premature")
_OTHERS = (
    "dataviz_daily",
    "macro_maria",
    "chipwatcher",
    "orbit_notes",
    "gridwonk",
    "benchmarks_bot",
    "courtside_stats",
    "secnews_now",
    "founder_fran",
)


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class Profile:
    username: str
    external_id: str
    display_name: str
    interval: timedelta
    phase: timedelta
    topics: tuple[Topic, ...]  # a topic the name names comes first
    worker: int  # 10 bits of the snowflake's low part
    named_topic: bool = False  # topics[0] is named by the username: most posts are about it


def named_topic(username: str) -> Topic | None:
    """The topic a username names, if any: ai_frontier -> AI, chipwatch -> chips."""
    name = username.casefold()
    words = [w for w in re.split(r"[_\-\d]+", name) if w]
    for topic in TOPICS:
        for key in topic.name_words:
            if key in words or (len(key) >= 4 and key in name):
                return topic
    return None


def profile(username: str) -> Profile:
    """The stable, hash-derived habits of one demo account."""
    rng = random.Random(_seed("profile", username))
    interval = timedelta(minutes=rng.randint(4, 14))
    favourites = tuple(rng.sample(TOPICS, k=rng.choice((2, 2, 3))))
    named = named_topic(username)
    if named is not None:
        favourites = (named, *[topic for topic in favourites if topic is not named][:2])
    local = re.split(r"[@.]", username)[0] or username  # alice.bsky.social, bob@mastodon.social
    words = [w for w in local.replace("-", "_").split("_") if w] or [local]
    return Profile(
        username=username,
        external_id=str(10**9 + _seed("id", username) % (9 * 10**17)),
        display_name=" ".join(w.capitalize() for w in words),
        interval=interval,
        phase=timedelta(seconds=rng.randrange(int(interval.total_seconds()))),
        topics=favourites,
        worker=rng.randrange(1024),
        named_topic=named is not None,
    )


def post_time(account: Profile, k: int) -> datetime:
    """When post ``k`` is published: a fixed slot plus up to 60% of an interval of jitter, so
    posts of one account never swap order."""
    jitter = random.Random(_seed("time", account.username, k)).random() * 0.6
    return EPOCH + account.phase + account.interval * (k + jitter)


def make_post(account: Profile, k: int) -> Post:
    created_at = post_time(account, k)
    # Whole milliseconds, as on X, so the id's time and created_at agree exactly.
    created_at = created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
    rng = random.Random(_seed("post", account.username, k))
    pick = rng.random()
    if account.named_topic and pick < NAMED_TOPIC_SHARE:
        topic = account.topics[0]
    elif pick < 0.85:
        topic = rng.choice(account.topics)
    else:
        topic = rng.choice(TOPICS)
    subject, subject2 = rng.sample(topic.subjects, k=2)
    tags = " ".join(rng.sample(topic.hashtags, k=rng.choice((1, 1, 2))))
    fill = {
        "subject": subject,
        "subject2": subject2,
        "player": rng.choice(topic.players),
        "opinion": rng.choice(_OPINIONS),
        "mood": rng.choice(_MOODS),
        "number": rng.randint(3, 87),
        "year": created_at.year + rng.randint(1, 4),
        "tags": tags,
        "other": rng.choice(_OTHERS),
    }
    post_id = str(snowflake(created_at, (account.worker << 12) | (k & 0xFFF)))
    network = network_of(account.username)
    kind = rng.random()
    is_reply = is_repost = is_quote = False
    original_author: str | None = None
    if kind < 0.12:
        is_reply = True
        text = rng.choice(_REPLY).format(**fill)
    elif kind < 0.20:
        is_repost = True
        # As the real sources give it: the original's whole text, its author named apart.
        original_author = _other_account(network, str(fill["other"]))
        text = rng.choice(_ORIGINAL).format(**fill)
    elif kind < 0.27:
        is_quote = True
        quoted = snowflake(created_at - timedelta(minutes=rng.randint(5, 600)), rng.randrange(1 << 22))
        text = (
            rng.choice(_QUOTE).format(**fill)
            + " "
            + _post_url(_other_account(network, str(fill["other"])), quoted)
        )
    else:
        text = rng.choice(_ORIGINAL).format(**fill)
    reach = math.exp(rng.gauss(4.0, 1.3))
    metrics = {
        "likes": int(reach),
        "reposts": int(reach * rng.uniform(0.05, 0.3)),
        "replies": int(reach * rng.uniform(0.02, 0.15)),
        "quotes": int(reach * rng.uniform(0.0, 0.05)),
        "views": int(reach * rng.uniform(40, 120)),
    }
    return Post(
        external_id=post_id,
        author_username=account.username,
        text=text,
        created_at=created_at,
        url=_post_url(account.username, int(post_id)),
        metrics=metrics,
        is_repost=is_repost,
        is_reply=is_reply,
        is_quote=is_quote,
        raw={"demo": True, "topic": topic.name, "k": k},
        original_author=original_author,
    )


def _other_account(network: Network, name: str) -> str:
    """Another demo account, written as an account of ``network`` is."""
    if network is Network.BLUESKY:
        return f"{name.replace('_', '-')}.bsky.social"
    if network is Network.MASTODON:
        return f"{name}@mastodon.social"
    return name


def _post_url(username: str, post_id: int) -> str:
    """Where the post would be on its network: x.com, bsky.app (a TID record key) or the Mastodon
    server (a Mastodon status id of the same time)."""
    network = network_of(username)
    moment = snowflake_time(post_id)
    if network is Network.BLUESKY:
        return f"https://bsky.app/profile/{username}/post/{make_tid(moment, post_id & 0x3FF)}"
    if network is Network.MASTODON:
        user, _, host = username.partition("@")
        status = (int(moment.timestamp() * 1000) << 16) | (post_id & 0xFFFF)
        return f"https://{host}/@{user}/{status}"
    return f"https://x.com/{username}/status/{post_id}"


def posts_between(account: Profile, start: datetime, end: datetime) -> list[Post]:
    """Every post of ``account`` published in ``[start, end]``, oldest first."""
    step = account.interval.total_seconds()
    first = max(0, math.floor((start - EPOCH - account.phase).total_seconds() / step) - 1)
    last = math.floor((end - EPOCH - account.phase).total_seconds() / step)
    posts = []
    for k in range(first, last + 1):
        post = make_post(account, k)
        if start <= post.created_at <= end:
            posts.append(post)
    return posts


class DemoSource:
    name = "demo"
    timeline_depth: int | None = None

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    async def aclose(self) -> None:
        return None

    def _check(self, username: str) -> None:
        name = username.lower()
        if name in NOT_FOUND_NAMES or name.startswith("missing_"):
            raise AccountNotFound(f"@{username} does not exist (demo)")
        for prefix, state in UNAVAILABLE_NAMES.items():
            if name == prefix or name.startswith(prefix + "_"):
                raise AccountUnavailable(f"@{username} is {state} (demo)", state=state)

    async def resolve(self, username: str) -> AccountInfo:
        self._check(username)
        account = profile(username.lower())
        return AccountInfo(
            username=username, external_id=account.external_id, display_name=account.display_name
        )

    async def fetch(
        self,
        account: AccountInfo,
        *,
        since_id: str | None,
        start_time: datetime | None,
        etag: str | None = None,
        last_modified: str | None = None,
        end_time: datetime | None = None,
    ) -> FetchResult:
        self._check(account.username)
        now = self.clock()
        start = start_time if start_time is not None else now - DEFAULT_WINDOW
        if since_id is not None:
            start = max(start, snowflake_time(since_id))
        # Like a real timeline, the demo cannot reach back forever: an older window is a gap.
        gap = start < now - MAX_WINDOW
        start = max(start, now - MAX_WINDOW)
        posts = posts_between(profile(account.username.lower()), start, min(now, end_time or now))
        if since_id is not None:
            floor = int(since_id)
            posts = [p for p in posts if p.sort_key > floor]
        return FetchResult(posts=posts, gap=gap, requests=1)
