"""conversa: durable, replay-correct conversation state for Anthropic's Messages API.

The Messages API is stateless: every call carries the whole conversation. conversa
keeps that state in a store (memory, SQLite, PostgreSQL), normalizes it the way the
API expects, replays it over httpx, and folds each reply back in with its usage:

    from conversa import Client, Conversation, MemoryStore

    conv = Conversation.create(MemoryStore(), client=Client(), model="claude-sonnet-4-5")
    print(conv.send("Hello!").text)

The public API is this package's ``__all__``, `conversa.testing` and the adapters
of `conversa.integrations` (``pydantic_ai``, ``langchain``, each behind its extra);
modules whose names start with an underscore (``help()`` lists them under PACKAGE
CONTENTS, and names the classes below by them) are private and may change in any
release. Import from those only. The main names:

- Conversations: `Conversation` and `AsyncConversation` (``create``, ``load``,
  ``send``, ``stream``, ``run``, ``request``, ``turns``, ``retract``, ``edit``,
  ``regenerate``, ``usage``, ``ledger``), `ReplyStream`, `Batches`.
- Clients: `Client` and `AsyncClient` (with the ``aws``, ``bedrock``, ``vertex``
  and ``google_cloud`` doors), `RetryPolicy`, `RequestParams`, `capabilities_for`.
- Stores: `MemoryStore`, `SQLiteStore`, `PostgresStore`; the `Store` and
  `AsyncStore` protocols with their optional capabilities; `store_rules`, the pure
  functions for writing a store of your own.
- Values: `Turn`, `Usage`, the blocks (`TextBlock`, `ImageBlock`, `ToolUseBlock`,
  ...), `BudgetConfig`, `CacheConfig`, `Price` and `Ledger`.
- Tools: `tool`, `Tool`, `ToolSet`.
- Transcripts: `markdown_transcript` (the JSONL export is the CLI's ``export``).
- Errors: `ConversaError` and its subclasses: `InvalidInputError` (bad input,
  raised before anything is written or sent), `APIError` (from the API) and
  `StoreError` (from a store).

The guide (getting started, concepts, how-tos, the command line, production) and
the API reference are the docs site, built from the repository's ``docs/`` folder
with ``mkdocs build`` (the ``docs`` extra).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._client.client import APIResponse, AsyncClient, Client
from ._client.config import ClientConfig
from ._client.retry import RetryPolicy
from ._client.tracing import Tracing
from ._conversation.async_batches import AsyncBatches
from ._conversation.async_conversation import AsyncConversation
from ._conversation.batches import Batches, BatchPage
from ._conversation.conversation import Conversation
from ._conversation.streams import AsyncReplyStream, ReplyStream
from ._core.plan import ModelSummarizer
from ._core.pricing import PRICES, PRICES_DATE, Cost, Ledger, Price, cost
from ._core.summaries import AsyncSummarizer, Summarizer
from ._core.transcript import markdown_transcript
from ._core.window import WindowPlan
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    ConflictError,
    ContextBudgetError,
    ContextWindowExceededError,
    ConversaError,
    ConversationBusyError,
    ConversationDeletedError,
    ConversationNotFoundError,
    EncryptionError,
    HistoryRejectedError,
    InternalServerError,
    InvalidContentError,
    InvalidInputError,
    NotFoundError,
    OverloadedError,
    PendingToolUseError,
    PermissionDeniedError,
    PrefillNotSupportedError,
    PrefillRejectedError,
    RateLimitError,
    RequestTooLargeError,
    SchemaVersionError,
    SeqConflictError,
    StoreConfigError,
    StoreCorruptError,
    StoreDriverMissingError,
    StoreError,
    StoreUnavailableError,
    StreamError,
    ToolLoopLimitError,
    TurnIdConflictError,
    UnrepairableHistoryError,
)
from ._flows.batch import (
    BatchEntry,
    BatchJob,
    BatchOutcome,
    BatchStatus,
    CollectReport,
    custom_id_for,
)
from ._stores import MemoryStore, PostgresStore, SQLiteStore
from ._stores import rules as store_rules
from ._stores.protocol import (
    AsyncErasure,
    AsyncNewestFirstReads,
    AsyncOwnerScoped,
    AsyncSectionAppends,
    AsyncStore,
    AsyncWindowReads,
    Erased,
    Erasure,
    NewestFirstReads,
    OwnerScoped,
    Page,
    SectionAppends,
    Store,
    TurnUpdate,
    WindowRead,
    WindowReads,
)
from ._stores.sql.crypto import Encryption
from ._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    block_from_api,
    blocks_from_api,
)
from ._values.capabilities import ModelCapabilities, capabilities_for
from ._values.params import DEFAULT_MAX_TOKENS, RequestParams
from ._values.settings import BudgetConfig, CacheConfig
from ._values.tools import Tool, ToolSet, aexecute, execute, tool
from ._values.turns import ConversationRecord, Turn, Usage, UsageTotals

try:
    __version__ = version("conversa-state")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "PRICES",
    "PRICES_DATE",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatches",
    "AsyncClient",
    "AsyncConversation",
    "AsyncErasure",
    "AsyncNewestFirstReads",
    "AsyncOwnerScoped",
    "AsyncReplyStream",
    "AsyncSectionAppends",
    "AsyncStore",
    "AsyncSummarizer",
    "AsyncWindowReads",
    "AuthenticationError",
    "BadRequestError",
    "BatchEntry",
    "BatchJob",
    "BatchOutcome",
    "BatchPage",
    "BatchStatus",
    "Batches",
    "BillingError",
    "Block",
    "BudgetConfig",
    "CacheConfig",
    "Client",
    "ClientConfig",
    "CollectReport",
    "ConflictError",
    "ContextBudgetError",
    "ContextWindowExceededError",
    "ConversaError",
    "Conversation",
    "ConversationBusyError",
    "ConversationDeletedError",
    "ConversationNotFoundError",
    "ConversationRecord",
    "Cost",
    "DocumentBlock",
    "Encryption",
    "EncryptionError",
    "Erased",
    "Erasure",
    "HistoryRejectedError",
    "ImageBlock",
    "InternalServerError",
    "InvalidContentError",
    "InvalidInputError",
    "Ledger",
    "MemoryStore",
    "ModelCapabilities",
    "ModelSummarizer",
    "NewestFirstReads",
    "NotFoundError",
    "OverloadedError",
    "OwnerScoped",
    "Page",
    "PendingToolUseError",
    "PermissionDeniedError",
    "PostgresStore",
    "PrefillNotSupportedError",
    "PrefillRejectedError",
    "Price",
    "RateLimitError",
    "RawBlock",
    "RedactedThinkingBlock",
    "ReplyStream",
    "RequestParams",
    "RequestTooLargeError",
    "RetryPolicy",
    "SQLiteStore",
    "SchemaVersionError",
    "SearchResultBlock",
    "SectionAppends",
    "SeqConflictError",
    "Store",
    "StoreConfigError",
    "StoreCorruptError",
    "StoreDriverMissingError",
    "StoreError",
    "StoreUnavailableError",
    "StreamError",
    "Summarizer",
    "TextBlock",
    "ThinkingBlock",
    "Tool",
    "ToolLoopLimitError",
    "ToolResultBlock",
    "ToolSet",
    "ToolUseBlock",
    "Tracing",
    "Turn",
    "TurnIdConflictError",
    "TurnUpdate",
    "UnrepairableHistoryError",
    "Usage",
    "UsageTotals",
    "WindowPlan",
    "WindowRead",
    "WindowReads",
    "__version__",
    "aexecute",
    "block_from_api",
    "blocks_from_api",
    "capabilities_for",
    "cost",
    "custom_id_for",
    "execute",
    "markdown_transcript",
    "store_rules",
    "tool",
]
