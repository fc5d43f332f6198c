from collections.abc import Callable

BLOCKED: int
UNBLOCKED: int
DONE: int
UPSTREAM_EOF: int
UPSTREAM_ERROR: int
CLIENT_GONE: int
TOO_LARGE: int
BAD_FRAMING: int
INSPECT_FAILED: int

def find_usage_object(block: bytes, start: int) -> int: ...

class SseRelay:
    last_read: float
    bytes_out: int
    error: int
    failure: BaseException | None
    counted: int
    def __init__(
        self,
        up_fd: int,
        client_fd: int,
        max_event_bytes: int,
        inspect: Callable[[bytes], bytes],
        notify: Callable[[int], None],
        markers: tuple[bytes, ...],
        *,
        usage_object: bool = False,
        count: bytes = b"",
    ) -> None: ...
    def readable(self) -> None: ...
    def writable(self) -> None: ...
    def close(self) -> None: ...
    def pending(self) -> bytes: ...
