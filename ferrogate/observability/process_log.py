"""Process logs (supervisor, workers, control) as text lines or JSON objects on stderr.

Set up once in the supervisor before it forks, so workers and the control process
log the same way. ``telemetry.log_format = "json"`` gives one object per line
(``ts``, ``level``, ``logger``, ``pid``, ``message``, and ``exception`` with the
traceback when there is one) for log shippers; ``text`` is for people.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

TEXT_FORMAT = "%(asctime)s ferrogate[%(process)d] %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def setup_process_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
