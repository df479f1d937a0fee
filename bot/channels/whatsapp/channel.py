"""The WhatsApp channel: its two webhooks (messages, delivery statuses) and its outbound `send`.

Each request is checked (signature, size), translated, and handed to the core; what to answer and what to store
is the core's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.http import AsyncHttpClient
from twilio.rest import Client

from bot.channels.base import Channel, Fetched, SendError, Sent
from bot.channels.whatsapp import media
from bot.channels.whatsapp import send as outbound
from bot.channels.whatsapp.config import CHANNEL, STATUS_PATH, WEBHOOK_PATH, missing_settings
from bot.channels.whatsapp.parse import Refused, parse_incoming, parse_status, read_form_text
from bot.channels.whatsapp.render import outcome_messages, render_reply, twiml
from bot.channels.whatsapp.signature import SIGNATURE_HEADER, SignatureCheck, signed_url
from bot.errors import is_transient
from handlers.channel_state import inside_window, record_delivery
from handlers.messages import Option, Reply

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


def create(core: Core) -> WhatsAppChannel | None:
    """The channel, or None when WhatsApp is not configured (see config.missing_settings)."""
    return None if missing_settings(core.settings) else WhatsAppChannel(core)


def replay_key(signature: str) -> str:
    """The id under which the core remembers a request's signature (every re-cut of one capture shares it)."""
    return "signature:" + hashlib.sha256(signature.encode()).hexdigest()


def unavailable() -> Response:
    """503: the database is down for a moment; Twilio tries again."""
    return PlainTextResponse("temporarily unavailable", status_code=503, headers={"Retry-After": "5"})


class WhatsAppChannel(Channel):
    name = CHANNEL

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.settings = core.settings
        self.signatures = SignatureCheck(self.settings.twilio_auth_token or "")
        self.http_client: AsyncHttpClient | None = None
        self.client: Client | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WEBHOOK_PATH, self.webhook, methods=["POST"]),
            Route(STATUS_PATH, self.status_callback, methods=["POST"]),
        ]

    async def start(self, *, receive: bool = True) -> None:
        """One Twilio client per process; its HTTP session is opened here, inside the running loop."""
        if self.client is None:
            self.http_client = outbound.new_http_client()
            self.client = outbound.new_client(self.settings, self.http_client)

    async def stop(self) -> None:
        http_client, self.http_client, self.client = self.http_client, None, None
        if http_client is not None and hasattr(http_client, "close"):
            await http_client.close()

    # --- webhooks ---

    async def verified(self, request: Request) -> tuple[str, FormData]:
        """The body (as text and as a form) of a request Twilio signed; Refused (403, 413, 415, 400) otherwise.

        The signature covers keys and values run together, so a captured request can be re-cut into other forms
        with the same signature: parse.py refuses forms Twilio would not send, and the webhook passes the
        signature on as the message's replay key, so a second request signed alike is never handled again."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise Refused(403, "missing signature")
        body, form = await read_form_text(request, self.settings.max_webhook_body_bytes)
        if not self.signatures.valid(signed_url(self.settings.public_url, request), form, signature):
            log.warning("whatsapp: refused a request to %s with a wrong signature", request.url.path)
            raise Refused(403, "bad signature")
        return body, form

    async def webhook(self, request: Request) -> Response:
        """An incoming message: handled once through the core, answered in TwiML.

        A transient database failure answers 503 so Twilio tries again; a message that fails for any other reason
        is kept by the core as a dead letter and answered with an apology (the core's outcome, as any reply).
        """
        try:
            body, form = await self.verified(request)
            incoming = parse_incoming(form, replay_key(request.headers[SIGNATURE_HEADER]))
        except Refused as refused:
            log.warning("WhatsApp webhook refused (%s): %s", refused.status, refused.reason)
            return refused.response()
        try:
            outcome = await self.core.dispatcher.handle(incoming, payload=body)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("whatsapp: database unavailable (%s); Twilio will retry", type(exc).__name__)
            return unavailable()
        if outcome.duplicate:  # Twilio never got our response: the same replies again, the message not handled again
            log.info("whatsapp: redelivery of %s answered with its stored replies", incoming.message_id)
        return twiml(outcome_messages(outcome))

    async def status_callback(self, request: Request) -> Response:
        """A delivery update for a message we sent: recorded on its notification, only ever forward."""
        try:
            sid, status, error_code = parse_status((await self.verified(request))[1])
        except Refused as refused:
            log.warning("WhatsApp status callback refused (%s): %s", refused.status, refused.reason)
            return refused.response()
        try:
            unreachable = (
                error_code is not None and error_code.isdigit() and int(error_code) in outbound.UNREACHABLE_CODES
            )
            await record_delivery(self.core.db, CHANNEL, sid, status, error_code, unreachable=unreachable)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("whatsapp: database unavailable for a status callback (%s)", type(exc).__name__)
            return unavailable()
        return PlainTextResponse("")

    # --- outbound ---

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """Send a notification, in several messages when it is long; SendError(retryable=True) on a timeout, a
        network error, 429 or 5xx."""
        client = self.client
        if client is None:
            raise SendError("WhatsApp channel is not started", retryable=True)
        try:
            inside = await inside_window(self.core.db, CHANNEL, user_id, outbound.FREE_TEXT_WINDOW)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise SendError(f"database unavailable ({type(exc).__name__})", retryable=True) from exc
        parts = outbound.message_fields(
            self.settings, user_id, render_reply(Reply(text, tuple(options))), inside_window=inside
        )
        if not parts:
            raise SendError("empty message", retryable=False)
        # In order, one after the other; the first part's SID stands for the notification (as on Telegram). A
        # failure part way retries the whole notification: the citizen may see its first parts twice.
        first: Sent | None = None
        for fields in parts:
            sent = await outbound.create_message(client, fields, self.settings.twilio_send_timeout_seconds)
            first = first or sent
        assert first is not None
        return first

    async def fetch_media(self, ref: str, max_bytes: int) -> Fetched:
        """A MediaUrl's file, with the account's credentials, from TWILIO_MEDIA_BASE_URL's host only."""
        return await media.fetch_media(self.settings, ref, max_bytes)
