"""A WhatsApp user's photo, document or voice note: its MediaUrl fetched with the account's credentials (Twilio
asks for HTTP basic auth on media URLs), from the configured Twilio API host only (bot/channels/media_http.py).
Twilio answers with a redirect to its media storage (mms.twiliocdn.com when media URLs need authentication, an S3
address otherwise); that redirect, and only to TWILIO_MEDIA_REDIRECT_ORIGINS, is followed, without credentials."""

from __future__ import annotations

import base64

from bot.channels.base import Fetched, MediaError
from bot.channels.media_http import fetch, same_origin
from bot.settings import Settings


def basic_auth(settings: Settings) -> dict[str, str]:
    pair = f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def fetch_media(settings: Settings, url: str, max_bytes: int) -> Fetched:
    """The file at `url`; MediaError(refused=True) before any request when it is not on the Twilio API host, so
    the credentials never go anywhere else."""
    if not same_origin(url, settings.twilio_media_base_url):
        raise MediaError("refused: the media URL is not on the Twilio API host", refused=True)
    storage = [item.strip() for item in settings.twilio_media_redirect_origins.split(",") if item.strip()]
    return await fetch(
        url,
        allowed=settings.twilio_media_base_url,
        max_bytes=max_bytes,
        headers=basic_auth(settings),
        redirect_origins=storage,
    )
