"""The pure core: normalization, the API's rules, tokens, window, cache, prices,
request building and reply folding, and `plan`, the one door the flows use. No I/O."""
