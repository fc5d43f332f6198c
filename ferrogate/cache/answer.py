"""What the cache keeps of an answer: its body as the client got it, and the usage it cost."""

from __future__ import annotations

import msgspec


class CachedAnswer(msgspec.Struct, frozen=True, array_like=True):
    stream: bool  # the body is the SSE bytes of a streamed answer, else the JSON body
    body: bytes
    prompt_tokens: int
    completion_tokens: int
    provider: str
    provider_model: str


# Its users (compiled) call ANSWER_ENCODER.encode directly: a function around it here
# would be one interpreted call per stored answer.
ANSWER_ENCODER = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedAnswer)


def decode_answer(data: bytes) -> CachedAnswer | None:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        return None
