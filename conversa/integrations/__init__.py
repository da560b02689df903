"""Adapters that keep other frameworks' conversation history in a conversa store.

Each adapter is a module of its own, importable once its framework is installed
(an extra each):

- `conversa.integrations.pydantic_ai` (``pip install 'conversa-state[pydantic-ai]'``):
  `MessageHistory`, Pydantic AI's message history, loaded before a run and saved
  after it;
- `conversa.integrations.langchain` (``pip install 'conversa-state[langchain]'``):
  `ConversaChatMessageHistory`, LangChain's `BaseChatMessageHistory`.

Both keep what a conversa store guarantees: the history is durable (one stored turn
per message, in any store), appends are conditional on the history the adapter last
saw (a second writer gets `SeqConflictError`, never a lost message), and an owner
sees only its own conversations. The README's "Using conversa with Pydantic AI /
LangChain" says what translates into Anthropic blocks and what is kept as JSON.
"""

from __future__ import annotations

__all__: list[str] = []
