"""Normalization: stored turns to the `messages` array the Messages API accepts.

Pure functions over turns. The rules, in the order they apply (docs: concepts/normalization.md):

1. Turns that are not replayed are left out: retraction turns, and the turns whose
   seq a retraction lists in its `RETRACTS` flag. Summary turns are replayed as
   user turns.
2. Thinking and redacted_thinking blocks are dropped from assistant turns written
   by another model than the request's; otherwise they go back untouched,
   the same blocks in the same order. An alias and its dated id are one model.
3. Empty and whitespace-only text blocks are dropped, also inside
   tool_result content and search_result content; a tool_result whose content ends
   up empty (or was `null`) loses its `content` key, which the API reads as an
   empty result. A turn left with no blocks disappears. Under anthropic-version
   2026-10-21, non-empty `citations` on text in user turns are removed: the
   text stays, only the citation metadata goes.
4. Consecutive turns of the same role merge into one message, their
   blocks concatenated in order.
5. In a user message, tool_result blocks come first, in their order.
6. A final assistant message (a prefill, or a reply being continued) loses the
   trailing whitespace of its last block, if that block is text.
7. What no safe repair can fix raises, naming the turn (`_core.history_rules`).

The output is deterministic: the same turns give the same bytes, and each block is
its own `to_api()` unless a rule above changed it, so the prompt cache keeps
hitting. Content is always a list of blocks, never the string shorthand.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from attrs import evolve, field, frozen

from .._exceptions import InvalidInputError
from .._values.blocks import (
    Block,
    RedactedThinkingBlock,
    SearchResultBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.body_json import SplicedBody
from .._values.capabilities import ModelCapabilities, same_model
from .._values.settings import RETRACTS
from .._values.turns import Role, Turn, remembered
from .history_rules import Message, check_messages, check_thinking_end, turn_error

__all__ = [
    "DEFAULT_API_VERSION",
    "Normalized",
    "check_history",
    "normalize",
    "pending_tool_use_ids",
    "plain_user_run",
    "plainly_valid",
    "replayed",
    "spliced",
    "to_messages",
]

#: The API version whose rules apply when the caller names none.
DEFAULT_API_VERSION = "2026-10-21"
# Versions are dates; the rules of 2026-10-21 hold from that version on.
_RULES_2026 = "2026-10-21"
# tool_result keys that `from_api` keeps in `extra` when they are `null`.
_NULLABLE = ("content", "is_error")
_PATH = re.compile(r"messages\.(\d+)(?:\.content\.(\d+))?")


@frozen
class Normalized:
    """The messages to send, and the turn each of their blocks came from.

    Attributes:
        messages: the `messages` array of the request body, oldest first.
        origins: for each message, for each of its content blocks, the position
            (in the turns given to `normalize`) of the turn the block came from.
        sources: for each message, the turn whose blocks it is, all of them as
            they are, or None (merged turns, a block repaired or left out): its
            content's JSON text is that turn's (`body_json`).
    """

    messages: tuple[dict[str, Any], ...] = field(hash=False)
    origins: tuple[tuple[int, ...], ...]
    sources: tuple[Turn | None, ...] = field(default=(), eq=False, repr=False)

    def turn_positions(self, message_index: int) -> tuple[int, ...]:
        """Return the positions of the turns merged into message *message_index*."""
        return tuple(dict.fromkeys(self.origins[message_index]))

    def locate(self, path: str) -> tuple[int, ...]:
        """Return the positions of the turns an API error's *path* points at.

        The API prefixes its 400s with a path: `messages.3.content.1` names one
        block, so one turn; `messages.3` names a message, so every turn merged into
        it. A path that names nothing here gives `()`.
        """
        found = _PATH.search(path)
        if found is None:
            return ()
        index = int(found[1])
        if index >= len(self.origins):
            return ()
        if found[2] is None:
            return self.turn_positions(index)
        block = int(found[2])
        origins = self.origins[index]
        return (origins[block],) if block < len(origins) else ()


def replayed(turns: Sequence[Turn]) -> list[tuple[int, Turn]]:
    """Return the turns a request replays, each with its position in *turns*.

    Retraction turns are left out, and so are the turns whose seq any retraction
    lists in its `RETRACTS` flag.

    Raises:
        UnrepairableHistoryError: a retraction's `retracts` is not a list of seqs.
    """
    hidden: set[int] = set()
    for position, turn in enumerate(turns):
        if turn.kind != "retraction":
            continue
        retracts = RETRACTS.of(turn)
        if retracts is None:
            stored = RETRACTS.stored(turn)
            rule = f"a retraction's flags[{RETRACTS.key!r}] must be a list of seqs, not {stored!r}"
            raise turn_error(rule, turns, position)
        hidden.update(retracts)
    return [
        (position, turn)
        for position, turn in enumerate(turns)
        if turn.kind != "retraction" and turn.seq not in hidden
    ]


def _role(turn: Turn) -> Role:
    # A summary stands in for a dropped span of the conversation and is replayed
    # as user text.
    return "user" if turn.kind == "summary" else turn.role


def normalize(
    turns: Sequence[Turn],
    *,
    model: str,
    caps: ModelCapabilities,
    api_version: str = DEFAULT_API_VERSION,
    thinking: bool = False,
    new_turn_ids: Collection[str] = frozenset(),
    open_end: bool = False,
) -> Normalized:
    """Turn *turns* into the `messages` array, applying the module's rules.

    Args:
        turns: the turns to replay, oldest first: the stored window, then the new
            turn(s) held in memory (a new user turn; a prefill as a final
            assistant turn).
        model: the model of the request (thinking of other models is dropped).
        caps: the model's capabilities, overrides applied (its image limit).
        api_version: the `anthropic-version` the request goes out with.
        thinking: whether the request has thinking on (see
            `conversa._values.capabilities.thinking_enabled`).
        new_turn_ids: ids of the turns not stored yet. An unanswered tool_use
            followed by one of them raises `PendingToolUseError`, and one of them
            left with no content raises instead of vanishing.
        open_end: the turns are a history being stored, not a request: it may end
            with an assistant turn whose tool calls are not answered yet (what a
            reply asking for tools looks like).

    Returns:
        The messages and, for each block, the turn it came from.

    Raises:
        PendingToolUseError: the last assistant turn asked for tools that the new
            turn does not answer.
        UnrepairableHistoryError: the turns break a rule no safe repair satisfies;
            the error names the turn and the rule.
    """
    messages, sources = check_history(
        turns,
        model=model,
        caps=caps,
        api_version=api_version,
        thinking=thinking,
        new_turn_ids=new_turn_ids,
        open_end=open_end,
    )
    return Normalized(
        tuple(
            {"role": role, "content": [block.to_api() for block, _ in entries]}
            for role, entries in messages
        ),
        tuple(tuple(position for _, position in entries) for _, entries in messages),
        tuple(
            turn if turn is not None and _verbatim(entries, turn.blocks) else None
            for (_, entries), turn in zip(messages, sources, strict=True)
        ),
    )


def check_history(
    turns: Sequence[Turn],
    *,
    model: str,
    caps: ModelCapabilities,
    api_version: str = DEFAULT_API_VERSION,
    thinking: bool = False,
    new_turn_ids: Collection[str] = frozenset(),
    open_end: bool = False,
) -> tuple[list[Message], list[Turn | None]]:
    """`normalize`'s rules, without building the API's messages (an append keeps
    the turns, not a body; it calls this for the checks alone): the messages as
    blocks with each one's position, checked, and for each message the one turn
    it was made of (None: merged or repaired). The arguments and errors are
    `normalize`'s."""
    rules_2026 = api_version >= _RULES_2026
    messages: list[Message] = []
    # For each message, the one turn it was made of with its blocks unchanged.
    sources: list[Turn | None] = []
    new_positions: set[int] = set()
    plain = True  # so far, only blocks no rule of `check_messages` is about
    for position, turn in replayed(turns):
        role = _role(turn)
        if turn.id in new_turn_ids:
            new_positions.add(position)
        blocks, plain_turn = _cleaned(turn, role, model=model, rules_2026=rules_2026)
        plain = plain and plain_turn
        if not blocks:
            if turn.id in new_turn_ids:
                rule = (
                    "the new turn has no content: text content blocks must contain "
                    "non-whitespace text"
                )
                raise turn_error(rule, turns, position)
            # The API rejects an empty message; a turn left with nothing goes.
            continue
        entries = [(block, position) for block in blocks]
        if messages and messages[-1][0] == role:
            # The API merges consecutive same-role turns; we merge them ourselves
            # so that the pairing checks see the message the API will see.
            messages[-1][1].extend(entries)
            sources[-1] = None
        else:
            messages.append((role, entries))
            sources.append(turn)
    if not messages:
        msg = "there is nothing to send: every turn is retracted or empty"
        raise InvalidInputError(msg)
    for role, entries in () if plain else messages:
        if role == "user":
            # The API wants tool_result blocks first in the user message.
            entries.sort(key=lambda entry: not isinstance(entry[0], ToolResultBlock))
    _strip_final(messages)
    if plain:
        # Text and, from the assistant, thinking: the one rule left is thinking's.
        check_thinking_end(messages, turns, thinking=thinking)
    else:
        check_messages(
            messages,
            turns,
            new_positions=new_positions,
            open_end=open_end,
            thinking=thinking,
            rules_2026=rules_2026,
            max_images=caps.max_images,
        )
    return messages, sources


