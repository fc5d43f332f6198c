"""The AI gateway: OpenAI-compatible endpoints in front of many providers.

Map of the package (the request phases live in ``ferrogate/pipeline/``):

- ``handler.py``      ``build_ai_handler(config, pools, state)``: the HTTP surface.
- ``runtime.py``      everything compiled once per config (registry, adapters, keys, health).
- ``schemas.py``      the few request fields the gateway decodes (msgspec); the rest stays bytes.
- ``splice.py``       byte-level edits of request bodies (model rename, include_usage).
- ``registry.py``     logical model -> candidates; ``strategies.py`` orders them.
- ``health.py``       circuit breaker, latency EWMA, failure rate per (provider, model).
- ``taxonomy.py``     upstream failure kinds and what the dispatcher does with each.
- ``passthrough.py``  SSE relay for OpenAI-wire upstreams (usage capture, terminal events).
- ``providers/``      one adapter per provider kind behind ``providers/base.py``.
- ``translate/``      Anthropic/Gemini/Responses translation (the translation work).
"""
