"""The generic reverse proxy (non-AI routes).

:mod:`.table` compiles ``config.routes`` and ``config.upstreams`` once into a
frozen route table (which ``ferrogate.app`` matches; :mod:`.handler` serves the
proxy routes): matchers (:mod:`.matchers`), header edits with Caddy-style
placeholders (:mod:`.header_ops`, :mod:`.placeholders`), load balancing with
passive health (:mod:`.balancer`). What every proxied request gains on the way
(X-Forwarded-*, X-Request-Id, W3C traceparent) and its serialised head come from
``ferrogate._fastpath.forwarding``; upstream I/O is ``ferrogate._fastpath.pool``.
"""
