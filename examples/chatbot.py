"""A terminal chatbot whose conversation lives in a SQLite file, with streamed replies.

Type a line, read the reply as it is generated; `/new` starts a fresh conversation,
`/quit` (or end of input) leaves. The conversation is kept in chatbot.db, so the next
run picks up where this one stopped.

    python examples/chatbot.py            # live with ANTHROPIC_API_KEY, else the fake
    python examples/chatbot.py --offline  # always the fake
    python examples/chatbot.py --db chats.db

With --offline and no terminal on stdin (a test, a pipe) it plays a few scripted
turns instead of reading input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from conversa import Client, Conversation, SQLiteStore
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-5"
OWNER = "chatbot"
SCRIPT = (
    ("Hi! Can you recommend a book for a long train ride?", "Try *The Martian*."),
    ("Something less technical?", "Then *A Gentleman in Moscow*: slow and warm."),
    ("Thanks!", "Enjoy the ride!"),
)


def make_client(*, offline: bool, scripted: bool) -> Client:
    """A live client when a key is set, else one on the fake (scripted for the demo)."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return Client()
    fake = FakeMessagesAPI()
    if scripted:
        fake.script(*(reply.text(answer) for _, answer in SCRIPT))
    return Client(api_key="sk-offline", transport=fake)


def user_lines(*, scripted: bool) -> Iterable[str]:
    """What the user types: stdin, or the scripted lines (echoed as if typed)."""
    if scripted:
        for line, _ in SCRIPT:
            print(f"you: {line}")
            yield line
        return
    print("you: ", end="", flush=True)
    for line in sys.stdin:
        yield line.rstrip("\n")
        print("you: ", end="", flush=True)
    print()  # end of input: leave the prompt line


def new_conversation(store: SQLiteStore, client: Client) -> Conversation:
    """A fresh conversation for this chatbot."""
    return Conversation.create(
        store,
        client=client,
        model=MODEL,
        system="You are a friendly, brief assistant.",
        owner=OWNER,
        max_tokens=1024,
    )


def main(argv: list[str]) -> int:
    """Chat until /quit or end of input."""
    offline = "--offline" in argv
    db = argv[argv.index("--db") + 1] if "--db" in argv else "chatbot.db"
    scripted = offline and not sys.stdin.isatty()
    with (
        make_client(offline=offline, scripted=scripted) as client,
        SQLiteStore(db) as store,
    ):
        latest = store.list(owner=OWNER, limit=1).items
        if latest and not scripted:
            conv = Conversation.load(store, latest[0].id, client=client)
            print(f"(continuing conversation {conv.id}: {len(conv.turns())} turns)")
        else:
            conv = new_conversation(store, client)
        for line in user_lines(scripted=scripted):
            if line.strip() == "/quit":
                break
            if line.strip() == "/new":
                conv = new_conversation(store, client)
                print(f"(new conversation {conv.id})")
                continue
            if not line.strip():
                continue
            with conv.stream(line) as stream:
                print("assistant: ", end="", flush=True)
                for text in stream:
                    print(text, end="", flush=True)
            print()
        print(f"(conversation {conv.id} is stored in {db})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
