"""All configuration, read from environment variables (and an optional `.env`) in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.office_hours import parse_days, parse_hours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/sahulat.db"
DEFAULT_SECRET_KEY = "dev-only-change-me"
MIN_SECRET_KEY_CHARS = 32


class Settings(BaseSettings):
    """Every setting the product reads. The README's configuration table lists the same names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1, le=200)
    public_url: str | None = None
    secret_key: str = DEFAULT_SECRET_KEY
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, for a log service
    metrics_token: str | None = None  # when set, /metrics wants "Authorization: Bearer <token>"
    # Addresses or networks of the reverse proxies whose X-Forwarded-For / -Proto the app believes (comma-separated).
    trusted_proxies: str = "127.0.0.1"

    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_mode: Literal["webhook", "polling", "off"] | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_template_content_sid: str | None = None  # approved template for messages outside the 24-hour window
    twilio_send_timeout_seconds: float = Field(default=10.0, gt=0)
    max_webhook_body_bytes: int = Field(default=64 * 1024, ge=1024)
    open311_requests_per_minute: int = Field(default=60, ge=1)  # per client address and web process

    knowledge_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parent.parent / "knowledge" / "data")
    sources_dir: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parent.parent.parent / "shared" / "sources"
    )
    outbox_in_web: bool = True  # run the notification sender inside `sahulat run` (off when a worker runs it)
    outbox_interval_seconds: float = Field(default=2.0, gt=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)  # a claimed row held longer is taken over
    rate_limit_messages: int = Field(default=30, ge=1)  # per citizen and channel identity, per window
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    message_log_days: int = Field(default=30, ge=1)  # processed-message and unanswered-question logs kept this long
    unanswered_per_day: int = Field(default=20, ge=0)  # unanswered questions kept per chat identity a day
    flow_timeout_minutes: int = Field(default=30, ge=1)
    # A citizen's messages this long after a complaint's update (staff note, status change, staff reply) go to the
    # complaint for staff instead of the question matcher; 0 turns the window off (replies to it still count).
    case_reply_window_hours: int = Field(default=72, ge=0)
    max_message_chars: int = Field(default=4000, ge=100)
    # When staff answer, Pakistan time, less knowledge/data/holidays.yaml (bot/domain/office_hours.py). Outside
    # them a citizen asking for a person is told the next opening and the bot keeps answering.
    office_days: str = "mon-fri"  # days or ranges: "mon-fri", "mon-thu,sat"
    office_hours: str = "09:00-17:00"  # opens-closes, or "always"
    staff_refresh_seconds: float = Field(default=3.0, ge=0)  # how often an open dashboard page polls (0: never)
    # A resolved complaint the citizen has not answered ("Was it solved?") this many days is closed by the worker.
    verdict_days: int = Field(default=7, ge=1)
    # Photos, documents and voice notes citizens send in a conversation (bot/domain/media.py): where they are kept,
    # how large and of which types (comma-separated; "image/*" allows a family) they may be.
    media_store: Literal["directory", "database"] = "directory"  # database: for processes that share no disk
    media_dir: Path = Path("data/media")
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    media_content_types: str = (
        "image/jpeg,image/png,image/webp,image/gif,application/pdf,audio/ogg,audio/mpeg,audio/mp4,audio/aac,"
        "audio/amr,video/mp4"
    )
    # The only address WhatsApp media is fetched from (with the account's credentials); tests point it at a fake.
    twilio_media_base_url: str = "https://api.twilio.com"
    # Where Twilio's own redirect from a media URL may lead (its media storage); comma-separated origins.
    twilio_media_redirect_origins: str = "https://mms.twiliocdn.com,https://s3-external-1.amazonaws.com"

    # Staff alerts by e-mail (bot/channels/email.py); no SMTP_HOST: no e-mail, alerts only on the dashboard.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Sahulat <sahulat@localhost>"
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (port 465)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # Where staff open the dashboard, for links in alert e-mails (default: PUBLIC_URL, else the local address).
    dashboard_url: str | None = None
    alert_digest_hour: int = Field(default=8, ge=0, le=23)  # the daily digest's hour, Pakistan time

    @field_validator("public_url", "dashboard_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("trusted_proxies")
    @classmethod
    def _no_wildcard(cls, value: str) -> str:
        """'*' would let any client name its own address, and so walk around every per-address limit."""
        hosts = [host.strip() for host in value.split(",") if host.strip()]
        if "*" in hosts:
            raise ValueError("TRUSTED_PROXIES may not be '*': name the proxy's addresses or network")
        return ",".join(hosts)

    @field_validator("office_days")
    @classmethod
    def _office_days(cls, value: str) -> str:
        parse_days(value)
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_local_development(self) -> bool:
        """SQLite and no public address: one machine, nobody else reaches the dashboard."""
        return self.is_sqlite and not self.public_url

    def secret_key_problem(self) -> str | None:
        """Why SECRET_KEY may not serve (anyone knowing the default forges sessions), or None when it may."""
        if self.is_local_development:
            return None
        if self.secret_key == DEFAULT_SECRET_KEY:
            return "SECRET_KEY is the published default; set a long random value (make run writes one to .env)"
        if len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            return f"SECRET_KEY is shorter than {MIN_SECRET_KEY_CHARS} characters; set a long random value"
        return None

    def dashboard_link(self, path: str = "") -> str:
        """An address of the staff dashboard (`path` under /staff), as alert e-mails link to it."""
        base = self.dashboard_url or self.public_url or "http://127.0.0.1:8000"
        return f"{base}/staff{path}"

    def resolved_telegram_mode(self) -> str:
        """Polling when there is a token but no public address; webhook when both exist."""
        if not self.telegram_bot_token:
            return "off"
        if self.telegram_mode:
            return self.telegram_mode
        return "webhook" if self.public_url else "polling"


@lru_cache
def get_settings() -> Settings:
    return Settings()
