"""conversa's error tree.

Every error conversa raises is a `ConversaError`::

    ConversaError
    ├── InvalidInputError(ValueError)        bad arguments or content; raised before any I/O
    │   ├── InvalidContentError              a supplied block breaks an API rule; names entry and path
    │   ├── UnrepairableHistoryError         a stored history the API would reject; names the turn
    │   ├── PrefillNotSupportedError         prefill on a model (or with thinking) that rejects it
    │   └── PendingToolUseError              a tool_use is still unanswered
    ├── ContextBudgetError                   the newest exchange does not fit the budget
    ├── ContextWindowExceededError           the model stopped: the context window is full
    ├── ToolLoopLimitError                   run() reached its step limit
    ├── StoreError
    │   ├── ConversationNotFoundError(LookupError)
    │   │   └── ConversationDeletedError     deleted (erased) while a send was in flight (.reply)
    │   ├── TurnIdConflictError              a turn id already stored with other content
    │   ├── SeqConflictError                 optimistic concurrency: the history moved on
    │   ├── ConversationBusyError            the exclusive section was not had in time
    │   ├── SchemaVersionError               the database has a schema this version can't use
    │   ├── EncryptionError                  a wrong or missing key, an altered row, a refused filter
    │   ├── StoreConfigError(ValueError)     a store URL or setup conversa can't use (.target)
    │   │   └── StoreDriverMissingError(ImportError)   the driver is not installed; names the extra
    │   ├── StoreUnavailableError            can't connect, or the connection broke (.target, .operation)
    │   └── StoreCorruptError                not a (conversa) database, or a damaged one (.target)
    └── APIError (.request_id)
        ├── APIConnectionError
        │   └── APITimeoutError
        ├── APIStatusError (.status_code, .error_type, .retry_after, .body)
        │   ├── BadRequestError 400          (PrefillRejectedError: the API's prefill 400;
        │   │                                 HistoryRejectedError: a stored turn refused, with the way out)
        │   ├── AuthenticationError 401 · BillingError 402 · PermissionDeniedError 403
        │   ├── NotFoundError 404 · ConflictError 409 · RequestTooLargeError 413
        │   ├── RateLimitError 429
        │   └── InternalServerError 5xx      (OverloadedError 529)
        └── StreamError                      an error event or a broken stream after HTTP 200

Messages are built by each `__init__` from keyword-only fields, so a caller can
read the structured facts (`exc.status_code`, `exc.turn_seq`) instead of parsing text.
No exception ever carries an API key or auth token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConflictError",
    "ContextBudgetError",
    "ContextWindowExceededError",
    "ConversaError",
    "ConversationBusyError",
    "ConversationDeletedError",
    "ConversationNotFoundError",
    "EncryptionError",
    "HistoryRejectedError",
    "InternalServerError",
    "InvalidContentError",
    "InvalidInputError",
    "NotFoundError",
    "OverloadedError",
    "PendingToolUseError",
    "PermissionDeniedError",
    "PrefillNotSupportedError",
    "PrefillRejectedError",
    "RateLimitError",
    "RequestTooLargeError",
    "SchemaVersionError",
    "SeqConflictError",
    "StoreConfigError",
    "StoreCorruptError",
    "StoreDriverMissingError",
    "StoreError",
    "StoreUnavailableError",
    "StreamError",
    "ToolLoopLimitError",
    "TurnIdConflictError",
    "UnrepairableHistoryError",
    "status_error",
]


class ConversaError(Exception):
    """The base of every error conversa raises."""


class InvalidInputError(ConversaError, ValueError):
    """Input that conversa refuses before anything is written or sent."""


class InvalidContentError(InvalidInputError):
    """A block, system prompt, tool or request that a caller supplied breaks an API rule.

    Raised at the door, before anything is written or sent.

    Attributes:
        rule: the rule, in the API's own words where the API has them.
        entry: the entry point that refused it (`send`, `add`, `import`, ...).
        path: where, in the API's terms (`content.0.source.data`, `tools.1.name`,
            `messages.3.content.0.cache_control` for a rule of the whole request).
    """

    def __init__(self, rule: str, *, entry: str, path: str) -> None:
        self.rule = rule
        self.entry = entry
        self.path = path
        super().__init__(f"{entry}: {path}: {rule}")


class UnrepairableHistoryError(InvalidInputError):
    """The turns would make a request the API rejects, and no safe repair exists.

    Attributes:
        rule: the API rule that is broken, in a few words.
        turn_position: the turn's index in the replayed turns, if one turn is at fault.
        turn_seq: the stored seq of that turn (None for a turn not yet stored).
        turn_id: the id of that turn.
    """

    def __init__(
        self,
        rule: str,
        *,
        turn_position: int | None = None,
        turn_seq: int | None = None,
        turn_id: str | None = None,
    ) -> None:
        self.rule = rule
        self.turn_position = turn_position
        self.turn_seq = turn_seq
        self.turn_id = turn_id
        where = []
        if turn_position is not None:
            where.append(f"position {turn_position}")
        if turn_seq is not None:
            where.append(f"seq {turn_seq}")
        if turn_id is not None:
            where.append(f"id {turn_id!r}")
        prefix = f"turn at {', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{rule}")


class PrefillNotSupportedError(InvalidInputError):
    """A prefill was asked for where the API rejects it.

    Raised before sending on models known to reject prefill and when thinking is on;
    `PrefillRejectedError` (a subclass) is what the API's own 400 becomes for a model
    conversa does not know, so one `except PrefillNotSupportedError` catches both.
    """

    def __init__(self, *, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"prefill is not supported for model {model!r} ({reason}); end the "
            "conversation with a user turn instead, and for JSON output use "
            'output_config={"format": {"type": "json_schema", "schema": ...}}'
        )


class PendingToolUseError(InvalidInputError):
    """The last assistant turn asked for tools whose results have not been given.

    Attributes:
        tool_use_ids: the ids still awaiting a result.
        unknown_ids: ids the new results answer that no pending call has.
    """

    def __init__(
        self, *, tool_use_ids: tuple[str, ...], unknown_ids: tuple[str, ...] = ()
    ) -> None:
        self.tool_use_ids = tool_use_ids
        self.unknown_ids = unknown_ids
        if unknown_ids:
            message = (
                f"no pending tool call has the id {', '.join(unknown_ids)}: the last "
                f"assistant turn awaits results for {', '.join(tool_use_ids)} "
                "(answer those ids, all in one turn, or cancel them: "
                "conv.cancel_tool_uses())"
            )
        else:
            message = (
                "the last assistant turn has unanswered tool_use blocks "
                f"{list(tool_use_ids)}: answer them with tool_result blocks "
                "(conv.add_tool_results(...)) or cancel them (conv.cancel_tool_uses())"
            )
        super().__init__(message)


class ContextBudgetError(ConversaError):
    """Even the newest exchange (with the pinned turns) exceeds the token budget."""

    def __init__(self, *, needed: int, budget: int, detail: str = "") -> None:
        self.needed = needed
        self.budget = budget
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"the newest exchange needs {needed} tokens but the budget is {budget}{extra}"
        )


class ContextWindowExceededError(ConversaError):
    """The model stopped because input plus output reached its context window.

    The reply is stored (`turn`); continuing would overflow again. Lower
    `max_tokens`, or the budget (`BudgetConfig`), so the window leaves more room.
    """

    def __init__(self, *, turn_seq: int | None, model: str | None) -> None:
        self.turn_seq = turn_seq
        self.model = model
        super().__init__(
            f"the reply at seq {turn_seq} stopped at {model!r}'s context window "
            "(stop_reason model_context_window_exceeded): lower max_tokens or the "
            "budget so the window leaves room for the output"
        )


class ToolLoopLimitError(ConversaError):
    """`run()` took its maximum number of steps and the model still wanted more."""

    def __init__(self, *, steps: int) -> None:
        self.steps = steps
        super().__init__(
            f"run() stopped after {steps} model calls without a final answer; every "
            "step is stored: call run() again to resume, or raise max_steps"
        )


class StoreError(ConversaError):
    """A store could not do what was asked.

    Attributes:
        reply: set when a send's reply could not be stored (the database went
            away after the API answered, and billed, the call): the reply `Turn`,
            for the caller to store once the database is back
            (`store.append(conversation_id, [exc.reply])`, idempotent by turn id)
            or to show. None otherwise.
    """

    reply: Any = None


class ConversationNotFoundError(StoreError, LookupError):
    """No conversation with that id (or not one this store handle may see)."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        super().__init__(f"no conversation {conversation_id!r}")


