"""What every chat channel provides: routes for its webhooks, a start/stop, and an outbound `send`.

A channel translates between its network and the neutral messages in handlers/messages.py, and nothing
else: every decision is the core's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from starlette.routing import BaseRoute

from handlers.messages import Option

if TYPE_CHECKING:
    from bot.core import Core


class SendError(Exception):
    """An outbound message could not be sent; `retryable` says whether trying later may succeed, `unreachable`
    that the channel says this person cannot be messaged at all (they blocked the bot, the number is invalid)."""

    def __init__(self, message: str, *, retryable: bool = True, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.unreachable = unreachable


class MediaError(Exception):
    """A file a user sent could not be fetched. `refused`: it may not be fetched at all (another host, too large,
    a type not allowed), so trying again is pointless; otherwise a later try may succeed."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class Fetched:
    """A fetched file: its bytes and the content type the channel's server gave."""

    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class Sent:
    """A message the network accepted; `external_id` is its id there (e.g. a Twilio message SID)."""

    external_id: str | None = None


class Channel(ABC):
    name: ClassVar[str]

    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Webhook routes this channel adds to the app."""
        return []

    @abstractmethod
    async def start(self, *, receive: bool = True) -> None:
        """Connect; with `receive`, also start taking updates (polling, webhook handling)."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect and finish in-flight work."""

    @abstractmethod
    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """Send `text` (and its options) to a user unprompted: notifications, and replies that had to wait.

        Raises SendError on failure.
        """

    async def fetch_media(self, ref: str, max_bytes: int) -> Fetched:
        """The bytes of a file a user sent (`ref`: the handle in Media.ref), at most `max_bytes`; MediaError when
        it cannot be fetched. Channels that carry files override this."""
        raise MediaError(f"the {self.name} channel cannot fetch files", refused=True)
