"""One conversation, moved across the doors to Claude: AWS, Bedrock, Vertex AI, Google Cloud.

The stored turns do not depend on the door, so a conversation started on one door
goes on through another. Offline (the default here), each door is conversa's fake
standing in for that platform: SigV4 checked with botocore, Bedrock's event-stream
frames, Google bearer tokens. Live, pick one door and give it its environment:

    python examples/doors.py                      # offline, every door in turn
    python examples/doors.py --door bedrock       # live: AWS_REGION and AWS credentials
    python examples/doors.py --door vertex        # live: CLOUD_ML_REGION, ANTHROPIC_VERTEX_PROJECT_ID
    python examples/doors.py --door aws           # live: AWS_REGION, ANTHROPIC_AWS_WORKSPACE_ID
    python examples/doors.py --door google-cloud  # live: ANTHROPIC_GOOGLE_CLOUD_PROJECT, ..._WORKSPACE_ID

Needs ``pip install "conversa-state[aws,vertex]"``.
"""

from __future__ import annotations

import sys

from conversa import Client, Conversation, MemoryStore
from conversa.testing import FakeMessagesAPI

#: The model as each door spells it; the conversation keeps the first spelling,
#: and "the model changed" compares canonical ids, so these count as one model.
MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "aws": "claude-sonnet-4-5",
    "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "vertex": "claude-sonnet-4-5@20250929",
    "google-cloud": "claude-sonnet-4-5",
}


def offline_clients() -> dict[str, Client]:
    """A client per door, each wired to the fake serving as that platform."""
    fake = FakeMessagesAPI()
    aws, bedrock = fake.aws(region="us-west-2"), fake.bedrock(region="us-east-1")
    vertex, google = fake.vertex(region="us-east5"), fake.google_cloud()
    return {
        "aws": Client.aws(
            region=aws.region,
            workspace_id=aws.workspace_id,
            aws_access_key=aws.aws_access_key,
            aws_secret_key=aws.aws_secret_key,
            aws_session_token=aws.aws_session_token,
            transport=aws,
        ),
        "bedrock": Client.bedrock(
            region=bedrock.region,
            aws_access_key=bedrock.aws_access_key,
            aws_secret_key=bedrock.aws_secret_key,
            aws_session_token=bedrock.aws_session_token,
            transport=bedrock,
        ),
        "vertex": Client.vertex(
            region=vertex.region,
            project_id=vertex.project_id,
            access_token=vertex.access_token,
            transport=vertex,
        ),
        "google-cloud": Client.google_cloud(
            project_id=google.project_id,
            workspace_id=google.workspace_id,
            access_token=google.access_token,
            transport=google,
        ),
    }


def live_client(door: str) -> Client:
    """The door's client, configured from the environment."""
    make = {
        "aws": Client.aws,
        "bedrock": Client.bedrock,
        "vertex": Client.vertex,
        "google-cloud": Client.google_cloud,
    }[door]
    return make()


def main(argv: list[str]) -> int:
    """Hold one conversation across the doors (offline) or through one (live)."""
    door = argv[argv.index("--door") + 1] if "--door" in argv else None
    clients = offline_clients() if door is None else {door: live_client(door)}
    store = MemoryStore()
    first = next(iter(clients))
    conv = Conversation.create(
        store, client=clients[first], model=MODELS[first], max_tokens=512
    )
    for name, client in clients.items():
        # The same stored conversation, through another door (and its spelling).
        conv = Conversation.load(store, conv.id, client=client)
        conv.set_model(MODELS[name])
        reply = conv.send(f"Hello through the {name} door.")
        print(f"user:      Hello through the {name} door.\nassistant: {reply.text}\n")
    with conv.stream("And streamed?") as stream:
        print("assistant (streamed): ", end="")
        for text in stream:
            print(text, end="", flush=True)
    print(
        f"\n\n{len(conv.turns())} turns stored, one conversation, {len(clients)} doors"
    )
    for client in clients.values():
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
