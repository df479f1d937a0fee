"""Complaint intake: category, its questions, place, description, evidence, location, consent, summary.

Nothing is stored as a complaint until the citizen confirms the summary; the reference is given only in the
reply to that confirmation, which the dispatcher sends after its transaction has committed.
"""

from __future__ import annotations

from typing import Any

from bot.domain.complaints import Draft, file_complaint, recent_duplicate
from handlers.context import Context
from handlers.flows.base import Flow, pick_word
from handlers.messages import Option, Outcome
from knowledge.normalize import normalize_chars
from knowledge.schema import Service, ServiceQuestion

MIN_DESCRIPTION_WORDS = 3
MAX_DESCRIPTION_CHARS = 2000
MAX_ANSWER_CHARS = 200
OPTIONAL_RETRIES = 1
STEPS = ("category", "question", "district", "description", "evidence", "location", "consent", "summary")
EDITABLE = ("category", "district", "description", "evidence", "location", "consent")


class ComplaintFlow(Flow):
    name = "complaint"

    # -- entry -----------------------------------------------------------------------------------------

    async def start(self, ctx: Context) -> Outcome:
        """Begin; "I want to complain about e-stamping" already names the category."""
        data: dict[str, Any] = {"answers": {}, "attachments": []}
        draft = " ".join(str(ctx.extra.get("complaint_draft", "")).split())
        if len(draft.split()) >= MIN_DESCRIPTION_WORDS:  # a grievance told as a story: it is the description
            data["description"] = draft[:MAX_DESCRIPTION_CHARS]
        ctx.enter(self.name, "category", data)
        service = self._service_from_text(ctx, ctx.text) if ctx.text else None
        if service:
            return self._after_category(ctx, service)
        return self._ask(ctx, "category")

    async def step(self, ctx: Context) -> Outcome:
        handler = getattr(self, f"_on_{ctx.conversation.step}", None)
        if handler is None:  # a step name from an older version: start over rather than fail
            return await self.start(ctx)
        return await handler(ctx)  # type: ignore[no-any-return]

    # -- prompts ---------------------------------------------------------------------------------------

    def _ask(self, ctx: Context, step: str, data: dict[str, Any] | None = None, prefix: str = "") -> Outcome:
        data = dict(ctx.conversation.data if data is None else data)
        data.pop("_retries", None)
        ctx.enter(self.name, step, data)
        text, options = self._prompt(ctx, step)
        return ctx.outcome(f"{prefix}\n{text}".strip(), options, intent="complaint")

    def _prompt(self, ctx: Context, step: str) -> tuple[str, list[Option]]:
        data = ctx.conversation.data
        skip = [ctx.option("opt_skip", "skip")]
        if step == "category":
            return ctx.t("cmp_category"), [
                Option(s.name.get(ctx.lang), f"svc:{s.code}") for s in ctx.kb.services.values()
            ]
        if step == "question":
            question = self._question(ctx)
            options = [Option(v.name.get(ctx.lang), f"val:{v.key}") for v in question.values]
            return question.prompt.get(ctx.lang), options + ([] if question.required else skip)
        if step == "district":
            pending = data.get("pending_place")
            if pending:
                return ctx.t("cmp_district_unknown", typed=pending), [ctx.option("opt_other_place", "place:other")]
            return ctx.t("cmp_district"), []
        if step == "description":
            return ctx.t("cmp_description", limit=f"{MAX_DESCRIPTION_CHARS:,}"), []
        if step == "evidence":
            return ctx.t("cmp_evidence"), skip
        if step == "location":
            return ctx.t("cmp_location"), skip
        if step == "consent":
            return ctx.t("cmp_consent"), [ctx.option("opt_yes", "yes"), ctx.option("opt_no", "no")]
        if step == "edit":
            labels = {
                "category": "field_category",
                "district": "field_district",
                "description": "field_description",
                "evidence": "field_attachments",
                "location": "field_location",
                "consent": "field_contact",
            }
            editable = [s for s in EDITABLE if s not in ("evidence", "location") or ctx.msg.can_attach]
            return ctx.t("cmp_edit_what"), [ctx.option(labels[s], f"edit:{s}") for s in editable]
        if step == "duplicate":
            return ctx.t("cmp_duplicate", reference=data["duplicate_of"]), [
                ctx.option("opt_same", "same"),
                ctx.option("opt_new", "new"),
            ]
        return self._summary(ctx)

    def _summary(self, ctx: Context) -> tuple[str, list[Option]]:
        data = ctx.conversation.data
        service = ctx.kb.services[data["category"]]
        none = ctx.t("none_given")
        place = data.get("district_text") or ctx.kb.places[data["district"]].name.get(ctx.lang)
        lines = [ctx.t("cmp_summary"), f"{ctx.t('field_category')}: {service.name.get(ctx.lang)}"]
        for question in service.questions:
            value = data["answers"].get(question.key)
            if value is not None:
                lines.append(
                    f"{question.prompt.get(ctx.lang).split('?')[0]}?: {self._answer_label(ctx, question, value)}"
                )
        lines += [f"{ctx.t('field_district')}: {place}", f"{ctx.t('field_description')}: {data['description']}"]
        if ctx.msg.can_attach:
            lines.append(f"{ctx.t('field_attachments')}: {len(data['attachments']) or none}")
            lines.append(f"{ctx.t('field_location')}: {ctx.t('shared') if data.get('lat') is not None else none}")
        lines.append(f"{ctx.t('field_contact')}: {ctx.t('opt_yes' if data.get('consent') else 'opt_no')}")
        lines += ["", ctx.t("cmp_public_notice"), "", ctx.t("cmp_summary_ask")]
        options = [
            ctx.option("opt_confirm", "confirm"),
            ctx.option("opt_edit", "edit"),
            ctx.option("opt_cancel", "cmd:cancel"),
        ]
        return "\n".join(lines), options

    def _answer_label(self, ctx: Context, question: ServiceQuestion, value: str) -> str:
        for option in question.values:
            if option.key == value:
                return option.name.get(ctx.lang)
        return value

    def _retry(self, ctx: Context, step: str, prefix: str = "") -> Outcome:
        """Ask the same step again, with what was wrong; `Flow.reask` gives up after one retry. A message that
        itself asks to complain ("haan mujhe complaint karni hai", "so how do I complain?") is the citizen saying
        yes to the flow they are in: it goes on with the same question, not "sorry, I did not get that"."""
        text, options = self._prompt(ctx, step)
        if ctx.text and ctx.matcher.match(ctx.text).intent == "complaint_start":
            return ctx.outcome(f"{ctx.t('cmp_go_on')}\n{text}", options, intent="complaint")
        return self.reask(ctx, f"{prefix}\n{text}".strip(), options)

    # -- moving on -------------------------------------------------------------------------------------

    def _next(self, ctx: Context, after: str) -> Outcome:
        """The step after `after`, skipping what this channel cannot do; back to the summary when editing."""
        if ctx.conversation.data.get("_editing") and after != "category":
            return self._ask(ctx, "summary")
        order = list(STEPS)
        for step in order[order.index(after) + 1 :]:
            if step in ("evidence", "location") and not ctx.msg.can_attach:
                continue
            if step == "question" and not self._service(ctx).questions:
                continue
            if step == "description" and ctx.conversation.data.get("description"):
                continue  # kept from the message that started the complaint; shown on the summary to change
            if step == "district" and ctx.conversation.data.get("_editing"):
                return self._ask(ctx, "summary")
            return self._ask(ctx, step)
        return self._ask(ctx, "summary")

    def _service(self, ctx: Context) -> Service:
        return ctx.kb.services[ctx.conversation.data["category"]]

    def _question(self, ctx: Context) -> ServiceQuestion:
        return self._service(ctx).questions[int(ctx.conversation.data.get("q", 0))]

    def _service_from_text(self, ctx: Context, text: str) -> Service | None:
        code = pick_word(
            text, {s.code: [*s.keywords, s.name.en, s.name.ur, s.name.roman] for s in ctx.kb.services.values()}
        )
        return ctx.kb.services.get(code) if code else None

    def _after_category(self, ctx: Context, service: Service) -> Outcome:
        data = {**ctx.conversation.data, "category": service.code, "answers": {}, "q": 0}
        ctx.enter(self.name, "category", data)
        return self._next(ctx, "category")

    def _is(self, ctx: Context, *words: str) -> bool:
        return ctx.payload in words or normalize_chars(ctx.text) in words

    # -- steps -----------------------------------------------------------------------------------------

    async def _on_category(self, ctx: Context) -> Outcome:
        payload = ctx.payload or ""
        service = ctx.kb.services.get(payload.removeprefix("svc:")) if payload.startswith("svc:") else None
        service = service or self._service_from_text(ctx, ctx.text)
        if service is None:
            return self._retry(ctx, "category")
        return self._after_category(ctx, service)

    async def _on_question(self, ctx: Context) -> Outcome:
        question = self._question(ctx)
        payload = ctx.payload or ""
        value: str | None
        if not question.required and self._is(ctx, "skip"):
            value = None
        elif question.values:
            value = (
                payload.removeprefix("val:")
                if payload.startswith("val:")
                else pick_word(
                    ctx.text,
                    {v.key: [v.key.replace("_", " "), v.name.en, v.name.ur, v.name.roman] for v in question.values},
                )
            )
            if value not in {v.key for v in question.values}:
                return self._retry(ctx, "question")
        else:
            value = " ".join(ctx.text.split())[:MAX_ANSWER_CHARS]
            if not value:
                return self._retry(ctx, "question")
        data = dict(ctx.conversation.data)
        answers = dict(data.get("answers") or {})
        if value is not None:
            answers[question.key] = value
        data.update(answers=answers, q=int(data.get("q", 0)) + 1)
        if data["q"] < len(self._service(ctx).questions):
            return self._ask(ctx, "question", data)
        ctx.enter(self.name, "question", data)
        return self._next(ctx, "question")

    async def _on_district(self, ctx: Context) -> Outcome:
        data = dict(ctx.conversation.data)
        if ctx.payload == "place:other" and data.get("pending_place"):
            data.update(district="other", district_text=data.pop("pending_place"))
            ctx.enter(self.name, "district", data)
            return self._next(ctx, "district")
        typed = " ".join(ctx.text.split())[:MAX_ANSWER_CHARS]
        places = ctx.matcher.places_in(typed) if typed else []
        if places:
            data.pop("pending_place", None)
            data.update(district=places[0], district_text=None)
            ctx.enter(self.name, "district", data)
            return self._next(ctx, "district")
        if not normalize_chars(typed):
            return self._retry(ctx, "district")
        data["pending_place"] = typed[:120]
        return self._ask(ctx, "district", data)

    async def _on_description(self, ctx: Context) -> Outcome:
        text = ctx.text.strip()
        if len(text) > MAX_DESCRIPTION_CHARS:
            problem = ctx.t("cmp_description_long", length=f"{len(text):,}", limit=f"{MAX_DESCRIPTION_CHARS:,}")
            return self._ask(ctx, "description", prefix=problem)
        if len(normalize_chars(text).split()) < MIN_DESCRIPTION_WORDS:
            return self._ask(ctx, "description", prefix=ctx.t("cmp_description_short", words=MIN_DESCRIPTION_WORDS))
        data = {**ctx.conversation.data, "description": text}
        ctx.enter(self.name, "description", data)
        return self._next(ctx, "description")

    def _optional(self, ctx: Context, step: str, data: dict[str, Any] | None) -> Outcome:
        """Store what an optional step got, or skip it; a second unusable answer skips it too."""
        if data is not None:
            ctx.enter(self.name, step, data)
            return self._next(ctx, step)
        if self._is(ctx, "skip", "no", "nahi") or int(ctx.conversation.data.get("_retries", 0)) >= OPTIONAL_RETRIES:
            return self._next(ctx, step)
        ctx.conversation.data = {**ctx.conversation.data, "_retries": 1}
        ctx.enter(self.name, step, ctx.conversation.data)
        text, options = self._prompt(ctx, step)
        return ctx.outcome(f"{ctx.t('reask')}\n{text}", options, intent="reask")

    async def _on_evidence(self, ctx: Context) -> Outcome:
        if not ctx.msg.media:
            return self._optional(ctx, "evidence", None)
        attachments = [*ctx.conversation.data.get("attachments", [])]
        attachments += [{"kind": m.kind, "ref": m.ref, "content_type": m.content_type} for m in ctx.msg.media]
        return self._optional(ctx, "evidence", {**ctx.conversation.data, "attachments": attachments[:10]})

    async def _on_location(self, ctx: Context) -> Outcome:
        where = ctx.msg.location
        if where is None:
            return self._optional(ctx, "location", None)
        return self._optional(ctx, "location", {**ctx.conversation.data, "lat": where.latitude, "lon": where.longitude})

    async def _on_consent(self, ctx: Context) -> Outcome:
        answer = ctx.payload if ctx.payload in ("yes", "no") else pick_word(ctx.text, ctx.kb.lexicon.yes_no)
        if answer not in ("yes", "no"):
            return self._retry(ctx, "consent")
        data = {**ctx.conversation.data, "consent": answer == "yes"}
        ctx.enter(self.name, "consent", data)
        return self._next(ctx, "consent")

    async def _on_summary(self, ctx: Context) -> Outcome:
        if self._is(ctx, "confirm"):
            return await self._file(ctx, check_duplicate=True)
        if self._is(ctx, "edit"):
            return self._ask(ctx, "edit")
        return self._retry(ctx, "summary")

    async def _on_edit(self, ctx: Context) -> Outcome:
        step = (ctx.payload or "").removeprefix("edit:")
        if step not in EDITABLE:
            return self._retry(ctx, "edit")
        # After the change, straight back to the summary (a new category first asks its own questions).
        data = {**ctx.conversation.data, "_editing": True}
        data.pop("pending_place", None)
        return self._ask(ctx, step, data)

    async def _on_duplicate(self, ctx: Context) -> Outcome:
        if self._is(ctx, "same"):
            reference = ctx.conversation.data["duplicate_of"]
            ctx.leave()
            return ctx.outcome(ctx.t("cmp_duplicate_kept", reference=reference), intent="complaint_duplicate")
        if self._is(ctx, "new"):
            return await self._file(ctx, check_duplicate=False)
        return self._retry(ctx, "duplicate")

    async def _file(self, ctx: Context, *, check_duplicate: bool) -> Outcome:
        data = ctx.conversation.data
        draft = Draft(
            channel=ctx.msg.channel,
            user_id=ctx.msg.user_id,
            category=data["category"],
            district=data["district"],
            district_text=data.get("district_text"),
            description=data["description"],
            language=ctx.lang,
            display_name=ctx.profile.display_name,
            answers=data.get("answers") or {},
            attachments=data.get("attachments") or [],
            latitude=data.get("lat"),
            longitude=data.get("lon"),
            contact_consent=bool(data.get("consent")),
            province=place.province if (place := ctx.kb.places.get(data["district"])) else None,
        )
        if check_duplicate:
            earlier = await recent_duplicate(ctx.session, draft, ctx.now)
            if earlier is not None:
                return self._ask(ctx, "duplicate", {**data, "duplicate_of": earlier.reference})
        complaint = await file_complaint(ctx.session, draft, ctx.now)
        ctx.leave()
        return ctx.outcome(
            ctx.t("cmp_filed", reference=complaint.reference),
            [ctx.option("opt_menu", "cmd:menu")],
            intent="complaint_filed",
            entry_id=complaint.reference,
        )
