"""`sahulat staff ...` (accounts), `sahulat complaints ...` (the dashboard's list, detail and export in a terminal)
and `sahulat deadletters ...`. Errors are one line on stderr with exit code 1 (2 for a bad command line, from
argparse); never a traceback."""

from bot.staff.cli.parsers import add_cli

__all__ = ["add_cli"]
