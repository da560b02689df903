"""The doors to Claude: what each one lacks, its limits, and its API versions (pure).

The same conversation reaches Claude through the first-party API, Claude Platform
on AWS, Amazon Bedrock (InvokeModel, and its newer Messages endpoint), Google Vertex
AI and Claude on Google Cloud. The client speaks each door's wire
(`conversa._client.doors`); this module is what the planner must know about a door
before anything is sent: a `DoorCapabilities` value per door, the 300k output beta,
and the one table of API versions.

Sources: each platform's documentation and the official SDK's platform clients
(docs: how-to/doors.md). Values no platform documents are marked *inferred*; each is one
line to change.
"""

from __future__ import annotations

from attrs import frozen

from .capabilities import (
    TOKENIZER_CLASSIC,
    canonical_model,
    capabilities_for,
    known_model,
)

__all__ = [
    "DOORS",
    "DOOR_NAMES",
    "EXTENDED_OUTPUT_BETA",
    "EXTENDED_OUTPUT_MAX",
    "EXTENDED_OUTPUT_MODELS",
    "FIRST_PARTY",
    "VERSIONS",
    "DoorCapabilities",
    "extended_output_model",
    "rule_version",
    "wire_version",
]

_MB = 1024 * 1024


@frozen(kw_only=True)
class DoorCapabilities:
    """What one door to Claude takes, checked before anything is sent.

    Attributes:
        name: the door's name: "anthropic", "aws", "bedrock", "bedrock-messages",
            "vertex" or "google-cloud".
        batches: whether the Message Batches API is served.
        count_tokens: whether token counting is served (on its own route on
            Bedrock and Vertex).
        automatic_cache: whether a top-level (automatic) ``cache_control`` is
            accepted; conversa's own breakpoints are explicit and go everywhere.
        diagnostics: whether the ``diagnostics`` (cache diagnosis) field is
            accepted; conversa asks for it only where it is.
        betas: whether beta names may be sent at all.
        extended_output: whether the 300k output beta is served (batches only).
        max_request_bytes: the largest request body.
        max_image_bytes: the largest base64 image.
    """

    name: str
    batches: bool = True
    count_tokens: bool = True
    automatic_cache: bool = True
    diagnostics: bool = False
    betas: bool = True
    extended_output: bool = False
    max_request_bytes: int = 32 * _MB
    max_image_bytes: int = 10 * _MB


#: Every door, by name.
DOORS: dict[str, DoorCapabilities] = {
    "anthropic": DoorCapabilities(
        name="anthropic", diagnostics=True, extended_output=True
    ),
    # Anthropic-operated, the first-party surface; no cache diagnostics.
    "aws": DoorCapabilities(name="aws", extended_output=True),
    # InvokeModel: no batches, own CountTokens, no automatic caching, 20 MB;
    # 5 MB images (the direct API's image limit is 10 MB).
    "bedrock": DoorCapabilities(
        name="bedrock",
        batches=False,
        automatic_cache=False,
        max_request_bytes=20 * _MB,
        max_image_bytes=5 * _MB,
    ),
    # The Messages endpoint: no batches, no betas at all; the rest as
    # InvokeModel (inferred).
    "bedrock-messages": DoorCapabilities(
        name="bedrock-messages",
        batches=False,
        automatic_cache=False,
        betas=False,
        max_request_bytes=20 * _MB,
        max_image_bytes=5 * _MB,
    ),
    # Vertex AI: no batches, count-tokens:rawPredict, 30 MB.
    "vertex": DoorCapabilities(
        name="vertex",
        batches=False,
        max_request_bytes=30 * _MB,
        max_image_bytes=5 * _MB,
    ),
    # Claude on Google Cloud: the full first-party API.
    "google-cloud": DoorCapabilities(name="google-cloud"),
}
DOOR_NAMES = tuple(DOORS)
FIRST_PARTY = DOORS["anthropic"]

#: The beta that lets a batch request ask for up to `EXTENDED_OUTPUT_MAX` tokens.
EXTENDED_OUTPUT_BETA = "output-300k-2026-03-24"
EXTENDED_OUTPUT_MAX = 300_000
#: The models the 300k output beta serves (as of 2026-08).
EXTENDED_OUTPUT_MODELS = frozenset(
    {
        "claude-opus-5",
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-opus-4-6",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
    }
)

#: The API version each door sends, by model family, where it is not the
#: client's own ``api_version`` (None: the client's). "legacy" is the models up
#: to Opus 4.6 and Sonnet 4.6, whose Bedrock ids carry a version (`-v1:0`), and any
#: model conversa does not know; "current" is Opus 4.7 and later.
#:
#: - Bedrock InvokeModel, legacy: ``bedrock-2023-05-31``, the value AWS documents
#:   as required; newer docs say 2026-10-21 works on Bedrock only for 4.7 and
#:   later (*inferred* from both; SDK 2.17 sends 2026-10-21 to every model).
#: - Bedrock Messages: ``2023-06-01``, the header value AWS documents (SDK 2.17
#:   sends 2026-10-21).
#: - Vertex AI: ``vertex-2023-10-16``, the value Google's pages require (SDK 2.17
#:   sends 2026-10-21, which the versioning page lists as available: *inferred*
#:   that both are accepted).
#:
#: Change a value here and nowhere else.
VERSIONS: dict[tuple[str, str], str | None] = {
    ("bedrock", "legacy"): "bedrock-2023-05-31",
    ("bedrock", "current"): None,
    ("bedrock-messages", "legacy"): "2023-06-01",
    ("bedrock-messages", "current"): "2023-06-01",
    ("vertex", "legacy"): "vertex-2023-10-16",
    ("vertex", "current"): "vertex-2023-10-16",
}

#: The rule set (an ``anthropic-version`` conversa knows) a door's own version
#: string stands for.
_RULES = {"bedrock-2023-05-31": "2023-06-01", "vertex-2023-10-16": "2023-06-01"}


def _family(model: str) -> str:
    if known_model(model) and capabilities_for(model).tokenizer != TOKENIZER_CLASSIC:
        return "current"
    return "legacy"


def wire_version(door: str, model: str, api_version: str) -> str:
    """Return the API version *door* sends for *model* (see `VERSIONS`).

    Args:
        door: the door's name.
        model: the model id as the caller spelled it.
        api_version: the client's own version, used where the table says None.
    """
    value = VERSIONS.get((door, _family(model)))
    return api_version if value is None else value


def rule_version(door: str, model: str, api_version: str) -> str:
    """Return the ``anthropic-version`` whose rules conversa checks on *door*."""
    sent = wire_version(door, model, api_version)
    return _RULES.get(sent, sent)


def extended_output_model(model: str) -> bool:
    """Tell whether the 300k output beta serves *model*."""
    return canonical_model(model) in EXTENDED_OUTPUT_MODELS
