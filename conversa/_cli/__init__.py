"""The `conversa` command line."""
