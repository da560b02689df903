"""The doors to Claude besides the first-party API: an httpx ``Auth`` and a wire adapter each.

- `route`: where a first-party call goes on a door, and its body and headers there.
- `aws`: SigV4 signing with botocore, and AWS's credential chain.
- `google`: Google OAuth bearer tokens with google-auth, refreshed when due.
- `eventstream`: Bedrock's AWS event-stream replies as stream events; AWS error names.
- `setup`: a door's config and auth from the arguments and the environment.

What a door takes and lacks, its limits and its API versions are values the planner
reads too, so they live in `conversa._values.doors`.
"""
