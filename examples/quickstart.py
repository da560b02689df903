"""A multi-turn conversation with a prefill, kept in a SQLite file.

Runs offline against conversa's fake of the Messages API, or live when
ANTHROPIC_API_KEY is set. The conversation lives in quickstart.db (beside where you
run it); run it twice and the second run loads the stored conversation and goes on:

    python examples/quickstart.py            # offline, or live with ANTHROPIC_API_KEY
    python examples/quickstart.py --offline  # always the fake
    python examples/quickstart.py --db chats.db
"""

from __future__ import annotations

import json
import os
import sys

from conversa import Client, Conversation, SQLiteStore
from conversa.testing import FakeMessagesAPI

# Prefill works on Claude Sonnet 4.5; Claude 4.6 and later reject it.
MODEL = "claude-sonnet-4-5"


def make_client(*, offline: bool) -> Client:
    """A live client when a key is set, else one wired to the fake API."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return Client()
    return Client(api_key="sk-offline", transport=FakeMessagesAPI())


def main(argv: list[str]) -> int:
    """Hold a short support conversation and print it."""
    offline = "--offline" in argv
    db = argv[argv.index("--db") + 1] if "--db" in argv else "quickstart.db"
    with make_client(offline=offline) as client, SQLiteStore(db) as store:
        page = store.list(owner="quickstart", limit=1)
        if page.items:
            conv = Conversation.load(store, page.items[0].id, client=client)
            print(f"(continuing conversation {conv.id} from {db})\n")
        else:
            conv = Conversation.create(
                store,
                client=client,
                model=MODEL,
                system="You are a concise support agent for an online shop.",
                owner="quickstart",
                max_tokens=512,
            )
        for line in ("My order #1042 hasn't arrived.", "It was due last Tuesday."):
            reply = conv.send(line)
            print(f"user:      {line}\nassistant: {reply.text}\n")

        # The reply continues from "{", and the stored turn holds "{" + continuation.
        reply = conv.send("Summarize the case as a JSON object.", prefill="{")
        print(f"assistant (JSON via prefill): {reply.text}")
        json.loads(reply.text)

        # Streaming: text as it is generated; the stored turn is the same as send()'s.
        with conv.stream("Thanks! Anything else I should do?") as stream:
            print("assistant (streamed): ", end="")
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
