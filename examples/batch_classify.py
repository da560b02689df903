"""Bulk classification with Message Batches: many conversations, one batch, half price.

Each support ticket becomes a conversation with one pending user turn. `Batches`
sends them all as one Message Batch (`submit`), polls it with a progress callback
(`wait`), and folds each result back into its conversation as the assistant turn
(`collect`; collecting twice writes nothing twice). Batch calls cost 50% of live ones;
the API may take up to 24 hours, usually minutes.

    python examples/batch_classify.py            # live with ANTHROPIC_API_KEY, else the fake
    python examples/batch_classify.py --offline  # always the fake
    python examples/batch_classify.py --db tickets.db
"""

from __future__ import annotations

import os
import sys

from conversa import Batches, Client, Conversation, SQLiteStore
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-haiku-4-5"
SYSTEM = (
    "Classify the support ticket. Answer with exactly one word: "
    "damaged, late, billing or other."
)
TICKETS = {
    "T-1": "The kettle arrived with a cracked lid.",
    "T-2": "My order is two weeks late.",
    "T-3": "I was charged twice for one teapot.",
    "T-4": "Do you sell gift cards?",
}


def make_client(*, offline: bool) -> Client:
    """A live client when a key is set, else the fake with the labels scripted."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return Client()
    fake = FakeMessagesAPI(batch_polls=2)  # "in_progress" twice, then ended
    fake.script(
        *(reply.text(label) for label in ("damaged", "late", "billing", "other"))
    )
    return Client(api_key="sk-offline", transport=fake)


def main(argv: list[str]) -> int:
    """Classify the tickets in one batch and print each label."""
    offline = "--offline" in argv
    db = argv[argv.index("--db") + 1] if "--db" in argv else "batch_classify.db"
    with make_client(offline=offline) as client, SQLiteStore(db) as store:
        ids = {}
        for ticket, text in TICKETS.items():
            conv = Conversation.create(
                store,
                client=client,
                model=MODEL,
                system=SYSTEM,
                metadata={"ticket": ticket},
                max_tokens=5,
            )
            conv.add("user", text)  # stored, not sent: the batch sends it
            ids[conv.id] = ticket

        batches = Batches(client, store)
        job = batches.submit(ids)
        noun = "batch" if len(job.batch_ids) == 1 else "batches"
        print(f"submitted {len(ids)} requests as {noun} {', '.join(job.batch_ids)}")
        batches.wait(
            job,
            poll_interval=0 if offline else 30,
            on_progress=lambda s: print(f"  {s.processing_status}: {s.request_counts}"),
        )
        report = batches.collect(job)
        for outcome in sorted(report.outcomes, key=lambda o: ids[o.conversation_id]):
            label = outcome.turn.text if outcome.turn else f"({outcome.result})"
            print(f"assistant [{ids[outcome.conversation_id]}]: {label}")
        again = batches.collect(job)
        print(f"collected again: {len(again.appended)} new replies (nothing twice)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
