"""The AI request pipeline: one module per phase, run in order by ``run.py``.

``endpoints.py`` lists each AI endpoint with its phases; for the endpoints that
answer from a provider: authenticate → parse → govern → select → dispatch (⇄
relay) → account (always). ``runtime.py`` is what the phases read, compiled once
per config; ``context.py`` is the per-request state they share.
"""
