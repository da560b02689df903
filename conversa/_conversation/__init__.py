"""The shells: `Conversation`, `AsyncConversation`, their streams, and batches."""
