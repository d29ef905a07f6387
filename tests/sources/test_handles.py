"""Which network an account is on, from the way it is written."""

from __future__ import annotations

import pytest

from xtrack.sources.handles import Handle, Network, network_of, parse_handle, profile_url


@pytest.mark.parametrize(
    ("typed", "network", "account"),
    [
        ("alice", Network.X, "alice"),
        ("@Alice_1", Network.X, "Alice_1"),
        ("https://x.com/alice", Network.X, "alice"),
        ("twitter.com/alice/status/1", Network.X, "alice"),
        ("alice.bsky.social", Network.BLUESKY, "alice.bsky.social"),
        ("@Alice.BSKY.social", Network.BLUESKY, "alice.bsky.social"),
        ("example.com", Network.BLUESKY, "example.com"),
        ("https://bsky.app/profile/alice.bsky.social", Network.BLUESKY, "alice.bsky.social"),
        ("bsky.app/profile/alice.bsky.social/post/3kabc", Network.BLUESKY, "alice.bsky.social"),
        ("did:plc:z72i7hdynmk6r22z27h6tvur", Network.BLUESKY, "did:plc:z72i7hdynmk6r22z27h6tvur"),
        ("@bob@mastodon.social", Network.MASTODON, "bob@mastodon.social"),
        ("Bob@Mastodon.Social", Network.MASTODON, "bob@mastodon.social"),
        ("https://mastodon.social/@bob", Network.MASTODON, "bob@mastodon.social"),
        ("https://mastodon.social/@carol@fosstodon.org", Network.MASTODON, "carol@fosstodon.org"),
    ],
)
def test_each_form_names_its_network(typed: str, network: Network, account: str) -> None:
    assert parse_handle(typed) == Handle(network, account)
    assert network_of(account) is network


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "@",
        "a b",
        "much_too_long_for_x",
        "bob@",
        "@bob@mastodon",
        "bob@host@other.org",
        "-bad-.example.com",
        "https://bsky.app/search?q=alice",
        "https://example.com/users",
        "https://x.com/",
        "alice.invalid",
        "al!ce",
    ],
)
def test_junk_is_no_account(junk: str) -> None:
    assert parse_handle(junk) is None


def test_profile_links() -> None:
    assert profile_url("alice") == "https://x.com/alice"
    assert profile_url("alice.bsky.social") == "https://bsky.app/profile/alice.bsky.social"
    assert profile_url("bob@mastodon.social") == "https://mastodon.social/@bob"
