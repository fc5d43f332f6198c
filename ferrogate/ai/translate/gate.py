"""Holding back a stream's opening bytes until there is real content, so that an upstream
failure before any content reaches the client stays a clean *early* failure.

The relay falls back to another candidate only while nothing has been written to the
client. A translator that wrote its opening event (OpenAI role chunk, Anthropic
``message_start``, Responses ``response.created``) at once would make an upstream
error that arrives right after the provider's own opening event unrecoverable. So
the opening bytes wait in ``head``; an error with nothing sent yet is swallowed
(kept in ``early_error``) and the relay sees an incomplete stream with no output.
"""

from __future__ import annotations


class OutputGate:
    __slots__ = ("early_error", "head", "pending_error", "sent")

    def __init__(self) -> None:
        self.head: bytes = b""  # opening bytes to send before the first real content
        self.sent = False  # anything has gone to the client
        self.pending_error: bytes = b""  # an error event produced by this read
        self.early_error: bytes = b""  # an error swallowed because nothing had been sent

    def ship(self, out: list[bytes]) -> bytes:
        """The bytes for the client from this read's output pieces (and any pending error)."""
        err = self.pending_error
        self.pending_error = b""
        if out:
            if not self.sent:
                self.sent = True
                if self.head:
                    out.insert(0, self.head)
            if err:
                out.append(err)
            return b"".join(out)
        if err:
            if self.sent:
                return err
            self.early_error = err
        return b""
