"""Guided flows by name; the conversation row stores the name of the active one."""

from handlers.flows.base import Flow
from handlers.flows.fees import FeeFlow
from handlers.flows.language import LanguageFlow
from handlers.flows.parks import ParkFinderFlow
from handlers.flows.programmes import ProgrammeFinderFlow

FLOWS: dict[str, Flow] = {
    flow.name: flow for flow in (LanguageFlow(), FeeFlow(), ParkFinderFlow(), ProgrammeFinderFlow())
}

__all__ = ["FLOWS", "Flow"]
