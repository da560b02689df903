"""The Markdown transcript: `markdown_transcript` and `conversa export --format markdown`."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conversa import (
    Client,
    Conversation,
    ConversationRecord,
    MemoryStore,
    SQLiteStore,
    Turn,
    Usage,
    markdown_transcript,
)
from conversa._cli.jsonl import write_markdown
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-5"
WHEN = datetime(2026, 12, 5, 9, 30, tzinfo=timezone.utc)


def test_a_small_conversation_reads_as_expected() -> None:
    """Header, system prompt, then each turn with its time, blocks and tokens."""
    record = ConversationRecord(
        "c-1",
        model=MODEL,
        system="Be brief.",
        owner="ann",
        metadata={"topic": "weather"},
        last_seq=4,
        created_at=WHEN,
    )
    turns = [
        Turn("user", "Weather in Paris?", seq=1, created_at=WHEN),
        Turn(
            "assistant",
            [
                {"type": "thinking", "thinking": "Call the tool.", "signature": "s"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
            ],
            seq=2,
            created_at=WHEN,
            model=MODEL,
            usage=Usage(12, 7, 0, 3),
        ),
        Turn(
            "user",
            [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
            seq=3,
            created_at=WHEN,
        ),
        Turn("assistant", "**Sunny.**", seq=4, created_at=WHEN, model=MODEL),
    ]
    assert markdown_transcript(record, turns) == (
        "# Conversation `c-1`\n"
        "\n"
        f"- **Model:** `{MODEL}`\n"
        "- **Owner:** ann\n"
        "- **Created:** 2026-12-05 09:30:00 UTC\n"
        "- **Turns:** 4\n"
        '- **Metadata:** `{"topic": "weather"}`\n'
        "\n"
        "## System\n"
        "\n"
        "Be brief.\n"
        "\n"
        "## User · #1\n\n*2026-12-05 09:30:00 UTC*\n\nWeather in Paris?\n"
        "\n"
        f"## Assistant · #2 · `{MODEL}`\n\n*2026-12-05 09:30:00 UTC*\n\n"
        "<details><summary>Thinking</summary>\n\nCall the tool.\n\n</details>\n\n"
        "**Tool call** `weather` (`toolu_1`):\n\n"
        '```json\n{\n  "city": "Paris"\n}\n```\n\n'
        "*Tokens: in 12 · out 7 · cache write 0 · cache read 3*\n"
        "\n"
        "## User · #3\n\n*2026-12-05 09:30:00 UTC*\n\n"
        "**Tool result** (`toolu_1`):\n\n```\nsunny\n```\n"
        "\n"
        f"## Assistant · #4 · `{MODEL}`\n\n*2026-12-05 09:30:00 UTC*\n\n**Sunny.**\n"
    )


def test_retractions_errors_images_and_fences() -> None:
    """Retractions name what they hide; fences outgrow the backticks they hold."""
    record = ConversationRecord("c-2", model=MODEL, last_seq=4)
    image = {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.png"},
    }
    turns = [
        Turn("user", [image, {"type": "text", "text": "What is it?"}], seq=1),
        Turn("assistant", "A cat.", seq=2, model=MODEL),
        Turn("user", (), seq=3, kind="retraction", flags={"retracts": [1, 2]}),
        Turn(
            "user",
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_9",
                    "content": "```py\nboom\n```",
                    "is_error": True,
                }
            ],
            seq=4,
        ),
    ]
    text = markdown_transcript(record, turns)
    assert "*[image https://example.com/a.png]*" in text
    assert "*#3: retracted #1, #2 (hidden from the replay, still stored)*" in text
    assert "**Tool error** (`toolu_9`):\n\n````\n```py\nboom\n```\n````" in text


@pytest.fixture(name="seeded")
def _seeded(tmp_path: Path) -> tuple[str, str]:
    """A SQLite store URL holding one conversation with a tool round trip."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("weather", {"city": "Paris"}, id="toolu_1"))
    with (
        SQLiteStore(tmp_path / "c.db") as store,
        Client(api_key="sk-test", transport=fake) as client,
    ):
        conv = Conversation.create(
            store, client=client, model=MODEL, system="Be brief."
        )
        conv.send("Weather in Paris?")
        conv.add_tool_results({"toolu_1": "sunny"})
        conv.send("Thanks!")
        return f"sqlite:///{tmp_path / 'c.db'}", conv.id


def test_export_format_markdown_prints_the_transcript(
    seeded: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export --format markdown ID` prints what `markdown_transcript` makes; `-o` writes it."""
    url, cid = seeded
    assert main(["--store", url, "export", "--format", "markdown", cid]) == 0
    out = capsys.readouterr().out
    with SQLiteStore(tmp_path / "c.db") as store:
        assert out == markdown_transcript(store.get(cid), store.read(cid))
    assert out.startswith(f"# Conversation `{cid}`\n")
    assert "**Tool call** `weather` (`toolu_1`):" in out
    target = tmp_path / "chats.md"
    code = main(["--store", url, "export", "--format", "markdown", "-o", str(target)])
    assert code == 0
    assert target.read_text(encoding="utf-8") == out


def test_markdown_is_written_a_page_of_turns_at_a_time() -> None:
    """A long conversation is read in pages and written as the whole transcript."""
    store = MemoryStore()
    conv = Conversation.create(store, model=MODEL)
    conv.add_turns(
        [("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(9)]
    )
    out = io.StringIO()
    write_markdown(store, conv.id, out, page=4)
    assert out.getvalue() == markdown_transcript(conv.record(), conv.turns())
    assert out.getvalue().count("\n## ") == 9
