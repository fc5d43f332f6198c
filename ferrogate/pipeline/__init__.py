"""The AI request pipeline, one module per phase (``run.py`` runs them in order):

context (per-request state) → authenticate → parse → select → dispatch ⇄ relay → account.
"""
