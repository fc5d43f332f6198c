"""The generic reverse proxy (non-AI routes).

``build_router(config, pools, ai_handler=...)`` in :mod:`ferrogate.proxy.router`
compiles ``config.routes`` and ``config.upstreams`` once (:mod:`.table`) into a
frozen route table: matchers (:mod:`.matchers`), header edits with Caddy-style
placeholders (:mod:`.header_ops`, :mod:`.placeholders`), load balancing with
passive health (:mod:`.balancer`), and what every proxied request gains on the
way (:mod:`.forwarding`: X-Forwarded-*, X-Request-Id, W3C traceparent).
Upstream I/O is ``ferrogate._fastpath.pool``; errors render through
``ferrogate.errors.render``.
"""
