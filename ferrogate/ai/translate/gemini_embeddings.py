"""OpenAI embeddings request/response ↔ Gemini ``embedContent`` / ``batchEmbedContents``.

One input string goes to ``embedContent``; a list goes to ``batchEmbedContents``.
Gemini reports no token usage for embeddings, so usage is estimated from the input
(``source="estimated"``). ``encoding_format="base64"`` is honoured by packing the
floats as little-endian float32, as OpenAI does.
"""

from __future__ import annotations

import base64
from array import array
from typing import Any

from ferrogate.ai.translate.common import Json, estimate_tokens
from ferrogate.ai.usage import Usage
from ferrogate.errors import bad_request


def _inputs(body: Json) -> tuple[list[str], bool]:
    value: Any = body.get("input")
    if isinstance(value, str):
        return [value], True
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value), False
    raise bad_request(
        "input must be a string or a non-empty list of strings for this model", param="input"
    )


def openai_embeddings_to_gemini(body: Json, *, model: str) -> tuple[str, Json, int]:
    """→ (method suffix ``embedContent``/``batchEmbedContents``, body, input count)."""
    texts, single = _inputs(body)
    dims = body.get("dimensions")
    if single:
        req: Json = {"content": {"parts": [{"text": texts[0]}]}}
        if dims:
            req["outputDimensionality"] = int(dims)
        return "embedContent", req, 1
    reqs = []
    for t in texts:
        r: Json = {"model": f"models/{model}", "content": {"parts": [{"text": t}]}}
        if dims:
            r["outputDimensionality"] = int(dims)
        reqs.append(r)
    return "batchEmbedContents", {"requests": reqs}, len(texts)


def _encode(values: list[float], fmt: str | None) -> Any:
    if fmt == "base64":
        arr = array("f", values)
        if arr.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte floats
            raise ValueError("float32 expected")
        import sys

        if sys.byteorder != "little":  # pragma: no cover
            arr.byteswap()
        return base64.b64encode(arr.tobytes()).decode()
    return values


def gemini_embeddings_to_openai(resp: Json, request: Json, *, model: str) -> tuple[Json, Usage]:
    """Gemini embedding response → OpenAI list object, with an estimated usage."""
    if "embedding" in resp:
        vectors = [resp["embedding"].get("values") or []]
    else:
        vectors = [e.get("values") or [] for e in resp.get("embeddings") or ()]
    fmt = request.get("encoding_format")
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, fmt)}
        for i, v in enumerate(vectors)
    ]
    texts, _ = _inputs(request)
    tokens = sum(estimate_tokens(len(t)) for t in texts)
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens, source="estimated")
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return body, usage
