"""Webhook mode's set-up: `moodtune webhook set|info|delete` against the Bot API stand-in, the
settings it needs, `run --webhook` refusing without them, and each worker's share of
Telegram's message rate."""

from __future__ import annotations

import asyncio
import json

import pytest
from telegram.ext import ExtBot

from bot.delivery import ALLOWED_UPDATES
from bot.retry import RetryingLimiter
from bot.settings import Settings, SettingsError
from tests.telegram_stub import TelegramStub
from tests.test_cli import moodtune
from tests.webhook import SECRET, free_port

URL = f"http://127.0.0.1:{free_port()}/telegram"  # nobody listens there


def stub_env(stub: TelegramStub, **more: str) -> dict[str, str]:
    env = {"TELEGRAM_BOT_TOKEN": stub.token, "TELEGRAM_API_URL": stub.root_url}
    return env | {"WEBHOOK_URL": URL, "WEBHOOK_SECRET": SECRET} | more


async def webhook(stub: TelegramStub, action: str, **env: str):
    return await asyncio.to_thread(moodtune, "webhook", action, env=stub_env(stub, **env))


async def test_webhook_set_info_delete(telegram_stub: TelegramStub, tmp_path):
    out = await webhook(telegram_stub, "set", WEBHOOK_MAX_CONNECTIONS="12")
    assert out.returncode == 0, out.stderr
    (call,) = telegram_stub.calls("setWebhook", since=0)
    assert call.params == {
        "url": URL,
        "secret_token": SECRET,
        "allowed_updates": list(ALLOWED_UPDATES),
        "max_connections": 12,
        "drop_pending_updates": False,
    }
    telegram_stub.send_text(1001, "/help")  # nobody listens at URL: it stays pending
    await telegram_stub.wait_for("push", timeout=30)
    out = await webhook(telegram_stub, "info")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["url"] == URL and info["pending_update_count"] == 1
    assert info["max_connections"] == 12 and info["allowed_updates"] == list(ALLOWED_UPDATES)
    assert info["last_error_message"]  # the refused connection, as Telegram reports it
    out = await webhook(telegram_stub, "delete")
    assert out.returncode == 0, out.stderr
    (call,) = telegram_stub.calls("deleteWebhook", since=0)
    assert call.params == {"drop_pending_updates": False}  # pending updates are kept
    info = json.loads((await webhook(telegram_stub, "info")).stdout)
    assert info["url"] == "" and info["pending_update_count"] == 1


async def test_workers_never_register_the_webhook(telegram_stub: TelegramStub):
    """Only the deploy step sets it; `webhook set` without URL and secret refuses."""
    out = await webhook(telegram_stub, "set", WEBHOOK_URL="")
    assert out.returncode == 2 and "WEBHOOK_URL" in out.stderr
    assert not telegram_stub.calls("setWebhook", since=0)


@pytest.mark.parametrize("missing", ["WEBHOOK_URL", "WEBHOOK_SECRET"])
def test_run_webhook_refuses_without_url_or_secret(tmp_path, missing):
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": URL, "WEBHOOK_SECRET": SECRET}
    out = moodtune("run", "--webhook", env=env | {missing: ""}, cwd=tmp_path)
    assert out.returncode == 2
    assert "WEBHOOK_URL" in out.stderr and "WEBHOOK_SECRET" in out.stderr


def test_run_workers_needs_webhook(tmp_path):
    out = moodtune("run", "--workers", "2", env={"TELEGRAM_BOT_TOKEN": "1:x"}, cwd=tmp_path)
    assert out.returncode == 2 and "--webhook" in out.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WEBHOOK_SECRET", "has space"),
        ("WEBHOOK_SECRET", "x" * 257),
        ("WEBHOOK_SECRET", "emoji😀"),
        ("WEBHOOK_URL", "http://bot.example.org/telegram"),  # plain http off this machine
        ("WEBHOOK_URL", "ftp://127.0.0.1/telegram"),
        ("WEBHOOK_MAX_CONNECTIONS", "101"),
        ("WEB_CONCURRENCY", "0"),
        ("WEBHOOK_PORT", "http"),
    ],
)
def test_bad_webhook_settings_are_refused(key, value):
    with pytest.raises(SettingsError, match=key):
        Settings.from_env({key: value})


def test_webhook_settings():
    s = Settings.from_env(
        {
            "WEBHOOK_URL": "https://bot.example.org/tg/hook",
            "WEBHOOK_SECRET": "A-z_09" * 40,
            "WEBHOOK_LISTEN": "0.0.0.0",
            "WEBHOOK_PORT": "9000",
            "WEB_CONCURRENCY": "3",
        }
    )
    assert (s.webhook_path, s.webhook_listen, s.webhook_port) == ("/tg/hook", "0.0.0.0", 9000)
    assert s.web_concurrency == 3 and s.webhook_max_connections == 40
    default = Settings.from_env({})
    assert default.webhook_url == "" and default.web_concurrency == 1  # polling, as before


async def test_a_worker_never_sends_more_than_its_share(telegram_stub: TelegramStub):
    """Two workers: 15 messages a second each. 45 sends at once from one worker, timed by the
    stand-in as it answers them: no window of a second (or two) holds more than 15 (30) of
    them, plus one: the stand-in sees each send a little after the worker's limiter lets it
    go, and a late first one squeezes a window by that much."""
    share, sends = 15.0, 45
    telegram_stub.add_user(1001)
    limiter = RetryingLimiter(rate=share)
    base = f"{telegram_stub.root_url}/bot"
    async with ExtBot(telegram_stub.token, base_url=base, rate_limiter=limiter) as bot:
        await asyncio.gather(*(bot.send_message(1001, f"n{i}") for i in range(sends)))
        for _ in range(5):  # chat actions are not messages: never held back
            await bot.send_chat_action(1001, "typing")
    at = sorted(c.at for c in telegram_stub.calls("sendMessage", since=0))
    assert len(at) == sends
    for window in (1.0, 2.0):
        most = max(sum(1 for t in at[i:] if t < start + window) for i, start in enumerate(at))
        assert most <= share * window + 1, (window, most)
