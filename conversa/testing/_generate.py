"""Turning a validated request and a scripted step into a Message, usage and all.

Direct calls and batch requests both come here: the reply is rendered (`_replies`),
thinking blocks signed, the input tokens split by the prompt cache (`_cache`), and
cache diagnostics added when the request asked for them (`_diagnostics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field

from ._cache import CacheStats, CacheUse, Partition, PromptCache
from ._diagnostics import asked, diagnose
from ._prompt import Prompt, build_prompt
from ._replies import (
    Limits,
    Rendering,
    Reply,
    build_message,
    default_reply,
    prefill_of,
    skeleton,
    topic_of,
)
from ._signing import Signer
from ._validate_base import Ctx

__all__ = ["MessageFactory"]


@define
class MessageFactory:
    """Makes the fake's Messages and keeps what they leave behind.

    Attributes:
        signer: signs thinking blocks (and checks them, for validation).
        new_id: makes a fresh id with the given prefix.
        clock: the fake's clock, for cache lifetimes.
        cache_on: whether the prompt cache is simulated.
    """

    signer: Signer
    new_id: Callable[[str], str]
    clock: Callable[[], float]
    cache_on: bool
    _cache: PromptCache = field(factory=PromptCache, repr=False)
    _fingerprints: dict[tuple[Partition, str], Prompt] = field(factory=dict, repr=False)
    _replies: int = 0

    def stats(self) -> CacheStats:
        """Return the prompt cache's counters, with the entries alive now."""
        return self._cache.stats(self.clock())

    def reset(self) -> None:
        """Forget the cache, the diagnostics fingerprints and the reply counter."""
        self._cache.clear()
        self._fingerprints.clear()
        self._replies = 0

    def message(
        self,
        ctx: Ctx,
        step: Reply | None,
        partition: Partition,
        *,
        tier: str = "standard",
    ) -> dict[str, Any]:
        """Return the Message answering *ctx*'s request with *step*.

        Args:
            ctx: the validated request.
            step: the scripted reply, or None for the default reply.
            partition: who sent it (API key digest, workspace).
            tier: the ``usage.service_tier`` to report (``batch`` in batches).
        """
        body = ctx.body
        self._replies += 1
        rendering = Rendering(
            thinking=ctx.thinking_on,
            prefill=prefill_of(body["messages"]),
            number=self._replies,
            topic=topic_of(body["messages"]),
            new_id=self.new_id,
        )
        prompt = build_prompt(ctx)
        display = (body.get("thinking") or {}).get("display")
        omit = display == "omitted" or (
            display is None and ctx.rules.omit_thinking_by_default
        )

        def finish(blocks: list[dict[str, Any]]) -> None:
            for block in blocks:
                if block["type"] == "thinking":
                    nonce = self.new_id("sig_")
                    block["signature"] = self.signer.sign(
                        block["thinking"], nonce=nonce, omitted=omit
                    )
                    if omit:
                        block["thinking"] = ""

        message = skeleton(body, self.new_id("msg_"), prompt.total)
        self._bill(message, ctx, prompt, partition, tier)
        limits = Limits(
            body["max_tokens"],
            ctx.rules.context_window - prompt.total,
            tuple(body.get("stop_sequences", ())),
            token_scale=ctx.token_scale,
        )
        step = step if step is not None else default_reply(rendering)
        return build_message(step, rendering, limits, skeleton=message, finish=finish)

    def _bill(
        self,
        message: dict[str, Any],
        ctx: Ctx,
        prompt: Prompt,
        partition: Partition,
        tier: str,
    ) -> None:
        # Usage as the prompt cache splits it, and diagnostics if asked.
        use = CacheUse(uncached=prompt.total)
        if self.cache_on:
            use = self._cache.serve(
                prompt,
                partition,
                now=self.clock(),
                min_tokens=ctx.rules.min_cacheable_tokens,
            )
        message["usage"].update(use.usage())
        message["usage"]["service_tier"] = tier
        opted, previous = asked(ctx.body)
        if opted:
            if previous is not None:
                found = self._fingerprints.get((partition, previous))
                message["diagnostics"] = diagnose(found, prompt)
            self._fingerprints[partition, message["id"]] = prompt