class ConversationDeletedError(ConversationNotFoundError):
    """The conversation was deleted (erased, purged) while a send was in flight.

    The API answered, and billed the call, but the reply was not stored: the
    conversation is gone, and nothing re-creates it. The reply is on `reply`
    (a `Turn`), for the caller to show or keep elsewhere.
    """

    def __init__(self, conversation_id: str, *, reply: Any = None) -> None:
        super().__init__(conversation_id)
        self.reply = reply
        self.args = (
            f"conversation {conversation_id!r} was deleted while a send was in "
            "flight: its reply was not stored (it is on the exception's .reply)",
        )


class TurnIdConflictError(StoreError):
    """A turn id is already stored in the conversation with different content."""

    def __init__(self, *, conversation_id: str, turn_id: str) -> None:
        self.conversation_id = conversation_id
        self.turn_id = turn_id
        super().__init__(
            f"turn id {turn_id!r} is already stored in conversation "
            f"{conversation_id!r} with different content"
        )


class SeqConflictError(StoreError):
    """The history moved on: the last seq is not the one the caller expected."""

    def __init__(self, *, conversation_id: str, expected: int, actual: int) -> None:
        self.conversation_id = conversation_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"conversation {conversation_id!r} is at seq {actual}, expected {expected}"
        )


class ConversationBusyError(StoreError):
    """Another send holds the conversation's exclusive section past the timeout."""

    def __init__(self, *, conversation_id: str, timeout: float) -> None:
        self.conversation_id = conversation_id
        self.timeout = timeout
        super().__init__(
            f"conversation {conversation_id!r} is busy: another send held it "
            f"for more than {timeout:g} s"
        )


