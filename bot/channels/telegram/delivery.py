"""Sending to Telegram: one chat's messages in the order their updates came, Bot API calls retried only when that
is safe, replies that cannot go out kept in the outbox, each reply sent recorded so a redelivery sends none twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram import Bot, CallbackQuery, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.channels.base import SendError, Sent
from bot.channels.telegram.config import CHANNEL
from bot.channels.telegram.render import NO_PREVIEW, marked_choice, render_notification, render_reply
from handlers.channel_state import keep_undelivered
from handlers.messages import Incoming, Option, Outcome, Reply

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


def is_retryable(exc: TelegramError) -> bool:
    """Network trouble, timeouts and flood control may pass; a blocked bot or a bad request will not."""
    if isinstance(exc, (Forbidden, BadRequest, ChatMigrated, InvalidToken)):
        return False
    return isinstance(exc, (RetryAfter, NetworkError))


class DownloadError(Exception):
    """A file a user sent could not be fetched from Telegram."""


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Delivery:
    """Everything this process sends through one Bot: replies to updates, notifications, and file downloads."""

    def __init__(self, core: Core, bot: Bot) -> None:
        self.core = core
        self.bot = bot
        self._turns: dict[int, _Turn] = {}
        self._delivering: set[int] = set()  # updates whose replies this process is sending now

    def delivering(self, update_id: int) -> bool:
        """Whether this process is sending the update's replies right now."""
        return update_id in self._delivering

    @asynccontextmanager
    async def _turn(self, chat_id: int) -> AsyncIterator[None]:
        """One chat's messages go out in the order their updates arrived (asyncio.Lock is first come, first served)."""
        turn = self._turns.setdefault(chat_id, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0:
                self._turns.pop(chat_id, None)

    async def _api(self, update_id: int | None, what: str, call: Callable[[], Awaitable[object]]) -> bool | None:
        """One Bot API call: True if sent, False if it failed, None if it timed out (it may have arrived).

        Failures are logged with the update id, never raised (the core's work is saved).
        """
        for attempt in (1, 2):
            try:
                await call()
                return True
            except TimedOut as exc:  # it may have arrived: sending again could duplicate it
                log.warning("update %s: %s timed out: %s", update_id, what, exc)
                return None
            except RetryAfter as exc:
                log.warning("update %s: %s still rate limited after retries: %s", update_id, what, exc)
            except (Forbidden, BadRequest, ChatMigrated, InvalidToken) as exc:
                log.warning("update %s: %s refused: %s", update_id, what, exc)
            except NetworkError as exc:
                if attempt == 1:
                    log.info("update %s: %s failed (%s); retrying once", update_id, what, exc)
                    await asyncio.sleep(1.0)
                    continue
                log.warning("update %s: %s failed: %s", update_id, what, exc)
            except TelegramError as exc:
                log.warning("update %s: %s failed: %s", update_id, what, exc)
            except Exception:
                log.exception("update %s: %s failed unexpectedly", update_id, what)
            return False
        return False

    async def deliver(self, update_id: int, incoming: Incoming, query: CallbackQuery | None, outcome: Outcome) -> None:
        """Answer the pressed button, mark the choice on its message, then send the replies in order (those not
        sent yet, for a redelivery), recording each one sent so a later redelivery sends none twice."""
        chat_id = int(incoming.user_id)
        self._delivering.add(update_id)
        try:
            await self._deliver_in_turn(update_id, chat_id, incoming, query, outcome)
        finally:
            self._delivering.discard(update_id)

    async def _deliver_in_turn(
        self, update_id: int, chat_id: int, incoming: Incoming, query: CallbackQuery | None, outcome: Outcome
    ) -> None:
        async with self._turn(chat_id):
            if query is not None:
                await self._api(update_id, "answerCallbackQuery", lambda: self.bot.answer_callback_query(query.id))
                await self._mark_choice(update_id, query)
            for index, reply in enumerate(outcome.replies):
                if index < outcome.delivered:
                    continue
                for text, markup in render_reply(reply):
                    sent = await self._api(
                        update_id,
                        "sendMessage",
                        lambda text=text, markup=markup: self.bot.send_message(  # type: ignore[misc]
                            chat_id,
                            text,
                            parse_mode=ParseMode.HTML,
                            reply_markup=markup,
                            link_preview_options=NO_PREVIEW,
                        ),
                    )
                    if sent is False:  # Telegram is down: the rest waits in the outbox, nothing is lost
                        await self._keep(update_id, str(chat_id), outcome, outcome.replies[index:])
                        await self._sent(update_id, incoming, len(outcome.replies))
                        return
                await self._sent(update_id, incoming, index + 1)

    async def _sent(self, update_id: int, incoming: Incoming, count: int) -> None:
        try:
            await self.core.dispatcher.replies_delivered(incoming, count)
        except Exception as exc:  # it went out; a redelivery may send it again, which is the lesser harm
            log.warning("update %s: could not record the replies sent (%s)", update_id, type(exc).__name__)

    async def _keep(self, update_id: int, user_id: str, outcome: Outcome, replies: Sequence[Reply]) -> None:
        try:
            await keep_undelivered(self.core.db, CHANNEL, user_id, outcome.language, replies)
            log.info("update %s: %d replies queued for the sender", update_id, len(replies))
        except Exception:
            log.exception("update %s: replies could not be queued", update_id)

    async def _mark_choice(self, update_id: int, query: CallbackQuery) -> None:
        """Edit the pressed message: drop its keyboard (no stale presses) and show what was chosen."""
        message = query.message
        if not isinstance(message, Message) or message.text is None:
            return
        text = marked_choice(message, query.data)
        await self._api(
            update_id,
            "editMessageText",
            lambda: self.bot.edit_message_text(
                text,
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            ),
        )

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """A notification (e.g. a complaint's new status), as plain escaped text; long ones go in parts."""
        try:
            chat_id = int(user_id)
        except ValueError:
            raise SendError(f"not a Telegram chat id: {user_id!r}", retryable=False) from None
        parts = render_notification(text, options)
        if not parts:
            raise SendError("empty message", retryable=False)
        first: Message | None = None
        async with self._turn(chat_id):
            for part, markup in parts:
                try:
                    message = await self.bot.send_message(
                        chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
                    )
                except TelegramError as exc:
                    log.warning("send to chat %s failed: %s: %s", chat_id, type(exc).__name__, exc)
                    raise SendError(
                        f"Telegram: {type(exc).__name__}: {exc}",
                        retryable=is_retryable(exc),
                        unreachable=isinstance(exc, Forbidden),  # blocked by the user, or the account is gone
                    ) from exc
                first = first or message
        assert first is not None
        return Sent(external_id=str(first.message_id))

    async def download(self, ref: str) -> bytes:
        """The bytes of a photo or document a user sent (Media.ref is its file id), e.g. complaint evidence."""
        try:
            file = await self.bot.get_file(ref)
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise DownloadError(f"Telegram: {type(exc).__name__}: {exc}") from exc
