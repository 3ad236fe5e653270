"""Settings, read once from the environment and `.env` into one typed object."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SPOTIFY_API_URL = "https://api.spotify.com/v1/"
DEFAULT_SPOTIFY_TOKEN_URL = "https://accounts.spotify.com/api/token"
# Telegram's rule for setWebhook's secret_token.
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}  # where a plain-http webhook is allowed (tests)


class SettingsError(ValueError):
    """A setting has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    telegram_bot_token: str = ""
    telegram_api_url: str = ""  # root of a self-hosted Bot API server; "" means Telegram's
    database_path: Path = Path("data/moodtune.sqlite3")  # SQLite file when no database_url
    database_url: str = ""  # sqlite:///path or postgresql://...; "" means database_path
    spotify_client_id: str = ""
    spotify_client_secret: str = ""
    spotify_api_url: str = DEFAULT_SPOTIFY_API_URL
    spotify_token_url: str = DEFAULT_SPOTIFY_TOKEN_URL
    spotify_timeout: float = 2.0
    log_level: str = "INFO"
    model_backend: str = "litert"  # or "keras"
    history_retention_days: int = 365
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    webhook_url: str = ""  # "": polling; else the public https URL Telegram POSTs updates to
    webhook_secret: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080
    webhook_max_connections: int = 40
    web_concurrency: int = 1  # webhook worker processes
    message_rate: float = 30.0  # messages a second to everyone, shared by the webhook workers

    @property
    def webhook_path(self) -> str:
        """The path of WEBHOOK_URL: where the workers take Telegram's POSTs."""
        return urllib.parse.urlsplit(self.webhook_url).path or "/"

    @property
    def database(self) -> str | Path:
        """What `Database.open` connects to: DATABASE_URL if set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def spotify_enabled(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv: bool = True) -> Settings:
        """Build settings from `env` (default os.environ), after loading `.env` if present."""
        if env is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(override=False)
            env = dict(os.environ)

        def get(key: str, default: str = "") -> str:
            return env.get(key, "").strip() or default

        def number(key: str, default: float, kind: type = int):
            raw = get(key)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{key} must be a number, got {raw!r}") from None
            if value <= 0:
                raise SettingsError(f"{key} must be positive, got {raw!r}")
            return value

        backend = get("MODEL_BACKEND", "litert").lower()
        if backend not in {"litert", "keras"}:
            raise SettingsError(f"MODEL_BACKEND must be 'litert' or 'keras', got {backend!r}")
        webhook_url, webhook_secret = get("WEBHOOK_URL"), get("WEBHOOK_SECRET")
        if webhook_secret and not WEBHOOK_SECRET_RE.fullmatch(webhook_secret):
            raise SettingsError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if webhook_url:
            url = urllib.parse.urlsplit(webhook_url)
            local = url.scheme == "http" and url.hostname in LOOPBACK_HOSTS
            if not (url.scheme == "https" and url.hostname) and not local:
                raise SettingsError(f"WEBHOOK_URL must be an https:// URL, got {webhook_url!r}")
        max_connections = number("WEBHOOK_MAX_CONNECTIONS", 40)
        if max_connections > 100:  # Telegram's range is 1-100
            raise SettingsError(f"WEBHOOK_MAX_CONNECTIONS must be 1-100, got {max_connections}")
        database_url = get("DATABASE_URL")
        if database_url and not database_url.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise SettingsError(
                "DATABASE_URL must start with sqlite:///, postgresql:// or postgres://"
            )
        return cls(
            telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_api_url=get("TELEGRAM_API_URL").rstrip("/"),
            database_path=Path(get("DATABASE_PATH", "data/moodtune.sqlite3")),
            database_url=database_url,
            spotify_client_id=get("SPOTIFY_CLIENT_ID"),
            spotify_client_secret=get("SPOTIFY_CLIENT_SECRET"),
            spotify_api_url=get("SPOTIFY_API_URL", DEFAULT_SPOTIFY_API_URL),
            spotify_token_url=get("SPOTIFY_TOKEN_URL", DEFAULT_SPOTIFY_TOKEN_URL),
            spotify_timeout=number("SPOTIFY_TIMEOUT", 2.0, float),
            log_level=get("LOG_LEVEL", "INFO").upper(),
            model_backend=backend,
            history_retention_days=number("HISTORY_RETENTION_DAYS", 365),
            max_image_bytes=number("MAX_IMAGE_BYTES", 20 * 1024 * 1024),
            max_image_pixels=number("MAX_IMAGE_PIXELS", 40_000_000),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            webhook_listen=get("WEBHOOK_LISTEN", "127.0.0.1"),
            webhook_port=number("WEBHOOK_PORT", 8080),
            webhook_max_connections=max_connections,
            web_concurrency=number("WEB_CONCURRENCY", 1),
            message_rate=number("TELEGRAM_MESSAGE_RATE", 30.0, float),
        )
