"""Optional parts of the web app, each a module (or package) offering:

routes(settings) -> list[BaseRoute]   mounted on the one ASGI app
add_cli(subparsers) -> None           optional: its own `sahulat` subcommands
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

FEATURES = ("bot.staff", "bot.open311")


def feature_modules() -> Iterator[ModuleType]:
    for name in FEATURES:
        if importlib.util.find_spec(name) is not None:
            yield importlib.import_module(name)
