"""Unprompted messages (notifications) through Twilio's REST API: free text inside WhatsApp's 24-hour window,
the approved template outside it, and Twilio's errors sorted into retry-later or give-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

from aiohttp import ClientError
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.channels.base import SendError, Sent
from bot.channels.whatsapp.config import STATUS_PATH
from bot.channels.whatsapp.render import split_text, template_variables
from bot.settings import Settings

SESSION_WINDOW = dt.timedelta(hours=24)
# Free text sent a moment before the window closes can arrive after it (error 63016); keep a margin.
WINDOW_MARGIN = dt.timedelta(minutes=5)
FREE_TEXT_WINDOW = SESSION_WINDOW - WINDOW_MARGIN
# Twilio errors that say this person cannot be messaged at all: an invalid 'To' number (21211), a recipient who
# opted out (21610), an invalid recipient (63024), no WhatsApp account at the address (63003).
UNREACHABLE_CODES = frozenset({21211, 21610, 63024, 63003})

# The Twilio library logs every request's URL and headers at INFO; keep that out of the application's log.
_http_log = logging.getLogger("bot.channels.whatsapp.http")
_http_log.setLevel(logging.WARNING)


def new_http_client() -> AsyncHttpClient:
    """The HTTP client under the Twilio client; a seam for tests (a fake API) and proxies (Twilio's documented
    custom-HTTP-client hook). No retries of its own: the notification outbox retries."""
    return AsyncTwilioHttpClient(logger=_http_log)


def new_client(settings: Settings, http_client: AsyncHttpClient) -> Client:
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)


def whatsapp_address(user_id: str) -> str:
    """`whatsapp:+<number>` for a user id (a WaId, digits only, or a number that already has its "+")."""
    number = user_id.removeprefix("whatsapp:")
    return f"whatsapp:{number if number.startswith('+') else '+' + number}"


def message_fields(settings: Settings, user_id: str, text: str, *, inside_window: bool) -> list[dict[str, Any]]:
    """What to send, in order: free text inside the 24-hour window, the approved template outside it; a text
    longer than Twilio takes in one message goes in several, split as the bot's replies are (render.split_text)."""
    fields: dict[str, Any] = {
        "to": whatsapp_address(user_id),
        "from_": settings.twilio_whatsapp_from,
        "status_callback": f"{settings.public_url}{STATUS_PATH}",
    }
    if inside_window:
        return [{**fields, "body": part} for part in split_text(text)]
    if not settings.twilio_template_content_sid:
        raise SendError("outside WhatsApp's 24-hour window and TWILIO_TEMPLATE_CONTENT_SID is not set", retryable=False)
    return [
        {
            **fields,
            "content_sid": settings.twilio_template_content_sid,
            "content_variables": json.dumps({"1": variable}, ensure_ascii=False),
        }
        for variable in template_variables(text)
    ]


async def create_message(client: Client, fields: dict[str, Any], seconds: float) -> Sent:
    """One Messages API call; SendError(retryable=True) on a timeout, a network error, 429 or 5xx."""
    try:
        async with asyncio.timeout(seconds):
            message = await client.messages.create_async(**fields)
    except TimeoutError as exc:
        raise SendError(f"Twilio did not answer within {seconds:g} s", retryable=True) from exc
    except TwilioException as exc:
        raise _refusal(exc) from exc
    except (ClientError, OSError) as exc:
        raise SendError(f"could not reach Twilio ({type(exc).__name__})", retryable=True) from exc
    return Sent(external_id=message.sid)


def _refusal(exc: TwilioException) -> SendError:
    """Twilio's error as a SendError; its message is left out because it can quote the phone number."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    retryable = not isinstance(status, int) or status >= 500 or status == 429
    return SendError(
        f"Twilio refused the message (HTTP {status}, error {code})",
        retryable=retryable,
        unreachable=code in UNREACHABLE_CODES,
    )
