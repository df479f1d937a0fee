"""User-facing sentences from texts.yaml, looked up by key and language."""

from __future__ import annotations

import datetime as dt

from knowledge.schema import LANGUAGES, LocalText, TextsFile

# Keys the code uses; texts.yaml must define each one (checked at load, so a missing one is a clear error).
REQUIRED_KEYS = frozenset(
    """source_line sources_line date_unknown welcome menu help menu_parks menu_fees menu_programmes
    menu_language opt_menu opt_complaint cancelled nothing_to_cancel language_prompt language_en
    language_ur language_roman language_set reask gave_up clarify out_of_scope no_info no_info_facet see_also
    no_park_in_place status_none empty_message too_long park_heading park_host park_area
    park_status_planned park_status_under_discussion park_status_mou_signed park_status_work_underway
    full_stop comma semicolon menu_complaint menu_status fees_who who_startup who_company who_other fees_city
    fees_city_unclassified fees_city_exempt fees_city_major class_underserved class_secondary class_major parks_ask
    parks_all parks_province_heading parks_province_none parks_nearest_heading parks_planned_heading your_location
    distance_km programmes_province programmes_audience province_all audience_freelancers audience_startups
    audience_citizens audience_government programmes_heading programmes_unstated programmes_none
    programmes_more park_none_here cmp_category cmp_district cmp_district_unknown opt_other_place cmp_description
    cmp_description_short cmp_description_long cmp_evidence cmp_location cmp_consent cmp_summary cmp_summary_ask
    field_category field_district field_description field_attachments field_location field_contact none_given shared
    opt_yes opt_no opt_skip opt_confirm opt_edit opt_cancel cmp_edit_what cmp_filed cmp_duplicate opt_same opt_new
    cmp_duplicate_kept status_list status_not_found status_detail status_reason status_updates status_rated
    status_received status_in_review status_resolved status_rejected opt_reopen opt_rate reopen_done reopen_too_late
    reopen_not_resolved rate_ask rate_done rate_not_resolved notify_status notify_note rate_limited mydata_heading
    mydata_profile mydata_messages mydata_flow mydata_complaint mydata_extras mydata_location mydata_delete_hint
    delete_confirm opt_erase opt_keep deleted delete_kept command_start command_menu command_fees command_parks
    command_programmes command_complain command_status command_language command_help command_cancel closing
    facet_missing handover_after_hours handover_after_hours_complaint office_opening weekdays
    status_waiting status_closed verdict_ask verdict_thanks verdict_why verdict_why_empty
    verdict_not_waiting staff_reply_invitation staff_reply_invitation_new""".split()
)


class Texts:
    def __init__(self, data: TextsFile) -> None:
        self._texts: dict[str, LocalText] = dict(data.texts)
        self._months = {lang: [m.strip() for m in data.months.get(lang).split(",")] for lang in LANGUAGES}

    def missing(self) -> list[str]:
        return sorted(REQUIRED_KEYS - self._texts.keys())

    def __contains__(self, key: str) -> bool:
        return key in self._texts

    def weekday(self, value: dt.date, lang: str) -> str:
        """The day's name (texts.yaml's `weekdays`: seven comma-separated names, Monday first)."""
        names = [n.strip() for n in self("weekdays", lang).split(",")]
        return names[value.weekday()] if len(names) == 7 else ""

    def bad_weekdays(self) -> bool:
        return "weekdays" in self and any(len(self("weekdays", lang).split(",")) != 7 for lang in LANGUAGES)

    def bad_months(self) -> bool:
        return any(len(names) != 12 for names in self._months.values())

    def __call__(self, key: str, lang: str, **values: object) -> str:
        text = self._texts[key].get(lang)
        return text.format(**values) if values else text

    def separator(self, key: str, lang: str) -> str:
        """A list separator ("comma", "semicolon") with the space that follows it."""
        return self(key, lang) + " "

    def date(self, value: dt.date | None, lang: str) -> str:
        if value is None:
            return self("date_unknown", lang)
        return f"{value.day} {self._months[lang][value.month - 1]} {value.year}"
