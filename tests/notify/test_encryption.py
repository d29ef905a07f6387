"""Target URLs encrypted at rest (issue 22, finding 13): the row holds a Fernet token, never the
bot token or webhook key; sends decrypt it; keys rotate (new first, old after, then
``reencrypt_urls``); the migration encrypts the rows that were there before, and back."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, fresh_database_url, make_user
from tests.foundation.test_cli import xtrack
from tests.notify.conftest import Sink
from tests.users.conftest import client_for
from xtrack import crypto, migrate
from xtrack.config import ConfigError, Settings, get_settings, load_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.notify import targets

SECRET_PATH = "hooks/S3CR3T-webhook-key-0042"
OLD_KEY = "old-key-" + "o" * 40
NEW_KEY = "new-key-" + "n" * 40


def with_keys(settings: Settings, *keys: str) -> Settings:
    return settings.model_copy(update={"encryption_key": SecretStr(",".join(keys))})


async def _stored(session: AsyncSession, target_id: int) -> tuple[str, str]:
    row = (
        await session.execute(
            text("SELECT url, url_masked FROM notification_targets WHERE id = :id"), {"id": target_id}
        )
    ).one()
    return row.url, row.url_masked


async def _send_test(settings: Settings, headers: dict[str, str], target_id: int) -> dict[str, str]:
    async with await client_for(settings) as client:
        response = await client.post(f"/api/v1/targets/{target_id}/test", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def test_the_url_is_stored_encrypted_shown_masked_and_sent_decrypted(
    client: httpx.AsyncClient, session: AsyncSession, sink: Sink, settings: Settings
) -> None:
    headers = await auth_headers(session, await make_user(session))
    created = await client.post(
        "/api/v1/targets",
        json={"kind": "apprise", "name": "Hook", "url": sink.url(SECRET_PATH)},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["destination"] == f"json://{sink.base}/…"
    stored, masked = await _stored(session, created.json()["id"])
    assert stored.startswith(crypto.TOKEN_PREFIX) and "S3CR3T" not in stored and sink.base not in stored
    assert masked == f"json://{sink.base}/…"
    assert crypto.cipher_for(settings).decrypt(stored) == sink.url(SECRET_PATH)
    assert (await _send_test(settings, headers, created.json()["id"]))["status"] == "SENT"
    assert len(sink.got(SECRET_PATH)) == 1


async def test_keys_rotate_new_first_old_after(
    db: Database, session: AsyncSession, sink: Sink, settings: Settings
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    old = with_keys(settings, OLD_KEY)
    async with await client_for(old) as client:
        created = await client.post(
            "/api/v1/targets",
            json={"kind": "apprise", "name": "Hook", "url": sink.url("rotated")},
            headers=headers,
        )
    target_id = created.json()["id"]

    # A key that was never used reads nothing: the send fails with a reason, the URL stays secret.
    failed = await _send_test(with_keys(settings, NEW_KEY), headers, target_id)
    assert failed["status"] == "FAILED" and "XTRACK_ENCRYPTION_KEY" in failed["last_error"]
    assert sink.requests == []

    both = with_keys(settings, NEW_KEY, OLD_KEY)
    assert (await _send_test(both, headers, target_id))["status"] == "SENT"  # the old key still reads it
    async with db.session() as unit:
        rotation = await targets.reencrypt_urls(unit, settings=both)
    assert rotation.rotated >= 1 and rotation.unreadable == []
    assert (await _send_test(with_keys(settings, NEW_KEY), headers, target_id))["status"] == "SENT"
    assert len(sink.got("rotated")) == 2


def test_encryption_keys_must_be_long_random_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTRACK_ENCRYPTION_KEY", f"{NEW_KEY},short")
    with pytest.raises(ConfigError, match="XTRACK_ENCRYPTION_KEY: each comma-separated key"):
        load_settings()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_migration_encrypts_existing_rows_and_back(kind: str) -> None:
    url = fresh_database_url(kind, "encrypt")
    plain = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567"
    await asyncio.to_thread(migrate.upgrade, url, "0003")
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, status, created_at, is_admin, timezone, "
                    "theme) VALUES (1, 'a@example.com', 'x', 'ACTIVE', :now, false, 'UTC', 'system')"
                ),
                {"now": utcnow()},
            )
            await connection.execute(
                text(
                    "INSERT INTO notification_targets (user_id, kind, name, url, is_enabled, created_at, "
                    "updated_at) VALUES (1, 'apprise', 'Phone', :url, true, :now, :now)"
                ),
                {"url": plain, "now": utcnow()},
            )
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as connection:
            stored, masked = (
                await connection.execute(text("SELECT url, url_masked FROM notification_targets"))
            ).one()
        assert stored.startswith(crypto.TOKEN_PREFIX) and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in stored
        assert masked == "tgram://***/…"
        assert crypto.cipher_for(get_settings()).decrypt(stored) == plain
        await asyncio.to_thread(migrate.downgrade, url, "0003")
        async with engine.connect() as connection:
            assert (await connection.scalar(text("SELECT url FROM notification_targets"))) == plain
    finally:
        await engine.dispose()


def test_the_rotate_key_command_re_encrypts_under_the_first_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    migrate.upgrade(url)
    plain = "json://hooks.example.com/S3CR3T"
    path = str(tmp_path / "rotate.db")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO users (id, email, password_hash, status, created_at, is_admin, timezone, theme) "
            "VALUES (1, 'a@example.com', 'x', 'ACTIVE', '2026-12-01 00:00:00', 0, 'UTC', 'system')"
        )
        connection.execute(
            "INSERT INTO notification_targets (id, user_id, kind, name, url, url_masked, is_enabled, "
            "created_at, updated_at) VALUES (7, 1, 'apprise', 'Hook', ?, 'json://hooks.example.com/…', 1, "
            "'2026-12-01 00:00:00', '2026-12-01 00:00:00')",
            (crypto.Cipher([OLD_KEY]).encrypt(plain),),
        )
    env = {"XTRACK_DATABASE_URL": url, "XTRACK_ENCRYPTION_KEY": f"{NEW_KEY},{OLD_KEY}"}
    rotated = xtrack("targets", "rotate-key", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 target URLs" in rotated.stdout
    with sqlite3.connect(path) as connection:
        [(stored,)] = connection.execute("SELECT url FROM notification_targets").fetchall()
    assert crypto.Cipher([NEW_KEY]).decrypt(stored) == plain  # the old key is no longer needed

    stranger = "other-key-" + "x" * 40
    unreadable = xtrack("targets", "rotate-key", env={**env, "XTRACK_ENCRYPTION_KEY": stranger})
    assert unreadable.returncode == 1 and "targets 7" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr and "S3CR3T" not in unreadable.stderr
