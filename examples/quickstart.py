"""A multi-turn conversation with a prefill, kept in a SQLite file.

Runs offline against conversa's fake of the Messages API, or live when
ANTHROPIC_API_KEY is set; its first line says which. The conversation lives in
quickstart.db (beside where you run it); run it again and the second run loads the
stored conversation and goes on from where the first stopped, its exchanges
numbered on from the stored ones:

    python examples/quickstart.py            # offline, or live with ANTHROPIC_API_KEY
    python examples/quickstart.py --offline  # always the fake
    python examples/quickstart.py --db chats.db
"""

from __future__ import annotations

import json
import os
import sys

from conversa import Client, Conversation, SQLiteStore
from conversa.testing import FakeMessagesAPI, reply

# Prefill works on Claude Sonnet 4.5; Claude 4.6 and later reject it.
MODEL = "claude-sonnet-4-5"
FIRST_VISIT: tuple[str, ...] = (
    "My order #1042 hasn't arrived.",
    "It was due last Tuesday.",
)
NEXT_VISIT: tuple[str, ...] = ("Hello again: any news on order #1042?",)


class Offline:
    """conversa's fake API, answering each message with its number in the conversation."""

    def __init__(self) -> None:
        self.fake = FakeMessagesAPI()

    def answer(self, number: int, question: str, *, json_reply: bool = False) -> None:
        """Script the fake's next reply (a real model needs no such thing)."""
        text = f"(offline reply #{number} to: {question})"
        self.fake.script(
            reply.text(json.dumps({"reply": text}) if json_reply else text)
        )


def main(argv: list[str]) -> int:
    """Hold a short support conversation and print it."""
    live = "--offline" not in argv and bool(os.environ.get("ANTHROPIC_API_KEY"))
    db = argv[argv.index("--db") + 1] if "--db" in argv else "quickstart.db"
    offline = None if live else Offline()
    if offline is None:
        client = Client()
        print(f"live: talking to the Anthropic API ({MODEL})\n")
    else:
        client = Client(api_key="sk-offline", transport=offline.fake)
        print(
            "offline: conversa's fake Messages API answers (set ANTHROPIC_API_KEY "
            "and leave out --offline to talk to Claude)\n"
        )
    with client, SQLiteStore(db) as store:
        page = store.list(owner="quickstart", limit=1)
        if page.items:
            conv = Conversation.load(store, page.items[0].id, client=client)
            print(f"(continuing conversation {conv.id} from {db})\n")
            lines = NEXT_VISIT
        else:
            conv = Conversation.create(
                store,
                client=client,
                model=MODEL,
                system="You are a concise support agent for an online shop.",
                owner="quickstart",
                max_tokens=512,
            )
            lines = FIRST_VISIT
        # Exchanges are numbered on from those stored: a second run goes on counting.
        number = sum(1 for turn in conv.turns() if turn.role == "assistant")
        for line in lines:
            number += 1
            if offline:
                offline.answer(number, line)
            answer = conv.send(line)
            print(f"#{number} user:      {line}\n#{number} assistant: {answer.text}\n")

        # The reply continues from "{", and the stored turn holds "{" + continuation.
        question = "Summarize the case as a JSON object."
        number += 1
        if offline:
            offline.answer(number, question, json_reply=True)
        answer = conv.send(question, prefill="{")
        print(f"#{number} assistant (JSON via prefill): {answer.text}")
        json.loads(answer.text)

        # Streaming: text as it is generated; the stored turn is the same as send()'s.
        question = "Thanks! Anything else I should do?"
        number += 1
        if offline:
            offline.answer(number, question)
        with conv.stream(question) as stream:
            print(f"#{number} assistant (streamed): ", end="")
            for text in stream:
                print(text, end="", flush=True)
        print()

        totals = conv.usage()
        print(
            f"\n{len(conv.turns())} turns stored in {db}, conversation {conv.id}; "
            f"{totals.calls} calls, {totals.input_tokens} input and "
            f"{totals.output_tokens} output tokens"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
