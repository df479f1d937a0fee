"""The staff side of complaint conversations over real HTTP, on SQLite and PostgreSQL: the inbox lists waiting
citizens oldest first with counts in the navigation bar; an agent takes a conversation, replies (queued in the
outbox with who and when), and hands it back; a reply to an erased citizen is refused."""

from __future__ import annotations

import datetime as dt

from sqlmodel import col, select

from bot.domain.conversation import request_handover
from bot.domain.privacy import erase_user
from bot.models import Complaint, Handover, HandoverMessage, Notification, utcnow

from . import test_staff
from .test_staff import Live, add_complaint, events_of, notifications_of, signed_in, token

live = test_staff.live  # the same fixture: the real app under uvicorn


async def waiting(live: Live, reference: str | None, user: str, ago: dt.timedelta) -> int:
    async with live.db.session() as session, session.begin():
        complaint = None
        if reference:
            complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        handover = await request_handover(
            session, "telegram", user, language="en", display_name=None, complaint=complaint, now=utcnow() - ago
        )
        assert handover.id is not None
        return handover.id


async def test_inbox_take_reply_hand_back(live: Live) -> None:
    reference = await add_complaint(live)
    await waiting(live, None, "777", dt.timedelta(minutes=5))
    await waiting(live, reference, "4242", dt.timedelta(hours=3))
    async with signed_in(live, "amna", "agent") as client:
        page = await client.get("/staff/inbox")
        assert page.status_code == 200
        assert page.text.index(reference) < page.text.index("Something new")  # oldest first
        assert "3 h 0 min" in page.text and "5 min" in page.text
        assert '<span class="count" title="waiting for staff">2</span>' in page.text
        csrf = await token(client)
        async with live.db.session() as session:
            complaint_handover = (
                await session.exec(select(Handover).where(col(Handover.complaint_id).is_not(None)))
            ).one()
        taken = await client.post(f"/staff/inbox/{complaint_handover.id}/take", data={"csrf": csrf})
        assert taken.status_code == 303 and reference in taken.headers["location"]
        sent = await client.post(f"/staff/complaints/{reference}/reply", data={"csrf": csrf, "text": "On our way"})
        assert sent.status_code == 303
        shown = await client.get(f"/staff/complaints/{reference}")
        assert "On our way" in shown.text and "Held by <strong>amna</strong>" in shown.text
        assert "1 mine" in shown.text
        back = await client.post(f"/staff/inbox/{complaint_handover.id}/hand_back", data={"csrf": csrf})
        assert back.status_code == 303
        # both sides in order: what the bot told the citizen is in the conversation, styled as the bot's
        chat = (await client.get(f"/staff/complaints/{reference}")).text
        chat = chat[chat.index('id="chat"') :]
        bot = chat.index('class="msg m-bot_message from-bot"')
        assert chat.index("On our way") < bot < chat.index("back with the bot")
        again = await client.post(f"/staff/inbox/{complaint_handover.id}/close", data={"csrf": csrf})
        assert again.status_code == 409
    kinds = [(e.kind, e.actor) for e in await events_of(live, reference)]
    assert kinds[1:] == [
        ("handover_requested", "citizen"),
        ("taken_over", "staff:amna"),
        ("staff_reply", "staff:amna"),
        ("handed_back", "staff:amna"),
        ("bot_message", "bot"),
    ]
    queued = await notifications_of(live, reference)
    assert [n.text for n in queued][0] == f"Staff, about your complaint {reference}: On our way"
    assert "back with the bot" in queued[1].text


async def test_a_new_conversation_has_its_own_page_and_a_reply_reaches_the_outbox(live: Live) -> None:
    ident = await waiting(live, None, "777", dt.timedelta(minutes=1))
    async with signed_in(live, "bilal", "agent") as client:
        csrf = await token(client)
        await client.post(f"/staff/inbox/{ident}/take", data={"csrf": csrf})
        reply = await client.post(f"/staff/inbox/{ident}/reply", data={"csrf": csrf, "text": "How can I help?"})
        assert reply.status_code == 303
        page = await client.get(f"/staff/inbox/{ident}")
        assert "How can I help?" in page.text
    async with live.db.session() as session:
        said = list(await session.exec(select(HandoverMessage).order_by(col(HandoverMessage.id))))
        queued = (await session.exec(select(Notification))).one()
    assert [(m.kind, m.actor) for m in said][-1] == ("staff_reply", "staff:bilal")
    assert (queued.channel, queued.user_id, queued.text) == ("telegram", "777", "Staff: How can I help?")


async def test_a_reply_to_an_erased_citizen_is_refused(live: Live) -> None:
    reference = await add_complaint(live)
    async with live.db.session() as session, session.begin():
        await erase_user(session, "telegram", "4242", key="k")
    async with signed_in(live, "amna", "agent") as client:
        csrf = await token(client)
        refused = await client.post(f"/staff/complaints/{reference}/reply", data={"csrf": csrf, "text": "Hello?"})
        assert refused.status_code == 400 and "erased" in refused.text
    assert await notifications_of(live, reference) == []
