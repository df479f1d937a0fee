"""Telegram channel: a python-telegram-bot v22 Application connected to the core.

Webhook mode (production): Telegram POSTs each update to /telegram/webhook. The secret header is checked in
constant time, the dispatcher handles the update inside the request (one short database transaction that also
claims `u<update_id>`, so a redelivery is answered 200 and not processed again; a transient database failure
answers 503 so Telegram redelivers, and an update that fails otherwise is kept by the core as a dead letter and
answered with an apology), and the Bot API calls (replies, answering button presses) run in a background task.

Polling mode (local development): the Application's Updater pulls updates with getUpdates, so `sahulat run`
needs no public address.

Nothing Telegram-specific leaves this package: updates become handlers.messages.Incoming, and the Outcome's
replies become HTML messages (every value escaped) with inline keyboards. One module per concept: config
(settings, constants), client (the Bot API client, on aiohttp_request), parse (update -> Incoming), render
(replies -> HTML and keyboards), delivery (sending in order, retries, the outbox fallback), channel (webhook,
polling, lifecycle) and cli (`sahulat telegram ...`). This package offers bot.channels' channel interface:
`status_line`, `create`, `add_cli`.
"""

from bot.channels.telegram.channel import create
from bot.channels.telegram.cli import add_cli
from bot.channels.telegram.config import status_line

__all__ = ["add_cli", "create", "status_line"]
