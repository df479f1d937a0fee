"""`python -m bot` is the same as the `sahulat` command."""

from bot.cli import main

raise SystemExit(main())
