"""The clocks the hot path reads, bound once.

In a compiled module a name imported from ``time`` is a dict lookup at every use (about
130 instructions), while a ``Final`` of another compiled module is read as a C static:
compiled modules import their clocks from here (``tests/test_hotpath_idioms.py`` checks).
"""

from __future__ import annotations

import time as _time
from typing import Final

perf_counter: Final = _time.perf_counter  # intervals: phases, upstream waits, latencies
monotonic: Final = _time.monotonic  # deadlines and breaker cooldowns
time: Final = _time.time  # the wall clock: a record's start, access log lines