def _cleaned(
    turn: Turn, role: Role, *, model: str, rules_2026: bool
) -> tuple[tuple[Block, ...], bool]:
    """`_clean_turn` of *turn*, and whether what it kept is `_plain`: worked out
    once per turn value, role, model and rules (`remembered`). A send replays
    the same window turns, read back as the same values, call after call."""
    memo = remembered(turn).setdefault("cleaned", {})
    key = (role, model, rules_2026)
    found: tuple[tuple[Block, ...], bool] | None = memo.get(key)
    if found is None:
        blocks = tuple(_clean_turn(turn, role, model=model, rules_2026=rules_2026))
        found = memo[key] = (blocks, _plain(role, blocks))
    return found


def _plain(role: Role, blocks: Sequence[Block]) -> bool:
    """Whether *blocks* are all of the kinds a plain turn of *role* holds (text;
    from the assistant, thinking too): no rule of `check_messages` but thinking's
    is about them (`plainly_valid`)."""
    allowed = _PLAIN_BLOCKS[role]
    return all(isinstance(block, allowed) for block in blocks)


#: The blocks a plain turn holds, by the role it is replayed as (`plainly_valid`).
_PLAIN_BLOCKS: Mapping[str, tuple[type, ...]] = {
    "user": (TextBlock,),
    "assistant": (TextBlock, ThinkingBlock, RedactedThinkingBlock),
}


