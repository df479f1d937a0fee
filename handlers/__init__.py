"""Channel-neutral handlers: they take an `Incoming` message and return an `Outcome` of replies."""
