"""Which network an account is on, from the way it is written."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtrack.sources.handles import ACCOUNT_PATTERN, Handle, Network, network_of, parse_handle, profile_url


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


TYPED = st.one_of(
    st.from_regex(r"@?[A-Za-z0-9_]{1,15}", fullmatch=True),
    st.from_regex(r"@?[a-zA-Z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}\.[a-z]{2,6}", fullmatch=True),
    st.from_regex(r"@?[a-zA-Z0-9_]{1,10}@[a-z0-9]{1,10}\.[a-zA-Z]{2,6}", fullmatch=True),
    st.text(alphabet="abcXYZ019_.-@/:", min_size=1, max_size=30),
)


@given(TYPED)
def test_a_parsed_account_parses_back_to_itself_on_the_same_network(typed: str) -> None:
    handle = parse_handle(typed)
    if handle is None:
        assert not re.fullmatch(r"@?[A-Za-z0-9_]{1,15}", typed)  # every X handle parses
        return
    assert parse_handle(handle.account) == handle  # the stored form is stable
    assert network_of(handle.account) is handle.network  # and says its network without parsing
    assert parse_handle(handle.display) == handle


@given(st.one_of(TYPED, st.text(max_size=40)))
def test_the_schema_pattern_admits_every_account_the_server_accepts(typed: str) -> None:
    """The API schema's pattern may admit more (profile URLs on any host), never less: input the
    schema forbids is input the server refuses."""
    if parse_handle(typed) is not None:
        assert re.fullmatch(ACCOUNT_PATTERN, typed)


@pytest.mark.parametrize(
    ("typed", "admitted"), [("alice", True), ("a b", False), ("a..b", False), ("\x00a", False)]
)
def test_the_schema_pattern_refuses_what_no_form_allows(typed: str, admitted: bool) -> None:
    assert bool(re.fullmatch(ACCOUNT_PATTERN, typed)) is admitted
