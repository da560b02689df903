"""A tool-using agent: plain Python functions as tools, run by `Conversation.run`.

`@tool` turns a typed, documented function into a tool (its JSON Schema comes from
the type hints, its descriptions from the docstring). `run()` sends the request,
runs each tool the model asks for, sends the results back, and repeats until the
model answers; every step is stored as it happens. The steps are then printed from
the stored turns. The "shop" is an in-memory dict.

    python examples/agent.py            # live with ANTHROPIC_API_KEY, else the fake
    python examples/agent.py --offline  # always the fake, scripted to call the tools
"""

from __future__ import annotations

import json
import os
import sys

from conversa import (
    Client,
    Conversation,
    MemoryStore,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    tool,
)
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-6"
ORDERS: dict[str, dict[str, object]] = {
    "A1042": {"item": "kettle", "price": 39.90, "status": "lost in transit"},
    "A1043": {"item": "teapot", "price": 24.50, "status": "delivered"},
}


@tool
def lookup_order(order_id: str) -> dict[str, object]:
    """Look up an order by its id.

    Args:
        order_id: the order id, like "A1042".
    """
    if order_id not in ORDERS:
        msg = f"no order {order_id}"
        raise LookupError(msg)  # the model gets "LookupError: no order ..."
    return {"order_id": order_id, **ORDERS[order_id]}


@tool
def refund_order(order_id: str, reason: str) -> dict[str, object]:
    """Refund an order in full. Only orders that were not delivered can be refunded.

    Args:
        order_id: the order id.
        reason: a short reason, kept with the refund.
    """
    order = ORDERS[order_id]
    if order["status"] == "delivered":
        msg = f"order {order_id} was delivered; it cannot be refunded"
        raise ValueError(msg)
    order["status"] = "refunded"
    return {"order_id": order_id, "refunded": order["price"], "reason": reason}


def make_client(*, offline: bool) -> Client:
    """A live client when a key is set, else the fake scripted to use both tools."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return Client()
    fake = FakeMessagesAPI()
    fake.script(
        reply.tool_use("lookup_order", {"order_id": "A1042"}, text="Let me check."),
        reply.tool_use("refund_order", {"order_id": "A1042", "reason": "lost"}),
        reply.text("Your kettle (A1042) was lost, so I refunded the 39.90 in full."),
    )
    return Client(api_key="sk-offline", transport=fake)


def main(argv: list[str]) -> int:
    """Ask the agent to sort out a lost order, then print every stored step."""
    offline = "--offline" in argv
    with make_client(offline=offline) as client:
        conv = Conversation.create(
            MemoryStore(),
            client=client,
            model=MODEL,
            system="You are a support agent. Use the tools; refund lost orders.",
            max_tokens=1024,
        )
        final = conv.run(
            "My order A1042 never arrived. Can I get my money back?",
            tools=[lookup_order, refund_order],
            max_steps=6,
        )
        for turn in conv.turns():
            for block in turn.blocks:
                if isinstance(block, TextBlock):
                    print(f"{turn.role}: {block.text}")
                elif isinstance(block, ToolUseBlock):
                    print(f"  -> {block.name}({json.dumps(dict(block.input))})")
                elif isinstance(block, ToolResultBlock):
                    mark = "error" if block.is_error else "result"
                    print(f"  <- {mark}: {block.content}")
        print(f"\nfinal answer ({final.stop_reason}): {final.text}")
        print(f"orders now: {json.dumps(ORDERS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
