"""E-mail, for staff alerts: the outbox's rows on channel "email" (an address as the user id) go out over SMTP.

The standard library's smtplib, run in a thread (asyncio.to_thread), rather than aiosmtplib: one alert is one short
exchange with the relay, sent by the worker's outbox (never on a citizen's request path), so a thread costs nothing
that matters; smtplib's STARTTLS, implicit TLS and login are the documented, long-stable API every relay is tested
against, and it adds no dependency. `SMTP_TIMEOUT_SECONDS` bounds each network step, so a hung relay frees the
thread; the outbox's lease is extended while the send runs, so no other sender takes the row meanwhile.

The text's first line is the subject, the rest the body. A refusal of the recipient or sender (5xx) is final; a
relay that is down, slow, answering 4xx or refusing the login (a setting to fix) is retried by the outbox with backoff.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from bot.channels.base import Channel, SendError, Sent
from bot.settings import Settings
from handlers.messages import Option

if TYPE_CHECKING:
    from bot.core import Core


def status_line(settings: Settings) -> str:
    if not settings.smtp_host:
        return "E-mail alerts: off, SMTP_HOST not set (alerts show on the dashboard only)"
    return f"E-mail alerts: on (via {settings.smtp_host}:{settings.smtp_port}, {settings.smtp_security})"


def create(core: Core) -> Channel | None:
    return EmailChannel(core) if core.settings.smtp_host else None


def compose(settings: Settings, address: str, text: str) -> EmailMessage:
    """The message: the text's first line as subject, the rest as the plain-text body."""
    subject, _, body = text.partition("\n")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = subject.strip()
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="sahulat")
    message.set_content(body.strip() + "\n")
    return message


def _send_blocking(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host
    timeout = settings.smtp_timeout_seconds
    client: smtplib.SMTP
    if settings.smtp_security == "tls":
        client = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password or "")
        client.send_message(message)


class EmailChannel(Channel):
    """Sends only: nobody writes to the bot by e-mail."""

    name = "email"

    async def start(self, *, receive: bool = True) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        settings = self.core.settings
        message = compose(settings, user_id, text)
        try:
            await asyncio.to_thread(_send_blocking, settings, message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise SendError(f"the relay refused the message: {exc}", retryable=False) from exc
        except smtplib.SMTPAuthenticationError as exc:  # a setting to fix: the alerts wait for it
            raise SendError(f"SMTP login refused ({exc.smtp_code}): check SMTP_USER and SMTP_PASSWORD") from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timed out, dropped
            raise SendError(f"SMTP relay unavailable: {type(exc).__name__}: {exc}") from exc
        return Sent(external_id=str(message["Message-ID"])[:64])
