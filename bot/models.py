"""SQLModel tables. Everything that must outlive a process lives here, so any worker can serve any user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


class UserProfile(SQLModel, table=True):
    """One person on one channel: the language they chose and when they last wrote."""

    __tablename__ = "user_profile"

    channel: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    language: str | None = Field(default=None, max_length=8)
    # True when the user picked the language (menu, "urdu me batao"); else it follows how they write.
    language_chosen: bool = False
    first_seen_at: dt.datetime = _timestamp()
    last_inbound_at: dt.datetime = _timestamp()
    # Per-citizen rate limit (across workers, so it lives here rather than in memory).
    rate_window_start: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rate_count: int = 0
    rate_notified: bool = False


class Conversation(SQLModel, table=True):
    """Where a user is in a guided flow, and the options last offered to them."""

    __tablename__ = "conversation"

    channel: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=128)
    flow: str | None = Field(default=None, max_length=64)
    step: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    options: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = _timestamp()
    # The last question's topic (entry, places, words), so a follow-up like "aur pindi mein?" is read against it.
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProcessedMessage(SQLModel, table=True):
    """Every handled message once; the unique key turns a redelivery into a no-op."""

    __tablename__ = "processed_message"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_processed_message_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    user_id: str = Field(max_length=128)
    received_at: dt.datetime = _timestamp()
    handled_at: dt.datetime = _timestamp()
    # The replies it was given (language and replies with their options): a redelivery gets the same ones.
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # how many of those replies a channel that sends them itself (Telegram) has sent
    delivered: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class UnansweredQuestion(SQLModel, table=True):
    """A question the bot declined or was unsure about, kept for staff to improve the knowledge base."""

    __tablename__ = "unanswered_question"
    __table_args__ = (
        Index("ix_unanswered_question_handled_created", "handled", "created_at"),
        Index("ix_unanswered_question_user", "channel", "user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    # who asked: erased with the rest of their data, and their questions a day are capped (None: kept before 0016)
    user_id: str | None = Field(default=None, max_length=128)
    text: str = Field(max_length=4000)
    normalized: str = Field(max_length=4000)
    language: str = Field(max_length=8)
    intent: str = Field(max_length=32)
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = _timestamp()
    handled: bool = False
    handled_by: str | None = Field(default=None, max_length=64)
    handled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ComplaintCounter(SQLModel, table=True):
    """The last reference number used per year; bumped atomically, so numbers are never reused."""

    __tablename__ = "complaint_counter"

    year: int = Field(primary_key=True)
    value: int = 0


class Body(SQLModel, table=True):
    """An office that acts on complaints (PSEB, KPITB, PITB, others admins add); routing rules point at one."""

    __tablename__ = "body"

    id: str = Field(primary_key=True, max_length=32)  # a short code: pseb, kpitb
    name_en: str = Field(max_length=200)
    name_ur: str = Field(max_length=200)
    province: str | None = Field(default=None, max_length=64)  # None: federal
    email: str | None = Field(default=None, max_length=254)  # where staff alerts for it go
    created_at: dt.datetime = _timestamp()


class RoutingRule(SQLModel, table=True):
    """Complaints of `category` in `district` (or else `province`, or else anywhere) go to `body_id`."""

    __tablename__ = "routing_rule"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=64, index=True)
    province: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=64)
    body_id: str = Field(foreign_key="body.id", max_length=32, index=True)
    created_at: dt.datetime = _timestamp()


class Complaint(SQLModel, table=True):
    """A citizen's complaint, committed only when they confirm it."""

    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_user", "channel", "user_id", "created_at"),
        Index("ix_complaint_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=32, unique=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    language: str = Field(default="en", max_length=8)
    category: str = Field(max_length=64, index=True)
    district: str = Field(max_length=64, index=True)  # a place id from places.yaml, or "other"
    district_text: str | None = Field(default=None, max_length=120)  # what the citizen typed for "other"
    description: str = Field(sa_type=Text)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    latitude: float | None = None
    longitude: float | None = None
    contact_consent: bool = False
    status: str = Field(default="received", max_length=16)
    status_reason: str | None = Field(default=None, sa_type=Text)
    rating: int | None = None
    assigned_to: str | None = Field(default=None, max_length=64)
    body_id: str | None = Field(default=None, foreign_key="body.id", max_length=32, index=True)  # None: unrouted
    due_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # 0: not escalated; 1: to the body's supervisors; 2: to the admins (bot/domain/escalation.py)
    escalation_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # since when it has waited for the citizen (status "waiting"): the due time moves on by the working time paused
    paused_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = _timestamp()
    updated_at: dt.datetime = _timestamp()
    resolved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # personal data removed on request


class ComplaintEvent(SQLModel, table=True):
    """Append-only history of a complaint: filing, status changes, notes, assignment, reopening, rating."""

    __tablename__ = "complaint_event"
    # staff alerts look for new events of a few kinds (bot/domain/alerts.py)
    __table_args__ = (Index("ix_complaint_event_kind_created", "kind", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    # filed, status, public_note, internal_note, assigned, reopened, rated, routed, escalated
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_type=Text)
    public: bool = False  # shown to the citizen (and notified)
    # Text staff wrote to be published on Open311 (anyone may read it): never the note itself, which may name people.
    published_note: str | None = Field(default=None, sa_type=Text)
    actor: str = Field(max_length=80)  # "citizen", "staff:<username>", "system"
    created_at: dt.datetime = _timestamp()
    # What the citizen sent with a citizen_message (kind, channel ref, content type); None for other kinds.
    attachments: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Handover(SQLModel, table=True):
    """A citizen asked for a person: waiting for staff, then held by one (the bot stays quiet), then closed.
    About a complaint (its messages are complaint events) or a new conversation (its messages are HandoverMessage
    rows). At most one open (waiting or taken) per citizen, which the dispatcher checks on every message."""

    __tablename__ = "handover"
    __table_args__ = (
        Index("ix_handover_user_status", "channel", "user_id", "status"),
        Index("ix_handover_status_requested", "status", "requested_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    language: str = Field(default="en", max_length=8)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    status: str = Field(default="waiting", max_length=16)  # waiting, taken, closed
    requested_at: dt.datetime = _timestamp()
    taken_by: str | None = Field(default=None, max_length=64)
    taken_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=80)  # "citizen", "staff:<username>"
    last_citizen_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class HandoverMessage(SQLModel, table=True):
    """A message of a handover that is about no complaint: the citizen's, or a staff reply (with who and when)."""

    __tablename__ = "handover_message"

    id: int | None = Field(default=None, primary_key=True)
    handover_id: int = Field(foreign_key="handover.id", index=True)
    kind: str = Field(max_length=32)  # citizen_message, staff_reply, taken_over, handed_back, closed
    actor: str = Field(max_length=80)
    text: str | None = Field(default=None, sa_type=Text)
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = _timestamp()


class Notification(SQLModel, table=True):
    """The outbox: a message to send to a citizen, delivered by the sender with retries, at most once each."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="complaint_event.id", unique=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    language: str = Field(default="en", max_length=8)
    kind: str = Field(default="notification", max_length=16)  # notification, or a chat reply that failed to go out
    text: str = Field(sa_type=Text)
    options: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, sending, sent, failed; held (reply_window.py)
    attempts: int = 0
    next_attempt_at: dt.datetime = _timestamp()
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=32)  # whose claim it is while "sending"
    last_error: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, max_length=64, index=True)
    delivery_status: str | None = Field(default=None, max_length=16)  # queued, sent, delivered, read, ...
    delivery_error_code: str | None = Field(default=None, max_length=16)
    created_at: dt.datetime = _timestamp()
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffUser(SQLModel, table=True):
    """A staff account for the dashboard. `categories` limits an agent to some services (empty: all)."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)  # viewer, agent, supervisor (escalations of its body), admin
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    body_id: str | None = Field(default=None, foreign_key="body.id", max_length=32)  # the office they work for
    email: str | None = Field(default=None, max_length=254)  # where their staff alerts are e-mailed (None: not)
    active: bool = True
    session_epoch: int = 0  # bumped to sign out every session of this account (disable, password change)
    created_at: dt.datetime = _timestamp()
    last_login_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """Recent sign-in attempts, for throttling password guessing across all web processes."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_created", "username", "created_at"),
        Index("ix_login_attempt_client_created", "client", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    client: str = Field(max_length=64)  # the client address as the proxy reports it
    succeeded: bool = False
    created_at: dt.datetime = _timestamp()


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins counted per key (an account and address, an address, an account) in a window; reserved with
    one atomic upsert before a password is checked, so simultaneous guesses cannot all pass under the limit."""

    __tablename__ = "login_throttle"

    key: str = Field(max_length=200, primary_key=True)
    window_start: dt.datetime = _timestamp()
    failures: int = 0


class AuditEvent(SQLModel, table=True):
    """What staff and operators did: sign-ins (failed too), sign-outs, exports, account and key changes. Rows are
    only ever added (bot/domain/audit.py has no update or delete); personal data only where the action was about it."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_action_created", "action", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime = _timestamp(index=True)
    actor: str = Field(max_length=80)  # a staff username, or "cli" for a terminal command
    action: str = Field(max_length=40)  # sign_in, sign_in_failed, sign_in_throttled, sign_out, export, ...
    target: str | None = Field(default=None, max_length=200)  # the account or key acted on
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    client: str | None = Field(default=None, max_length=64)  # the address it came from (None: a terminal)


class ApiKey(SQLModel, table=True):
    """An Open311 API key; only its SHA-256 is stored, the key itself is shown once when created."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    active: bool = True
    created_at: dt.datetime = _timestamp()
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeadLetter(SQLModel, table=True):
    """A message that failed for a reason other than the database being unavailable (a bug, a constraint, bad data),
    kept with its error for staff to retry or dismiss. Its message id is claimed in processed_message with it, so
    a redelivery is not processed again. Personal data: erased with the user, purged after MESSAGE_LOG_DAYS."""

    __tablename__ = "dead_letter"
    __table_args__ = (
        Index("ix_dead_letter_status_created", "status", "created_at"),
        Index("ix_dead_letter_user", "channel", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    message_id: str = Field(max_length=128)
    user_id: str = Field(max_length=128)
    message: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # the Incoming
    payload: str | None = Field(default=None, sa_type=Text)  # what the channel received, as text
    error_type: str = Field(max_length=200)
    error_message: str = Field(sa_type=Text)
    traceback: str = Field(sa_type=Text)
    attempts: int = 1
    created_at: dt.datetime = _timestamp()
    status: str = Field(default="open", max_length=16)  # open, retried, dismissed
    retried_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=80)  # who retried or dismissed it


class StaffAlert(SQLModel, table=True):
    """Something staff must hear of (a new, reopened, escalated or citizen-replied complaint, a body's daily digest),
    made once: `key` is unique ("event:<id>", "escalated:<complaint>:<level>", "digest:<body>:<day>"), so of several
    workers one makes it. Its e-mails are outbox rows (bot.models.Notification, channel "email")."""

    __tablename__ = "staff_alert"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)
    kind: str = Field(max_length=32)  # new, reopened, escalated, citizen_replied, routed, digest
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="complaint_event.id", unique=True)
    body_id: str | None = Field(default=None, max_length=32)
    subject: str = Field(max_length=300)
    folded: bool = False  # a citizen reply soon after another: recorded, nobody alerted again
    created_at: dt.datetime = _timestamp()


class StaffAlertRecipient(SQLModel, table=True):
    """An alert as one staff account sees it on the dashboard (the count in the navigation bar until read)."""

    __tablename__ = "staff_alert_recipient"
    __table_args__ = (Index("ix_staff_alert_recipient_unread", "username", "read_at"),)

    alert_id: int = Field(foreign_key="staff_alert.id", primary_key=True)
    username: str = Field(max_length=64, primary_key=True)
    read_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class CannedReply(SQLModel, table=True):
    """A reply staff pick in a conversation, kept by admins in English, Urdu and Roman Urdu; {reference} and
    {first_name} are filled in for the citizen (bot/domain/canned.py)."""

    __tablename__ = "canned_reply"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=80, unique=True)
    text_en: str = Field(sa_type=Text)
    text_ur: str = Field(sa_type=Text)
    text_roman: str = Field(sa_type=Text)
    updated_at: dt.datetime = _timestamp()
    updated_by: str = Field(default="", max_length=80)


class MediaFile(SQLModel, table=True):
    """A photo, document or voice note a citizen sent in a complaint conversation or a handover. The webhook only
    records the channel's handle; the worker fetches the bytes once (bot/domain/media.py), from the channel's own
    API host only, into MEDIA_DIR. Staff see it on the conversation; erased with the citizen's data."""

    __tablename__ = "media_file"
    __table_args__ = (
        Index("ix_media_file_due", "status", "next_attempt_at"),
        Index("ix_media_file_user", "channel", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    event_id: int | None = Field(default=None, foreign_key="complaint_event.id", index=True)  # a complaint's message
    message_id: int | None = Field(default=None, foreign_key="handover_message.id", index=True)  # or a handover's
    kind: str = Field(max_length=16)  # photo, document, voice
    ref: str = Field(sa_type=Text)  # the channel's handle: a Telegram file id, a Twilio media URL
    declared_type: str | None = Field(default=None, max_length=100)  # what the channel said it is
    status: str = Field(default="pending", max_length=16)  # pending, fetching, stored, failed, refused
    attempts: int = 0
    next_attempt_at: dt.datetime = _timestamp()
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    content_type: str | None = Field(default=None, max_length=100)  # of the stored bytes
    size: int | None = None
    path: str | None = Field(default=None, sa_type=Text)  # the stored file (absolute); None: in media_blob
    error: str | None = Field(default=None, max_length=300)  # why it was refused, or the last fetch's failure
    created_at: dt.datetime = _timestamp()
    fetched_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class MediaBlob(SQLModel, table=True):
    """A stored file's bytes, with MEDIA_STORE=database: for platforms whose processes share no disk (the Procfile's
    web and worker), so every process can serve what the worker fetched."""

    __tablename__ = "media_blob"

    media_id: int = Field(primary_key=True, foreign_key="media_file.id")
    data: bytes = Field(sa_type=LargeBinary)


class Unreachable(SQLModel, table=True):
    """A citizen the channel said cannot be messaged (Telegram: the bot was blocked; WhatsApp: the number cannot
    receive), and since when. It counts only while no message came from them afterwards (user_profile's
    last_inbound_at), so writing again makes them reachable without a write on every message."""

    __tablename__ = "unreachable"

    channel: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=128)
    since: dt.datetime = _timestamp()
    reason: str = Field(max_length=300)
