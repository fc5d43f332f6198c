"""What the AI pipeline works with: providers, translation, models and their health.

Map of the package (the request phases that use it live in ``ferrogate/pipeline/``,
which imports this package and is never imported by it):

- ``schemas.py``      the few request fields the gateway decodes (msgspec); the rest stays bytes.
- ``splice.py``       byte-level edits of request bodies (model rename, include_usage).
- ``registry.py``     logical model -> candidates; ``strategies.py`` orders them.
- ``health.py``       circuit breaker, latency EWMA, failure rate per (provider, model).
- ``taxonomy.py``     upstream failure kinds and what the dispatcher does with each.
- ``passthrough.py``  SSE relay for OpenAI-wire upstreams (usage capture, terminal events).
- ``providers/``      one adapter per provider kind behind ``providers/base.py``.
- ``translate/``      Anthropic/Gemini/Responses translation between the providers' wire formats.
"""
