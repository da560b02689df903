"""A support-desk backend: an HTTP service serving many concurrent chat sessions.

Conversations live in PostgreSQL (`PostgresStore`), so any number of workers can
serve the same sessions; every handler is async (`AsyncConversation` on one shared
`AsyncClient`). The endpoints:

    POST /sessions                 create a session; the owner comes from X-Owner
    POST /sessions/{id}/messages   {"text": ...} -> the assistant's reply; an
                                   Idempotency-Key header becomes the turn_id, so a
                                   retried request stores nothing twice and gets
                                   the same reply without a second API call
    GET  /sessions/{id}            the transcript

A session is visible only to its owner (anyone else gets 404). The web framework is
Starlette, served by uvicorn: Starlette is small, async-native, well maintained and
is what FastAPI is built on; its only dependency, anyio, conversa already uses. Both
come with the `examples` extra: `pip install 'conversa-state[postgres,examples]'`.

    python examples/support_desk.py --offline  # in-process demo against the fake
    python examples/support_desk.py            # the same demo, live with ANTHROPIC_API_KEY
    python examples/support_desk.py --serve --port 8000   # a real server
    python examples/support_desk.py --store postgresql://user@host/db ...

The demo runs the app in-process (httpx's ASGITransport, no port) and drives a few
customers' sessions concurrently. The store URL is --store, else
CONVERSA_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test; each
run uses owners of its own and deletes its sessions at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conversa import (
    APIError,
    AsyncClient,
    AsyncConversation,
    ConversationBusyError,
    ConversationNotFoundError,
    PostgresStore,
    StoreConfigError,
    StoreUnavailableError,
    TurnIdConflictError,
)
from conversa.testing import FakeMessagesAPI

MODEL = "claude-sonnet-4-6"
SYSTEM = "You are the support desk of an online shop. Answer briefly."
DEFAULT_STORE = "postgresql://postgres@127.0.0.1:5432/test"


def create_app(store: PostgresStore, client: AsyncClient) -> Starlette:
    """The ASGI app; the caller owns (opens and closes) the store and the client."""

    def owner_of(request: Request) -> str:
        owner = request.headers.get("x-owner", "").strip()
        if not owner:
            raise HTTPException(400, "the X-Owner header is required")
        return owner

    async def session(request: Request) -> AsyncConversation:
        """The session named in the path, if the caller owns it."""
        session_id = request.path_params["id"]
        try:
            record = await store.aget(session_id)
        except ConversationNotFoundError:
            record = None
        if record is None or record.owner != owner_of(request):
            raise HTTPException(404, "no such session")
        return AsyncConversation(store, session_id, client=client)

    async def create_session(request: Request) -> JSONResponse:
        conv = await AsyncConversation.create(
            store,
            client=client,
            model=MODEL,
            system=SYSTEM,
            owner=owner_of(request),
            max_tokens=1024,
        )
        return JSONResponse({"id": conv.id}, status_code=201)

    async def send_message(request: Request) -> JSONResponse:
        conv = await session(request)
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(400, 'send {"text": "..."}')
        try:
            turn = await conv.send(text, turn_id=request.headers.get("idempotency-key"))
        except TurnIdConflictError as exc:
            raise HTTPException(422, "Idempotency-Key reused for another text") from exc
        except ConversationBusyError as exc:
            raise HTTPException(409, "this session is busy; retry shortly") from exc
        except APIError as exc:  # stored user turn stays pending; a retry resends it
            raise HTTPException(502, f"the model call failed: {exc}") from exc
        return JSONResponse({"role": "assistant", "text": turn.text, "seq": turn.seq})

    async def transcript(request: Request) -> JSONResponse:
        conv = await session(request)
        turns = [
            {"seq": t.seq, "role": t.role, "text": t.text} for t in await conv.turns()
        ]
        return JSONResponse({"id": conv.id, "turns": turns})

    return Starlette(
        routes=[
            Route("/sessions", create_session, methods=["POST"]),
            Route("/sessions/{id}/messages", send_message, methods=["POST"]),
            Route("/sessions/{id}", transcript, methods=["GET"]),
        ]
    )


async def customer(
    http: httpx.AsyncClient, owner: str, questions: list[str]
) -> tuple[str, list[str]]:
    """One customer's session: create it, ask each question; return id and log."""
    headers = {"X-Owner": owner}
    created = await http.post("/sessions", headers=headers)
    session_id = created.raise_for_status().json()["id"]
    log = []
    for n, question in enumerate(questions):
        key = {"Idempotency-Key": f"{owner}-{n}"}
        response = await http.post(
            f"/sessions/{session_id}/messages",
            headers=headers | key,
            json={"text": question},
        )
        log += [f"user:      {question}", f"assistant: {response.json()['text']}"]
    return session_id, log


