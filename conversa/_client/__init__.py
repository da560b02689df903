"""The HTTP client: configuration, retries, SSE, the wire format, sync and async."""
