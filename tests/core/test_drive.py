"""`drive`, the sync effect loop every store call runs, against `Pump`, its twin
for a reader: the same effects, results, thrown errors and closing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conversa._drive import Feed, Flow, Pump, drive


class Items(Feed[str]):
    """A feed of two items; the flow is sent what they were."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __iter__(self) -> Iterator[str]:
        for item in ("a", "b"):
            self.log.append(f"item {item}")
            yield item

    def result(self) -> Any:
        return "read"


def story(log: list[str]) -> Flow[str]:
    """Yields an effect, one that fails (handled), a feed, then returns."""
    try:
        first = yield "one"
        log.append(f"got {first}")
        try:
            yield "fails"
        except ValueError as exc:
            log.append(f"caught {exc}")
        fed = yield "feed"
        log.append(f"fed {fed}")
        last = yield "two"
        return f"done {last}"
    finally:
        log.append("closed")


def do(log: list[str]) -> Any:
    def perform(effect: str) -> Any:
        log.append(f"do {effect}")
        if effect == "fails":
            msg = "no"
            raise ValueError(msg)
        if effect == "feed":
            return Items(log)
        return effect.upper()

    return perform


def test_drive_runs_a_flow_as_a_pump_nobody_reads_does() -> None:
    driven: list[str] = []
    assert drive(story(driven), do(driven)) == "done TWO"
    pumped: list[str] = []
    pump: Pump[str, str] = Pump(story(pumped), do(pumped))
    assert list(pump) == ["a", "b"]
    assert pump.result == "done TWO"
    assert driven == pumped
    assert driven[-1] == "closed"
    assert "fed read" in driven


def test_drive_closes_the_flow_when_the_effect_raises_past_it() -> None:
    log: list[str] = []

    def interrupt(effect: str) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(story(log), interrupt)
    assert log == ["closed"]


def test_an_error_the_flow_does_not_handle_comes_out_of_drive() -> None:
    def flow() -> Flow[None]:
        yield "fails"

    with pytest.raises(ValueError, match="no"):
        drive(flow(), do([]))
