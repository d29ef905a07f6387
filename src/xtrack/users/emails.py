"""The account emails: plain text and HTML (every value escaped) with the same content."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _compose(subject: str, intro: str, action: str, link: str, outro: str) -> Email:
    text = f"Hello,\n\n{intro}\n\n{action}:\n{link}\n\n{outro}\n\n-- XTrack\n"
    html = (
        "<!doctype html><html><body>"
        f"<p>Hello,</p><p>{escape(intro)}</p>"
        f'<p><a href="{escape(link, quote=True)}">{escape(action)}</a></p>'
        f"<p>If the button does not work, copy this address into your browser:<br>{escape(link)}</p>"
        f"<p>{escape(outro)}</p><p>— XTrack</p>"
        "</body></html>"
    )
    return Email(subject=subject, text=text, html=html)


def verification(link: str) -> Email:
    return _compose(
        "Confirm your email address for XTrack",
        "Thanks for creating an XTrack account. Confirm that this address is yours to start following "
        "accounts.",
        "Confirm my email address",
        link,
        "The link works once and expires in 24 hours. If you did not create an account, ignore this email.",
    )


def password_reset(link: str) -> Email:
    return _compose(
        "Reset your XTrack password",
        "Someone (hopefully you) asked to reset the password of your XTrack account.",
        "Choose a new password",
        link,
        "The link works once and expires in 1 hour. If you did not ask for it, ignore this email: your "
        "password stays the same.",
    )


def login_link(link: str) -> Email:
    return _compose(
        "Your XTrack sign-in link",
        "Use this link to sign in to XTrack without a password.",
        "Sign in to XTrack",
        link,
        "The link works once and expires in 24 hours.",
    )


def registration_attempt(signin_link: str, reset_link: str) -> Email:
    """To the owner of an address someone tried to register again (the page told them nothing)."""
    return _compose(
        "Someone tried to create an XTrack account with your email address",
        "Someone (perhaps you) tried to create a new XTrack account with this address, which already "
        "has one. No new account was created and nothing changed on yours. If you forgot your password, "
        f"choose a new one at {reset_link}",
        "Sign in to XTrack",
        signin_link,
        "If it was not you, you can ignore this email.",
    )
