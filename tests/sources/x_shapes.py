"""X API v2 answers as the documentation shows them (docs.x.com: data dictionary, expansions,
response codes and errors; the fields of ``GET /2/users/:id/tweets``), built for the contract tests.

* A post over 280 characters: ``text`` holds the first 280 characters, ``note_tweet.text`` the whole
  post and ``note_tweet.entities`` its links (``url`` the t.co link, ``expanded_url`` the target).
* A repost: ``text`` is ``RT @name: `` and a cut of the original; ``referenced_tweets`` has
  ``{"type": "retweeted", "id"}``; with ``expansions=referenced_tweets.id`` the original is in
  ``includes.tweets`` (with its own ``note_tweet``), its author in ``includes.users``
  (``referenced_tweets.id.author_id``).
* A quote: ``{"type": "quoted"}`` and the quoted post in ``includes.tweets``.
* An edited post: every version lists ``edit_history_tweet_ids`` (oldest first).
* A page can carry ``data`` and ``errors`` together (a referenced post deleted: ``resource_type``
  ``tweet``, ``parameter`` ``referenced_tweets.id``).
* 402 ``CreditsDepleted``; 429 ``UsageCapExceeded`` (``…/problems/usage-capped``, period Monthly);
  the per-window 429 with ``x-rate-limit-*`` headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from xtrack.sources.ids import snowflake

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

ALICE = {"id": "2244994945", "name": "Alice Analyst", "username": "alice"}
BOB = {"id": "783214", "name": "Bob Builder", "username": "bob"}
CAROL = {"id": "17874544", "name": "Carol Researcher", "username": "carol"}


def long_text(tag: str, length: int = 600) -> str:
    """A post of ``length`` characters whose every word is distinct (``tag`` + a number), ending in
    a t.co link, so a test can tell any cut apart."""
    words: list[str] = []
    n = 0
    while len(" ".join(words)) < length - 30:
        words.append(f"{tag}{n}")
        n += 1
    body = " ".join(words)
    return f"{body} https://t.co/{tag}Lnk"


def link_entity(text: str, short: str, target: str) -> dict[str, Any]:
    start = text.index(short)
    return {
        "start": start,
        "end": start + len(short),
        "url": short,
        "expanded_url": target,
        "display_url": target.removeprefix("https://")[:25] + "…",
    }


def post_id(minutes: int, sequence: int = 0) -> str:
    return str(snowflake(START + timedelta(minutes=minutes), sequence))


def tweet(
    id_: str,
    author: dict[str, str],
    text: str,
    *,
    minutes: int,
    references: list[dict[str, str]] | None = None,
    history: list[str] | None = None,
) -> dict[str, Any]:
    """A post object with the requested fields; over 280 characters it gets its ``note_tweet``."""
    created = START + timedelta(minutes=minutes)
    body: dict[str, Any] = {
        "id": id_,
        "author_id": author["id"],
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conversation_id": id_,
        "lang": "en",
        "edit_history_tweet_ids": history or [id_],
        "public_metrics": {
            "retweet_count": 4,
            "reply_count": 1,
            "like_count": 12,
            "quote_count": 2,
            "bookmark_count": 0,
            "impression_count": 530,
        },
    }
    short = next((word for word in text.split() if word.startswith("https://t.co/")), None)
    entities = (
        {"urls": [link_entity(text, short, f"https://example.com/{short.rsplit('/', 1)[1]}")]}
        if short
        else None
    )
    if len(text) > 280:
        body["text"] = text[:280]
        body["note_tweet"] = {"text": text, **({"entities": entities} if entities else {})}
        cut = body["text"]
        if short and short in cut:
            body["entities"] = entities
    else:
        body["text"] = text
        if entities:
            body["entities"] = entities
    if references:
        body["referenced_tweets"] = references
    return body


def repost(
    id_: str,
    reposter: dict[str, str],
    original: dict[str, Any],
    original_author: dict[str, str],
    *,
    minutes: int,
) -> dict[str, Any]:
    """The reposter's post: X gives ``RT @name: `` and the original cut at 140 characters."""
    original_text = original.get("note_tweet", {}).get("text", original["text"])
    return tweet(
        id_,
        reposter,
        f"RT @{original_author['username']}: {original_text[:140]}…",
        minutes=minutes,
        references=[{"type": "retweeted", "id": original["id"]}],
    )


def page(
    data: list[dict[str, Any]],
    *,
    included: list[dict[str, Any]] | None = None,
    users: list[dict[str, str]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data}
    includes: dict[str, Any] = {}
    if included:
        includes["tweets"] = included
    if users:
        includes["users"] = users
    if includes:
        body["includes"] = includes
    if errors:
        body["errors"] = errors
    ids = sorted((int(item["id"]) for item in data), reverse=True)
    meta: dict[str, Any] = {"result_count": len(data)}
    if ids:
        meta |= {"newest_id": str(ids[0]), "oldest_id": str(ids[-1])}
    if next_token:
        meta["next_token"] = next_token
    body["meta"] = meta
    return body


def deleted_reference(ref_id: str) -> dict[str, Any]:
    """The partial error of a referenced post X could not include."""
    return {
        "value": ref_id,
        "detail": f"Could not find tweet with referenced_tweets.id: [{ref_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "referenced_tweets.id",
        "resource_id": ref_id,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


CREDITS_DEPLETED = {
    "title": "CreditsDepleted",
    "detail": (
        "Your enrolled account [1712345678901234567] does not have any credits to fulfill this request."
    ),
    "type": "https://api.twitter.com/2/problems/credits",
}

USAGE_CAPPED = {
    "account_id": 1712345678901234567,
    "product_name": "standard-basic",
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}

TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def whole_posts_page() -> tuple[dict[str, Any], dict[str, str]]:
    """Alice's page: a 600-character post, a repost of Bob's 600-character post, a quote of
    Carol's 600-character post and a reply; and the full texts each must keep, by post id."""
    own = tweet(post_id(1), ALICE, long_text("own"), minutes=1)
    bobs = tweet(post_id(-60, 1), BOB, long_text("bob"), minutes=-60)
    reposted = repost(post_id(2), ALICE, bobs, BOB, minutes=2)
    carols = tweet(post_id(-90, 2), CAROL, long_text("carol"), minutes=-90)
    quote_text = "Worth reading in full, the second half is the point https://t.co/qtLnk"
    quoting = tweet(
        post_id(3), ALICE, quote_text, minutes=3, references=[{"type": "quoted", "id": carols["id"]}]
    )
    quoting["entities"] = {
        "urls": [link_entity(quote_text, "https://t.co/qtLnk", f"https://x.com/carol/status/{carols['id']}")]
    }
    reply = tweet(
        post_id(4),
        ALICE,
        "@bob agreed, with one caveat",
        minutes=4,
        references=[{"type": "replied_to", "id": bobs["id"]}],
    )
    body = page(
        [reply, quoting, reposted, own],
        included=[bobs, carols],
        users=[ALICE, BOB, CAROL],
    )
    texts = {
        own["id"]: own["note_tweet"]["text"],
        reposted["id"]: bobs["note_tweet"]["text"],
        quoting["id"]: carols["note_tweet"]["text"],
    }
    return body, texts
