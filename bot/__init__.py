"""Sahulat: a chat assistant for Pakistan's IT-sector public services."""

__version__ = "0.1.0"
