"""Dead letters: messages whose handling failed for a reason other than the database being unavailable.

A bug, a constraint, bad data or a schema that does not match fails the same way on every redelivery, so
answering 503 would only make Telegram or Twilio send the same poison message for as long as they retry. Instead
the dispatcher keeps the message here (the neutral message, the channel's raw payload, the error and its
traceback), claims its message id in processed_message in the same transaction (a redelivery is then a duplicate),
and answers the user with a short apology. Staff retry or dismiss dead letters from the dashboard
(/staff/deadletters) or the command line (`sahulat deadletters`).

A retry removes the claim and runs the stored message through the dispatcher again in one transaction, its
replies kept in the outbox for the sender (the original request is long gone); a retry that fails again records
the new error and leaves the dead letter open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import is_transient
from bot.models import DeadLetter, utcnow
from bot.storage import deadletters as stored_letters
from bot.storage.conversations import claim_message, profile_language, unclaim_message
from bot.storage.deadletters import start_retry
from handlers.messages import Incoming, Location, Media, Outcome, Reply
from handlers.outbox import keep_outcome, keep_replies, stored_outcome

if TYPE_CHECKING:
    from handlers.dispatcher import Dispatcher

log = logging.getLogger(__name__)

STATUSES = ("open", "retried", "dismissed")
MAX_ERROR_CHARS = 2000
MAX_TRACEBACK_CHARS = 20000
MAX_PAYLOAD_CHARS = 200_000


class DeadLetterError(Exception):
    """A dead letter that does not exist, or is no longer open."""


def storable(text: str | None, limit: int | None = None) -> str:
    """Text any database column can hold: lone surrogates and NUL characters written as escapes, cut at `limit`."""
    if text is None:
        return ""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return safe if limit is None or len(safe) <= limit else safe[: limit - 1] + "…"


def message_record(msg: Incoming) -> dict[str, Any]:
    """The neutral message as JSON-ready data (enough to rebuild it with `message_from_record`)."""
    record = dataclasses.asdict(msg)
    record["received_at"] = msg.received_at.isoformat()
    return record


def message_from_record(record: dict[str, Any]) -> Incoming:
    known = {f.name for f in dataclasses.fields(Incoming)}
    values = {key: value for key, value in record.items() if key in known}
    values["received_at"] = dt.datetime.fromisoformat(values["received_at"]) if values.get("received_at") else utcnow()
    values["media"] = tuple(Media(**item) for item in values.get("media") or ())
    values["location"] = Location(**values["location"]) if values.get("location") else None
    return Incoming(**values)


def _error_fields(exc: BaseException) -> dict[str, str]:
    kind = type(exc)
    return {
        "error_type": storable(f"{kind.__module__}.{kind.__qualname__}", 200),
        "error_message": storable(str(exc), MAX_ERROR_CHARS),
        "traceback": storable("".join(traceback.format_exception(exc)), MAX_TRACEBACK_CHARS),
    }


async def _language(session: AsyncSession, dispatcher: Dispatcher, msg: Incoming) -> str:
    """The user's language as far as it can be known without the message's own handling (which failed)."""
    if msg.reply_language:
        return msg.reply_language
    stored = await profile_language(session, msg.channel, msg.user_id)
    if stored:
        return stored
    try:
        written = dispatcher.matcher.language_of(msg.text) if msg.text and not msg.payload else None
    except Exception:  # the text may be what broke the handler
        written = None
    if written:
        return written
    return "ur" if (msg.language_hint or "").lower().startswith("ur") else "en"


async def keep(dispatcher: Dispatcher, msg: Incoming, payload: str | None, exc: BaseException) -> Outcome:
    """Store `msg` as a dead letter with `exc`, claim its message id, and return the apology to send.

    One message transaction: a redelivery of the same message id finds the claim and is a duplicate. When the
    message was claimed meanwhile (a redelivery that went through), nothing is kept and the outcome is a duplicate.
    Raises what storing raised (transient: the channel answers 503).
    """
    now = utcnow()
    fields = _error_fields(exc)
    record = message_record(msg)

    async def body(session: AsyncSession) -> Outcome:
        if not await claim_message(session, msg.channel, msg.message_id, msg.user_id, msg.received_at):
            return await stored_outcome(session, msg)
        lang = await _language(session, dispatcher, msg)
        stored_letters.keep(
            session,
            channel=msg.channel,
            message_id=msg.message_id[:128],
            user_id=msg.user_id[:128],
            message=record,
            payload=storable(payload, MAX_PAYLOAD_CHARS) if payload is not None else None,
            created_at=now,
            **fields,
        )
        outcome = Outcome(replies=[Reply(dispatcher.kb.texts("handling_failed", lang))], intent="failed", language=lang)
        await keep_outcome(session, msg, outcome)  # a redelivery gets the same apology, and is not handled again
        if msg.reply_later:
            await keep_replies(session, msg, outcome, now)
        return outcome

    return await dispatcher.db.messages.run(body, key=(msg.channel, msg.user_id))


# --- staff: list, retry, dismiss -------------------------------------------------------------------------------


@dataclass
class Retried:
    """What a retry did: `ok` with the outcome whose replies wait in the outbox, or the new error."""

    dead_letter: DeadLetter
    ok: bool
    outcome: Outcome | None = None
    error: str | None = None


async def _get(dispatcher: Dispatcher, ident: int) -> DeadLetter:
    async with dispatcher.db.session() as session:
        found = await stored_letters.get(session, ident)
    if found is None:
        raise DeadLetterError(f"no dead letter {ident}")
    return found


async def retry(dispatcher: Dispatcher, ident: int, actor: str) -> Retried:
    """Run dead letter `ident`'s message through the dispatcher again, its replies kept in the outbox.

    One message transaction: the dead letter marked retried, the message's claim removed, the message handled
    (claiming it again). If handling fails, all of that rolls back and the new error is recorded on the dead
    letter, which stays open. A transient failure is raised (nothing changed; try again later).
    """
    dead = await _get(dispatcher, ident)
    if dead.status != "open":
        raise DeadLetterError(f"dead letter {ident} is {dead.status}, not open")
    msg = dataclasses.replace(message_from_record(dead.message), reply_later=True)
    now = utcnow()

    async def body(session: AsyncSession) -> Outcome:
        if not await start_retry(session, ident, now, actor):
            raise DeadLetterError(f"dead letter {ident} is no longer open")
        await unclaim_message(session, dead.channel, dead.message_id)
        if msg.replay_key:  # a request signed like it, claimed since, must not turn the retry into a duplicate
            await unclaim_message(session, dead.channel, msg.replay_key)
        return await dispatcher.process(session, msg, now)

    try:
        outcome = await dispatcher.db.messages.run(body, key=(msg.channel, msg.user_id))
    except DeadLetterError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("dead letter %s: the retry failed again; it stays open", ident)
        await _record_failure(dispatcher, ident, exc)
        return Retried(await _get(dispatcher, ident), ok=False, error=f"{type(exc).__name__}: {storable(str(exc))}")
    log.info("dead letter %s retried by %s: %d replies kept for the sender", ident, actor, len(outcome.replies))
    return Retried(await _get(dispatcher, ident), ok=True, outcome=outcome)


async def _record_failure(dispatcher: Dispatcher, ident: int, exc: BaseException) -> None:
    async with dispatcher.db.session() as session, session.begin():
        dead = await stored_letters.get(session, ident, lock=True)
        if dead is None:
            return
        stored_letters.save(session, dead, attempts=dead.attempts + 1, **_error_fields(exc))


async def dismiss(session: AsyncSession, ident: int, actor: str) -> DeadLetter:
    """Mark an open dead letter dismissed (nothing more will be done with it); the caller commits."""
    dead = await stored_letters.get(session, ident, lock=True)
    if dead is None:
        raise DeadLetterError(f"no dead letter {ident}")
    if dead.status != "open":
        raise DeadLetterError(f"dead letter {ident} is {dead.status}, not open")
    stored_letters.save(session, dead, status="dismissed", updated_by=actor[:80], retried_at=None)
    return dead
