"""JSON output two ways: prefill where the model allows it, a JSON schema where not.

1. Claude Sonnet 4.5 accepts a prefill: send with `prefill="{"` and the reply
   continues from "{"; the stored turn is "{" plus the continuation, valid JSON.
2. Claude Sonnet 4.6 (and later) rejects prefill. conversa refuses before sending,
   with `PrefillNotSupportedError`; ask for structured output instead:
   `output_config={"format": {"type": "json_schema", "schema": ...}}`.

    python examples/json_output.py            # live with ANTHROPIC_API_KEY, else the fake
    python examples/json_output.py --offline  # always the fake
"""

from __future__ import annotations

import json
import os
import sys

from conversa import Client, Conversation, MemoryStore, PrefillNotSupportedError
from conversa.testing import FakeMessagesAPI, reply

TICKET = "The kettle I ordered arrived with a cracked lid. I'd like a replacement."
SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["damaged", "late", "billing", "other"]},
        "wants": {"type": "string", "enum": ["refund", "replacement", "info"]},
        "urgent": {"type": "boolean"},
    },
    "required": ["category", "wants", "urgent"],
    "additionalProperties": False,
}
ASK = f"Classify this ticket as JSON with category, wants and urgent:\n\n{TICKET}"


def make_client(*, offline: bool) -> Client:
    """A live client when a key is set, else the fake with the two answers scripted."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return Client()
    fake = FakeMessagesAPI()
    fake.script(
        # The prefill "{" is not repeated: the model continues after it.
        reply.text('"category": "damaged", "wants": "replacement", "urgent": false}'),
        reply.text('{"category": "damaged", "wants": "replacement", "urgent": false}'),
    )
    return Client(api_key="sk-offline", transport=fake)


def main(argv: list[str]) -> int:
    """Get the same classification as JSON from both models."""
    offline = "--offline" in argv
    store = MemoryStore()
    with make_client(offline=offline) as client:
        # 1. Prefill, on a model that supports it.
        conv = Conversation.create(
            store, client=client, model="claude-sonnet-4-5", max_tokens=256
        )
        answer = conv.send(ASK, prefill="{")
        print(f"assistant (claude-sonnet-4-5, prefill): {answer.text}")
        print(f"  parsed: {json.loads(answer.text)}")

        # 2. On Claude 4.6+ a prefill is refused before anything is sent or stored...
        conv = Conversation.create(
            store, client=client, model="claude-sonnet-4-6", max_tokens=256
        )
        try:
            conv.send(ASK, prefill="{")
        except PrefillNotSupportedError as exc:
            print(f"prefill on claude-sonnet-4-6 -> {type(exc).__name__}: {exc}")
        print(f"  turns stored by the refused send: {len(conv.turns())}")

        # ...so ask for the schema instead; the reply is JSON that matches it.
        output_config = {"format": {"type": "json_schema", "schema": SCHEMA}}
        answer = conv.send(ASK, output_config=output_config)
        print(f"assistant (claude-sonnet-4-6, json_schema): {answer.text}")
        print(f"  parsed: {json.loads(answer.text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
