"""The channel-neutral message types: what every channel turns its updates into, and what it gets back."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Media:
    """A photo or document a user sent; `ref` is the channel's handle for it (file id or URL)."""

    kind: str
    ref: str
    content_type: str | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Incoming:
    """One message from one user on one channel.

    `payload` is set when the channel knows exactly which option was picked (a Telegram button);
    otherwise the dispatcher works it out from the text ("2", or the option's label).
    """

    channel: str
    user_id: str
    text: str = ""
    display_name: str | None = None
    language_hint: str | None = None
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # A second id for the same request (a digest of WhatsApp's signature): a message whose replay key was seen
    # before is a replay of a captured request, whatever its message id says, and is not handled again.
    replay_key: str | None = None
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    payload: str | None = None
    media: tuple[Media, ...] = ()
    location: Location | None = None
    can_attach: bool = False  # the channel can carry photos, documents and a location (flows ask for them)
    # The channel cannot deliver replies now (a backlog): they go to the outbox with the message's own commit.
    reply_later: bool = False
    # A reply language the client asks for explicitly (`sahulat ask --lang`): it beats every other rule.
    reply_language: str | None = None
    # The id (on the channel) of our message this one replies to: Telegram's reply_to_message, WhatsApp's
    # OriginalRepliedMessageSid. A reply to a complaint's notification goes to that complaint.
    reply_to: str | None = None


@dataclass(frozen=True)
class Option:
    """A choice offered to the user: shown as `label`, acted on as `payload`."""

    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    options: tuple[Option, ...] = ()


@dataclass
class Outcome:
    """What handling one message produced: the replies, and what the core made of the message."""

    replies: list[Reply] = field(default_factory=list)
    intent: str = "none"
    entry_id: str | None = None
    score: float | None = None
    language: str = "en"
    detected_language: str | None = None
    duplicate: bool = False
    kept: bool = False  # the replies wait in the outbox (the message asked for `reply_later`)
    delivered: int = 0  # a duplicate: how many of its stored replies were already sent

    @property
    def options(self) -> tuple[Option, ...]:
        """The options a user can answer next: those of the last reply that has any."""
        for reply in reversed(self.replies):
            if reply.options:
                return reply.options
        return ()
