"""Open311 GeoReport v2 under /open311/v2/: the complaint catalogue and complaints, in JSON and XML.

Other complaint systems (a citizen portal, a city CRM) read and file complaints through it without custom
integration. A feature of the web app (bot.features): `routes` mounts it, `add_cli` adds `sahulat open311`.
"""

from bot.open311.cli import add_cli
from bot.open311.routes import routes

__all__ = ["add_cli", "routes"]
