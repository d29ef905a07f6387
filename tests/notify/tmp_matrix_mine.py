from tests.users import test_authorization_matrix as m
from tests.users.test_authorization_matrix import *  # noqa

MINE = {k: v for k, v in m.EXPECTATIONS.items() if any(s in k[1] for s in ("target", "unsubscribe", "deliveries"))}


async def test_mine(db, session, settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(m, "EXPECTATIONS", MINE)
    monkeypatch.setattr(m, "app_routes", lambda app: set(MINE))
    await m.test_authorization_matrix(db, session, settings)
