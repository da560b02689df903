"""The fake's prompt cache: writes at breakpoints, reads with a 20-block lookback.

The rules, from the prompt caching docs (https://platform.claude.com/docs/en/build-with-claude/prompt-caching):

* Entries are written only at breakpoints (blocks carrying ``cache_control``, and
  the automatic breakpoint), one per breakpoint, keyed by the hash of the whole
  prefix through that block (see `Prompt`). Entries are kept per partition (API
  key and workspace), as caches are per organization and workspace.
* On read, each breakpoint checks its own block, then walks back block by block,
  20 blocks in all (the breakpoint counts as the first), and stops at the first
  block holding an entry an earlier request wrote. The longest prefix found over
  all breakpoints is read; entries hit are refreshed (a hit by a 1h breakpoint
  makes a 5m entry a 1h one).
* Every breakpoint after the read prefix writes an entry, if its prefix has the
  model's minimum cacheable length; a shorter one silently writes nothing.
* Lifetime: 5 minutes, or 1 hour with ``ttl: "1h"``, measured on the fake's clock
  from the start of the request. A request reads only what earlier requests wrote.

Usage: ``cache_read_input_tokens`` is the read prefix; each written segment,
from the end of the previous one to its breakpoint, is ``cache_creation`` at that
breakpoint's TTL; ``input_tokens`` is the rest, after the last breakpoint that
was read or written. The three add up to the prompt's token count.
"""

from __future__ import annotations

from attrs import define, field, frozen

from ._prompt import TTL_SECONDS, Prompt

__all__ = ["LOOKBACK", "CacheStats", "CacheUse", "Partition", "PromptCache"]

LOOKBACK = 20
Partition = tuple[str, str]


@frozen
class CacheStats:
    """What the fake's prompt cache did so far (`FakeMessagesAPI.cache_stats`).

    Attributes:
        entries: entries alive now, over all API keys and workspaces.
        hits: requests that read a cached prefix.
        misses: requests with a breakpoint that read nothing.
        writes: entries written.
    """

    entries: int
    hits: int
    misses: int
    writes: int


@frozen
class CacheUse:
    """How one request's input tokens split between the cache and the rest."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0
    uncached: int = 0

    def usage(self) -> dict[str, object]:
        """Return the input fields of a Message's ``usage``, in the API's order."""
        return {
            "input_tokens": self.uncached,
            "cache_creation_input_tokens": self.write_5m + self.write_1h,
            "cache_read_input_tokens": self.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.write_5m,
                "ephemeral_1h_input_tokens": self.write_1h,
            },
        }


@define
class _Entry:
    expires: float
    ttl: float


@define
class PromptCache:
    """Cache entries by partition and prefix hash, with counters for `CacheStats`."""

    _entries: dict[tuple[Partition, bytes], _Entry] = field(factory=dict)
    _hits: int = 0
    _misses: int = 0
    _writes: int = 0

    def _live(self, key: tuple[Partition, bytes], now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= now:
            del self._entries[key]
            return None
        return entry

    def _lookup(
        self, prompt: Prompt, partition: Partition, now: float
    ) -> dict[int, str]:
        # Each breakpoint's longest cached prefix within its lookback window,
        # with the TTL of the breakpoint that found it.
        found: dict[int, str] = {}
        for position, ttl in prompt.breakpoints:
            for back in range(position, max(position - LOOKBACK, -1), -1):
                if self._live((partition, prompt.keys[back]), now) is not None:
                    if found.get(back) != "1h":
                        found[back] = ttl
                    break
        return found

    def serve(
        self, prompt: Prompt, partition: Partition, *, now: float, min_tokens: int
    ) -> CacheUse:
        """Read and write entries for *prompt* at time *now*; return the split."""
        found = self._lookup(prompt, partition, now)
        for back, ttl in found.items():
            entry = self._entries[partition, prompt.keys[back]]
            entry.ttl = max(entry.ttl, TTL_SECONDS[ttl])
            entry.expires = now + entry.ttl
        read_end = max(found, default=-1)
        end = read_end
        written = {"5m": 0, "1h": 0}
        for position, ttl in prompt.breakpoints:
            size = prompt.tokens_through(position)
            if position <= read_end or size < min_tokens:
                continue
            seconds = TTL_SECONDS[ttl]
            self._entries[partition, prompt.keys[position]] = _Entry(
                now + seconds, seconds
            )
            self._writes += 1
            written[ttl] += size - prompt.tokens_through(end)
            end = position
        if found:
            self._hits += 1
        elif prompt.breakpoints:
            self._misses += 1
        return CacheUse(
            read=prompt.tokens_through(read_end),
            write_5m=written["5m"],
            write_1h=written["1h"],
            uncached=prompt.total - prompt.tokens_through(end),
        )

    def stats(self, now: float) -> CacheStats:
        """Return the counters, with the entries still alive at *now*."""
        for key in list(self._entries):
            self._live(key, now)
        return CacheStats(len(self._entries), self._hits, self._misses, self._writes)

    def clear(self) -> None:
        """Forget every entry and counter."""
        self._entries.clear()
        self._hits = self._misses = self._writes = 0
