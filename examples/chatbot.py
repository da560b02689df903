"""A terminal chatbot whose conversation lives in a SQLite file, with streamed replies.

Type a line, read the reply as it is generated; `/new` starts a fresh conversation,
`/quit` (or end of input) leaves. The conversation is kept in chatbot.db, so the next
run picks up where this one stopped. Lines can come from a pipe as well as from a
terminal (then no prompt is printed):

    python examples/chatbot.py            # live with ANTHROPIC_API_KEY, else the fake
    python examples/chatbot.py --offline  # always the fake
    python examples/chatbot.py --db chats.db
    printf 'Hi!\\nRecommend a book?\\n' | python examples/chatbot.py --offline

Offline, conversa's fake Messages API answers each message with its number in the
conversation, so a resumed conversation goes on counting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from conversa import Client, Conversation, SQLiteStore, Store
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-5"
OWNER = "chatbot"


def user_lines() -> Iterator[str]:
    """What the user types: lines of stdin, prompted only on a terminal."""
    prompt = "you: " if sys.stdin.isatty() else ""
    while True:
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            if prompt:
                print()  # end of input: leave the prompt line
            return
        yield line.rstrip("\n")


def new_conversation(store: Store, client: Client) -> Conversation:
    """A fresh conversation for this chatbot."""
    return Conversation.create(
        store,
        client=client,
        model=MODEL,
        system="You are a friendly, brief assistant.",
        owner=OWNER,
        max_tokens=1024,
    )


def replies_so_far(conv: Conversation) -> int:
    """How many replies the conversation holds (the offline answers count on)."""
    return sum(1 for turn in conv.turns() if turn.role == "assistant")


def main(argv: list[str]) -> int:
    """Chat until /quit or end of input."""
    live = "--offline" not in argv and bool(os.environ.get("ANTHROPIC_API_KEY"))
    db = argv[argv.index("--db") + 1] if "--db" in argv else "chatbot.db"
    fake = None if live else FakeMessagesAPI()
    client = Client() if fake is None else Client(api_key="sk-offline", transport=fake)
    print(
        f"(live: the Anthropic API, {MODEL})"
        if fake is None
        else "(offline: conversa's fake Messages API answers)"
    )
    with client, SQLiteStore(db) as store:
        # The newest conversation goes on; a new one is stored at its first message.
        latest = store.list(owner=OWNER, limit=1).items
        conv = None
        if latest:
            conv = Conversation.load(store, latest[0].id, client=client)
            print(f"(continuing conversation {conv.id}: {len(conv.turns())} turns)")
        number = 0 if conv is None else replies_so_far(conv)
        for line in user_lines():
            if line.strip() == "/quit":
                break
            if line.strip() == "/new":
                conv, number = None, 0
                print("(a new conversation starts with your next message)")
                continue
            if not line.strip():
                continue
            if conv is None:
                conv = new_conversation(store, client)
                print(f"(new conversation {conv.id})")
            number += 1
            if fake is not None:  # a real model needs no script
                fake.script(reply.text(f"(offline reply #{number} to: {line.strip()})"))
            with conv.stream(line) as stream:
                print("assistant: ", end="", flush=True)
                for text in stream:
                    print(text, end="", flush=True)
            print()
        if conv is not None:
            print(f"(conversation {conv.id} is stored in {db})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
