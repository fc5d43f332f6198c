"""Pure wire-format translation between OpenAI, Anthropic and Gemini shapes (no I/O).

Request translators take decoded JSON (dicts) and return dicts; response translators
do the reverse; stream translators are incremental byte-in/byte-out state machines
that give the same output for any split of the upstream bytes.
"""