class SchemaVersionError(StoreError):
    """The database's schema is one this version of conversa cannot use as it stands.

    Either newer than this conversa knows (`found > known`: upgrade conversa), or
    behind it while the store was opened with `migrate="check"` (`found < known`:
    run `conversa migrate URL`, or open once with `migrate="auto"`).
    """

    def __init__(self, *, found: int, known: int) -> None:
        self.found = found
        self.known = known
        if found < known:
            message = (
                f"the database has conversa schema version {found}, but this "
                f"conversa needs version {known}, and the store was opened with "
                "migrate='check', which runs no DDL: apply the migrations with "
                "`conversa migrate URL` (or open once with migrate='auto')"
            )
        else:
            message = (
                f"the database has conversa schema version {found}, but this "
                f"conversa knows versions up to {known}: upgrade conversa to open it"
            )
        super().__init__(message)


class EncryptionError(StoreError):
    """An encrypted store cannot do what was asked with the keys it was given.

    A key the database registered under an id differs from the one given (a
    wrong key), the database is encrypted and no keys were given, a row's key id
    is not in the keyring (a missing key), a row does not decrypt (altered,
    moved from another conversation, seq or column), a plaintext row in a store
    that expects ciphertext (`conversa encrypt` has not finished), or a metadata
    filter on a store whose metadata is encrypted. Raised before anything is
    written. Key material is never part of the message.
    """


class StoreConfigError(StoreError, ValueError):
    """A store that cannot be opened as given, whatever the database's state.

    A URL conversa cannot parse, a scheme the store does not serve (`mysql://`), or
    a driver that is not installed (`StoreDriverMissingError`).

    Attributes:
        target: the URL (its password masked) or the path.
        reason: what is wrong, and what to do about it.
    """

    def __init__(self, reason: str, *, target: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"store {target!r}: {reason}")


class StoreDriverMissingError(StoreConfigError, ImportError):
    """The store's database driver is not installed; the message names what to install.

    Also an `ImportError`, which is what `PostgresStore` raised without psycopg before.
    """


class StoreUnavailableError(StoreError):
    """The database could not be reached, or stopped answering during a call.

    Raised when a store opens (a server that is down or refuses the login, a
    directory that does not exist) and by the call that failed later (the server
    went away mid-call and its retries failed too, a SQLite file locked past the
    busy timeout, or deleted or replaced under the open store). Nothing of a
    failed call is committed. The password is never part of the message.

    Attributes:
        target: the SQLite file, or the database URL with its password masked.
        operation: `"open"`, or the store call that failed (`"append"`, `"lock"`, ...).
        reason: the driver's own account, first line, password masked.
    """

    def __init__(self, reason: str, *, target: str, operation: str) -> None:
        self.target = target
        self.operation = operation
        self.reason = reason
        super().__init__(f"store {target!r} is unavailable ({operation}): {reason}")


class StoreCorruptError(StoreError):
    """The file or database is not a usable conversa database.

    A file that is not SQLite, a damaged one, or a database whose conversa tables
    are gone (a SQLite file replaced, a PostgreSQL schema dropped).

    Attributes:
        target: the SQLite file, or the database URL with its password masked.
        operation: `"open"`, or the store call that failed.
        reason: the driver's own account, first line, password masked.
    """

    def __init__(self, reason: str, *, target: str, operation: str) -> None:
        self.target = target
        self.operation = operation
        self.reason = reason
        super().__init__(
            f"store {target!r} is not a usable conversa database ({operation}): {reason}"
        )


