"""Guided flows by name; the conversation row stores the name of the active one."""

from handlers.flows.base import Flow
from handlers.flows.language import LanguageFlow

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (LanguageFlow(),)}

__all__ = ["FLOWS", "Flow"]