async def demo(http: httpx.AsyncClient, store: PostgresStore) -> None:
    """Three customers at once, a retried request, and the ownership check."""
    run = uuid.uuid4().hex[:8]
    questions = {
        f"ana-{run}": ["Where is order A1042?", "Can you send it express?"],
        f"ben-{run}": ["How do I return a teapot?"],
        f"chloe-{run}": ["Do you ship to Norway?", "And to Iceland?", "Thanks!"],
    }
    results = await asyncio.gather(
        *(customer(http, owner, qs) for owner, qs in questions.items())
    )
    sessions = {owner: sid for owner, (sid, _) in zip(questions, results, strict=True)}
    for owner, (session_id, log) in zip(questions, results, strict=True):
        print(f"--- {owner} (session {session_id})")
        print("\n".join(log))

    # A client that timed out retries with the same Idempotency-Key: same reply,
    # nothing stored twice.
    ana = f"ana-{run}"
    headers = {"X-Owner": ana, "Idempotency-Key": f"{ana}-1"}
    again = await http.post(
        f"/sessions/{sessions[ana]}/messages",
        headers=headers,
        json={"text": questions[ana][1]},
    )
    print(f"--- {ana} retries her last request\nassistant: {again.json()['text']}")
    shown = await http.get(f"/sessions/{sessions[ana]}", headers={"X-Owner": ana})
    print(f"transcript: {len(shown.json()['turns'])} turns; the retry stored nothing")

    stranger = await http.get(f"/sessions/{sessions[ana]}", headers={"X-Owner": "eve"})
    print(f"someone else asking for it: HTTP {stranger.status_code}")

    for session_id in sessions.values():
        await store.adelete(session_id)


def make_client(*, offline: bool) -> AsyncClient:
    """A live client when a key is set, else one on the fake."""
    if not offline and os.environ.get("ANTHROPIC_API_KEY"):
        return AsyncClient()
    return AsyncClient(api_key="sk-offline", transport=FakeMessagesAPI())


async def amain(argv: list[str]) -> int:
    """Serve (--serve) or run the in-process demo."""

    def option(name: str, default: str) -> str:
        return argv[argv.index(name) + 1] if name in argv else default

    url = option("--store", os.environ.get("CONVERSA_TEST_POSTGRES_URL", DEFAULT_STORE))
    async with (
        make_client(offline="--offline" in argv) as client,
        PostgresStore(url) as store,
    ):
        app = create_app(store, client)
        if "--serve" in argv:
            port = int(option("--port", "8000"))
            config = uvicorn.Config(app, host="127.0.0.1", port=port)
            await uvicorn.Server(config).serve()
            return 0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://support-desk"
        ) as http:
            await demo(http, store)
    return 0


def main(argv: list[str]) -> int:
    """Run `amain` on asyncio; a store it cannot open is one line, exit code 1."""
    try:
        return asyncio.run(amain(argv))
    except (StoreUnavailableError, StoreConfigError) as exc:
        detail = " ".join(str(exc).split())  # the driver's message spans lines
        print(
            f"support_desk: {detail} (start PostgreSQL and create the database, or name "
            "another with --store postgresql://user@host/db)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