class APIError(ConversaError):
    """A call to the Messages API failed.

    Attributes:
        request_id: the API's `request-id` header, when a response arrived.
    """

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        suffix = f" (request id {request_id})" if request_id else ""
        # Not super(): in PrefillRejectedError the next class in the MRO is
        # PrefillNotSupportedError, whose __init__ takes other arguments.
        Exception.__init__(self, f"{message}{suffix}")


class APIConnectionError(APIError):
    """The API could not be reached, or the connection broke before a response."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIStatusError(APIError):
    """The API answered with an error status.

    Attributes:
        status_code: the HTTP status.
        error_type: the body's `error.type` (`"rate_limit_error"`, ...), if any.
        error_message: the body's `error.message`, if any (its wording may change).
        retry_after: seconds the API asked us to wait, if it said.
        body: the raw decoded body (a mapping), or the text when it was not JSON.
        should_retry: the API's `x-should-retry` header (True/False), or None
            when it did not say; when set it overrides the status-based rule.
    """

    def __init__(
        self,
        *,
        status_code: int,
        error_type: str | None = None,
        error_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Mapping[str, Any] | str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        self.status_code = status_code
        self.error_type = error_type
        self.error_message = error_message
        self.retry_after = retry_after
        self.body = body
        self.should_retry = should_retry
        kind = f" {error_type}" if error_type else ""
        text = f": {error_message}" if error_message else ""
        super().__init__(f"HTTP {status_code}{kind}{text}", request_id=request_id)


class BadRequestError(APIStatusError):
    """400: the API rejected the request (invalid_request_error)."""


class HistoryRejectedError(BadRequestError):
    """The API rejected a stored turn that conversa replayed (a 400 naming `messages.N`).

    conversa checks everything it can before sending; this is what is left: a turn
    stored before a rule existed, or one a caller vouched for. The error maps the
    API's path back to the stored turn and says how to get the conversation going
    again: `conv.retract(seq)` hides the turn from every later replay (nothing is
    deleted), `conv.edit(seq, ...)` replaces a user turn.

    Attributes:
        turn_seq: the stored turn's seq.
        turn_id: its id.
        turn_role: "user" or "assistant".
        path: the API's path (`messages.3.content.0`).
    """

    def __init__(
        self,
        *,
        turn_seq: int,
        turn_id: str,
        turn_role: str,
        path: str,
        **status: Any,
    ) -> None:
        self.turn_seq = turn_seq
        self.turn_id = turn_id
        self.turn_role = turn_role
        self.path = path
        BadRequestError.__init__(self, **status)
        how = f"conv.retract({turn_seq})"
        if turn_role == "user":
            how += f" or replace it with conv.edit({turn_seq}, ...)"
        self.args = (
            f"{self.args[0]}; the API refused stored turn seq {turn_seq} "
            f"(id {turn_id!r}, at {path}): take it out of the replay with {how}",
        )


class PrefillRejectedError(BadRequestError, PrefillNotSupportedError):
    """The API's own 400 for a prefill on a model that does not take one."""

    def __init__(self, *, model: str, **status: Any) -> None:
        BadRequestError.__init__(self, **status)
        self.model = model
        self.reason = "the API rejected the prefill"


class AuthenticationError(APIStatusError):
    """401: the key or token was not accepted."""


class BillingError(APIStatusError):
    """402: a billing problem on the account."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource."""


class NotFoundError(APIStatusError):
    """404: no such resource (or model)."""


class ConflictError(APIStatusError):
    """409: a conflict; retried by default."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is over the API's size limit."""


class RateLimitError(APIStatusError):
    """429: a rate limit was hit; retried by default, honouring retry-after."""


class InternalServerError(APIStatusError):
    """5xx: the API failed; retried by default."""


class OverloadedError(InternalServerError):
    """529: the API is overloaded; retried by default."""


class StreamError(APIError):
    """The stream failed after HTTP 200: an `error` event, or a broken connection.

    Attributes:
        error_type: the error event's `error.type`, if the API sent one.
        partial: True once any content had reached the caller (then it is not retried).
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        request_id: str | None = None,
        partial: bool = False,
    ) -> None:
        self.error_type = error_type
        self.partial = partial
        super().__init__(message, request_id=request_id)


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    429: RateLimitError,
    529: OverloadedError,
}


def status_error(
    *,
    status_code: int,
    error_type: str | None = None,
    error_message: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    body: Mapping[str, Any] | str | None = None,
    should_retry: bool | None = None,
) -> APIStatusError:
    """Build the `APIStatusError` subclass that matches *status_code*."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(
        status_code=status_code,
        error_type=error_type,
        error_message=error_message,
        request_id=request_id,
        retry_after=retry_after,
        body=body,
        should_retry=should_retry,
    )