def plain_user_run(turns: Sequence[Turn]) -> bool:
    """Whether *turns* are all user messages of text: a run no reply interrupts.

    A stored run like this answered the tool calls of the reply before it (its
    first turn did, or the history check would not have let it in), so what
    `plainly_valid` passes after its newest turns passes after the whole run:
    text added after text, where no rule looks back. An append of plain turns is
    checked against such a run's newest turns alone (`tail_flow`, bounded).
    """
    return all(
        turn.kind == "message" and turn.role == "user" and _plain("user", turn.blocks)
        for turn in turns
    )


def plainly_valid(tail: Sequence[Turn], new: Sequence[Turn]) -> bool:
    """Whether `check_history` of *tail* then *new* (``open_end=True``, thinking
    off, *new*'s ids as ``new_turn_ids``) is sure to pass, told without running it.

    True only for plain turns: messages and summaries (no retraction) holding
    text, and, in assistant turns, thinking; *new* all messages of text, each with
    some that is not blank, and ids none of *tail*'s. Such a history has no block
    any rule of `check_messages` is about (images, documents, tool calls and
    results, server tools), and every new turn keeps a block after rule 3, so no
    rule can refuse it, whatever the order of the roles and the model. False
    says nothing: `check_history` decides. The usual `add()` to a chat is this.
    """
    ids = set()
    for turn in tail:
        if turn.kind == "retraction" or not _plain(_role(turn), turn.blocks):
            return False
        ids.add(turn.id)
    for turn in new:
        if turn.kind != "message" or turn.id in ids:
            return False
        blank = True
        for block in turn.blocks:
            if type(block) is not TextBlock:
                return False
            if blank and block.text.strip():
                blank = False
        if blank:
            return False
    return True


def _verbatim(entries: list[tuple[Block, int]], blocks: tuple[Block, ...]) -> bool:
    """Whether *entries* are *blocks*, every one, in order and unchanged."""
    if len(entries) != len(blocks):
        return False
    if len(blocks) == 1:  # the usual message: one text block
        return entries[0][0] is blocks[0]
    return all(entry[0] is block for entry, block in zip(entries, blocks, strict=True))


def spliced(body: Mapping[str, Any], normalized: Normalized) -> SplicedBody:
    """*body*, made from *normalized*, as a `SplicedBody` for one call (`body_json`)."""
    return SplicedBody(
        body,
        tuple(
            None if turn is None else (message, message["content"], turn)
            for message, turn in zip(
                normalized.messages, normalized.sources, strict=False
            )
        ),
    )


