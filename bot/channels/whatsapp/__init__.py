"""WhatsApp channel (Twilio): signed webhooks in, TwiML replies out, the REST API for notifications.

Twilio posts each incoming message to `POST /whatsapp/webhook` and each delivery update of a message we sent
to `POST /whatsapp/status`, both signed with the account's auth token (`X-Twilio-Signature`). Replies to a
message go back in the webhook's own response as TwiML; unprompted messages (notifications) go through the
REST API with the async client, free text inside WhatsApp's 24-hour window and an approved template outside it.

One module per concept: config (settings, paths), parse (form -> Incoming), render (replies -> text, TwiML),
signature (Twilio's request signatures), send (the REST API), channel (the webhooks and the Channel). What to
do with a message, and what is stored, is the core's (handlers/); this package only translates and sends.
This package offers bot.channels' channel interface: `status_line`, `create`.
"""

from bot.channels.whatsapp.channel import create
from bot.channels.whatsapp.config import status_line

__all__ = ["create", "status_line"]
