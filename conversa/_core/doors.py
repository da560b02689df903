"""What a door refuses, checked at plan time (pure).

A conversation does not depend on its door, so it may move to a stricter one; what
that door lacks or limits is refused here, before anything is written or sent,
rather than rejected by the API: Message Batches where there are none, a
top-level (automatic) ``cache_control`` on Bedrock, a ``diagnostics`` field off
the first-party door, betas on Bedrock's Messages endpoint, images over the door's
size. The request size is the window's to keep (`_core.window` is given the
door's limit). The door values themselves are `conversa._values.doors`.

Also here: how large ``max_tokens`` may be (the 300k output beta for batches) and the official SDK's long-request rule for non-streamed calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .._exceptions import InvalidInputError
from .._values.capabilities import ModelCapabilities, canonical_model, known_model
from .._values.doors import (
    EXTENDED_OUTPUT_BETA,
    EXTENDED_OUTPUT_MAX,
    DoorCapabilities,
    extended_output_model,
)
from .api_rules import MAX_IMAGE_BYTES

__all__ = [
    "LONG_REQUEST_TOKENS",
    "NONSTREAMING_MAX",
    "check_door",
    "check_max_tokens",
]

#: The SDK's rule: a call is expected to take ``3600 * max_tokens / 128_000``
#: seconds, and a non-streamed one longer than ten minutes is refused unless the
#: caller chose a timeout; this is the largest ``max_tokens`` within ten minutes.
LONG_REQUEST_TOKENS = 21_333
#: Models with a lower non-streamed ceiling (the SDK's ``MODEL_NONSTREAMING_TOKENS``).
NONSTREAMING_MAX = {"claude-opus-4": 8192, "claude-opus-4-1": 8192}
#: The blocks that are, or may hold, images.
_WITH_IMAGES = frozenset({"image", "tool_result"})


def check_max_tokens(
    max_tokens: int,
    *,
    model: str,
    caps: ModelCapabilities,
    door: DoorCapabilities,
    betas: Sequence[str],
    batch: bool,
    stream: bool,
    timeout_set: bool,
) -> None:
    """Refuse a ``max_tokens`` the model, the door or the SDK's long-request rule refuses.

    With the 300k output beta, a batch request for a model that has it may ask
    for up to 300,000 tokens on a door that serves it; a synchronous call never
    may. A non-streamed synchronous call expected to run over ten minutes is
    refused unless the client's timeout was chosen by the caller.

    Raises:
        InvalidInputError: naming the limit and the way out.
    """
    extended = (
        door.extended_output
        and EXTENDED_OUTPUT_BETA in betas
        and extended_output_model(model)
    )
    limit = EXTENDED_OUTPUT_MAX if batch and extended else caps.max_output
    if known_model(model) and max_tokens > limit:
        msg = f"max_tokens={max_tokens} is over {model!r}'s maximum output of {limit}"
        if not batch and extended_output_model(model) and door.extended_output:
            msg += (
                f"; up to {EXTENDED_OUTPUT_MAX} is for batches only: submit it with "
                f"Batches(...).submit(..., betas=[{EXTENDED_OUTPUT_BETA!r}])"
            )
        elif batch and extended_output_model(model) and not door.extended_output:
            msg += f"; the {door.name} door does not serve {EXTENDED_OUTPUT_BETA}"
        raise InvalidInputError(msg)
    if batch or stream or timeout_set:
        return
    ceiling = NONSTREAMING_MAX.get(canonical_model(model), LONG_REQUEST_TOKENS)
    if max_tokens > ceiling:
        msg = (
            f"max_tokens={max_tokens} without streaming may take longer than ten "
            "minutes (the official SDK's long-request rule); use conv.stream(), "
            "or give the client a timeout of your own (Client(timeout=...))"
        )
        raise InvalidInputError(msg)


def check_door(
    body: Mapping[str, Any],
    *,
    door: DoorCapabilities,
    betas: Sequence[str],
    batch: bool,
    entry: str,
) -> None:
    """Refuse a request body the door does not take (see the module docstring).

    Raises:
        InvalidInputError: naming the field, the door and what to do instead.
    """
    where = f"{entry}: the {door.name} door"
    if batch and not door.batches:
        msg = (
            f"{where} has no Message Batches API; send the conversations one at a "
            "time, or batch them through the anthropic, aws or google-cloud door"
        )
        raise InvalidInputError(msg)
    if betas and not door.betas:
        msg = f"{where} takes no betas (got {', '.join(betas)}); drop them"
        raise InvalidInputError(msg)
    if body.get("cache_control") is not None and not door.automatic_cache:
        msg = (
            f"{where} takes no top-level cache_control (automatic caching); drop it: "
            "conversa places explicit breakpoints itself"
        )
        raise InvalidInputError(msg)
    if "diagnostics" in body and not door.diagnostics:
        msg = f"{where} has no cache diagnostics; drop the diagnostics field"
        raise InvalidInputError(msg)
    # Every image was checked against the API's own limit when it entered the
    # store; only a stricter door needs another look (off the first-party hot path).
    if door.max_image_bytes >= MAX_IMAGE_BYTES:
        return
    for path, size in _images(body):
        if size > door.max_image_bytes:
            msg = (
                f"{where} takes images up to {door.max_image_bytes} bytes of base64; "
                f"{path} has {size} (take it out of the replay with conv.retract(), "
                "or send a smaller image)"
            )
            raise InvalidInputError(msg)


def _images(body: Mapping[str, Any]) -> Iterator[tuple[str, int]]:
    """The path and base64 size of every image in the messages (tool results included)."""
    for m, message in enumerate(body.get("messages") or ()):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for b, block in enumerate(content):
            # dict first: the Mapping ABC check is the slow part of this loop.
            is_block = isinstance(block, (dict, Mapping))
            if is_block and block.get("type") in _WITH_IMAGES:
                yield from _block_images(block, f"messages.{m}.content.{b}")


def _block_images(block: Any, path: str) -> Iterator[tuple[str, int]]:
    if not isinstance(block, Mapping):
        return
    source = block.get("source")
    if block.get("type") == "image" and isinstance(source, Mapping):
        data = source.get("data")
        if source.get("type") == "base64" and isinstance(data, str):
            yield path, len(data)
    inner = block.get("content")
    if block.get("type") == "tool_result" and isinstance(inner, list):
        for i, item in enumerate(inner):
            yield from _block_images(item, f"{path}.content.{i}")