def to_messages(
    turns: Sequence[Turn],
    *,
    model: str,
    caps: ModelCapabilities,
    api_version: str = DEFAULT_API_VERSION,
    thinking: bool = False,
    new_turn_ids: Collection[str] = frozenset(),
    open_end: bool = False,
) -> list[dict[str, Any]]:
    """Return the `messages` array for *turns*; see `normalize` for the arguments."""
    normalized = normalize(
        turns,
        model=model,
        caps=caps,
        api_version=api_version,
        thinking=thinking,
        new_turn_ids=new_turn_ids,
        open_end=open_end,
    )
    return list(normalized.messages)


def pending_tool_use_ids(turns: Sequence[Turn]) -> tuple[str, ...]:
    """Return the tool_use ids of the last assistant turn(s) no later turn answers.

    The last run of consecutive assistant turns is one message to the API, so its
    tool calls are looked for in all of them; the user turns after the run answer
    them. Retracted turns do not count.
    """
    kept = [turn for _, turn in replayed(turns)]
    answered: set[str] = set()
    index = len(kept) - 1
    while index >= 0 and _role(kept[index]) == "user":
        answered.update(
            b.tool_use_id for b in kept[index].blocks if isinstance(b, ToolResultBlock)
        )
        index -= 1
    asked: list[str] = []
    while index >= 0 and _role(kept[index]) == "assistant":
        ids = [b.id for b in kept[index].blocks if isinstance(b, ToolUseBlock)]
        asked[:0] = ids
        index -= 1
    return tuple(use_id for use_id in asked if use_id not in answered)


def _clean_turn(turn: Turn, role: Role, *, model: str, rules_2026: bool) -> list[Block]:
    """Apply rules 2 and 3 to one turn's blocks."""
    foreign = (
        role == "assistant"
        and turn.model is not None
        and not same_model(turn.model, model)
    )
    out: list[Block] = []
    for block in turn.blocks:
        if foreign and isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            # Thinking is bound to the model that wrote it: strip it after a
            # model change (the API's guidance; newer models reject it).
            continue
        kept = _clean_block(block, strip_citations=rules_2026 and role == "user")
        if kept is not None:
            out.append(kept)
    return out


def _clean_block(block: Block, *, strip_citations: bool) -> Block | None:
    """Return *block* repaired, the same object if nothing changed, or None to drop it."""
    if isinstance(block, TextBlock):
        if not block.text.strip():
            # The API rejects empty and whitespace-only text blocks.
            return None
        if strip_citations and block.extra.get("citations"):
            # 2026-10-21 rejects citations on user text; the text itself stays.
            extra = {k: v for k, v in block.extra.items() if k != "citations"}
            return evolve(block, extra=extra)
        return block
    if isinstance(block, SearchResultBlock):
        content = _clean_list(block.content, strip_citations=strip_citations)
        if not content:
            # A search result needs text; one with none says nothing.
            return None
        return block if content is block.content else evolve(block, content=content)
    if isinstance(block, ToolResultBlock):
        return _clean_tool_result(block, strip_citations=strip_citations)
    return block


def _clean_tool_result(
    block: ToolResultBlock, *, strip_citations: bool
) -> ToolResultBlock:
    extra = block.extra
    if any(key in extra and extra[key] is None for key in _NULLABLE):
        # A `null` content or is_error means "absent"; the API's types take no null.
        extra = {k: v for k, v in extra.items() if not (k in _NULLABLE and v is None)}
    content = block.content
    if isinstance(content, str):
        cleaned: str | tuple[Block, ...] | None = content if content.strip() else None
    elif content is None:
        cleaned = None
    else:
        cleaned = _clean_list(content, strip_citations=strip_citations) or None
    if cleaned is content and extra is block.extra:
        return block
    return evolve(block, content=cleaned, extra=extra)


def _clean_list(
    blocks: tuple[Block, ...], *, strip_citations: bool
) -> tuple[Block, ...]:
    """Clean nested blocks; return *blocks* itself when nothing changed."""
    out: list[Block] = []
    changed = False
    for block in blocks:
        kept = _clean_block(block, strip_citations=strip_citations)
        changed = changed or kept is not block
        if kept is not None:
            out.append(kept)
    return tuple(out) if changed else blocks


def _strip_final(messages: list[Message]) -> None:
    role, entries = messages[-1]
    block, position = entries[-1]
    if role == "assistant" and isinstance(block, TextBlock):
        # The API rejects a final assistant message that ends in whitespace. Rule 3
        # already dropped whitespace-only text, so some text always remains.
        stripped = block.text.rstrip()
        if stripped != block.text:
            entries[-1] = (evolve(block, text=stripped), position)
