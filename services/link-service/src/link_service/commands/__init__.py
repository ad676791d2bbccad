"""Command handlers: load an aggregate, let it decide, save its events (and the read models that follow
them) in one unit of work. Nothing here talks HTTP."""
