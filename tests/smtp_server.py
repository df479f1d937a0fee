"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for the staff alert e-mails' tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

WAIT_SECONDS = 60.0


class Mailbox:
    """What the server accepted: one parsed message per recipient; `refuse` names recipients it answers 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self._lock = threading.Condition()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            for _ in envelope.rcpt_tos:
                self.messages.append(parsed)  # type: ignore[arg-type]
            self._lock.notify_all()
        return "250 Message accepted"

    async def wait_for(self, count: int) -> None:
        """Until `count` messages have arrived (TimeoutError after a minute: a generous bound, not a timing the
        test relies on)."""

        def wait() -> bool:
            with self._lock:
                return self._lock.wait_for(lambda: len(self.messages) >= count, WAIT_SECONDS)

        if not await asyncio.to_thread(wait):
            raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def subjects(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every message, sorted (stripped: a long subject folded after "Subject:" is read
        back with a leading space, which mail clients drop)."""
        with self._lock:
            return sorted((str(m["To"]), str(m["Subject"]).strip()) for m in self.messages)


@contextmanager
def smtp_server(port: int, mailbox: Mailbox | None = None) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1:`port` (plain, no TLS) for the block's duration."""
    box = mailbox or Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
