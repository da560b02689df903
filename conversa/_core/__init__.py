"""The pure core: normalization, the API's rules, tokens, window, cache, prices,
request building and reply folding. No I/O.

This package's namespace is the one door the flows (`conversa._flows`) use: they
plan a send with `plan_send` and reach the rest of the core only through the names
below, never its modules.
"""

from .api_rules import check_blocks, check_system
from .calibrate import Learned, learn, with_fixed_exact
from .normalize import (
    check_history,
    pending_tool_use_ids,
    plain_user_run,
    plainly_valid,
    replayed,
    spliced,
    to_messages,
)
from .plan import (
    ModelSummarizer,
    Plan,
    SendSpec,
    check_content,
    estimated,
    plan_send,
    sized_reply,
    summary_body,
)
from .request import check_params, fold_partial, fold_reply, map_api_error
from .summaries import (
    SummaryRequest,
    exchange_starts,
    first_exchange,
    is_real_user_turn,
    summary_request,
    summary_turn,
)

__all__ = [
    "Learned",
    "ModelSummarizer",
    "Plan",
    "SendSpec",
    "SummaryRequest",
    "check_blocks",
    "check_content",
    "check_history",
    "check_params",
    "check_system",
    "estimated",
    "exchange_starts",
    "first_exchange",
    "fold_partial",
    "fold_reply",
    "is_real_user_turn",
    "learn",
    "map_api_error",
    "pending_tool_use_ids",
    "plain_user_run",
    "plainly_valid",
    "plan_send",
    "replayed",
    "sized_reply",
    "spliced",
    "summary_body",
    "summary_request",
    "summary_turn",
    "to_messages",
    "with_fixed_exact",
]
