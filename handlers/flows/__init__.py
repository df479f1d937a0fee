"""Guided flows by name; the conversation row stores the name of the active one."""

from handlers.flows.base import Flow
from handlers.flows.case_pick import CasePickFlow
from handlers.flows.complaint import ComplaintFlow
from handlers.flows.fees import FeeFlow
from handlers.flows.language import LanguageFlow
from handlers.flows.parks import ParkFinderFlow
from handlers.flows.privacy import DeleteDataFlow
from handlers.flows.programmes import ProgrammeFinderFlow
from handlers.flows.rating import RatingFlow
from handlers.flows.verdict import VerdictFlow

FLOWS: dict[str, Flow] = {
    flow.name: flow
    for flow in (
        LanguageFlow(),
        FeeFlow(),
        ParkFinderFlow(),
        ProgrammeFinderFlow(),
        ComplaintFlow(),
        RatingFlow(),
        DeleteDataFlow(),
        CasePickFlow(),
        VerdictFlow(),
    )
}

__all__ = ["FLOWS", "Flow"]
