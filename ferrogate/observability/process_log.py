"""Process logs (supervisor, workers, control) as text lines or JSON objects on stderr.

Set up once in the supervisor before it forks, so workers and the control process
log the same way. ``telemetry.log_format = "json"`` gives one object per line
(``ts``, ``level``, ``logger``, ``pid``, ``node``, ``message``, and ``exception`` with the
traceback when there is one) for log shippers; ``text`` is for people.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

TEXT_FORMAT = "%(asctime)s ferrogate[%(process)d] %(levelname)s %(name)s: %(message)s"


class NodeFilter(logging.Filter):
    """Stamps every record with the node it comes from (``node`` in JSON, ``@node`` in text)."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "node": getattr(record, "node", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def setup_process_logging(level: str, fmt: str, node: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = TEXT_FORMAT if node is None else TEXT_FORMAT.replace("%(levelname)s", "%(node)s %(levelname)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text))
    if node is not None:
        handler.addFilter(NodeFilter(node))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
