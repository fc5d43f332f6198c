"""Reading the admin API's record lists while a gateway may still be starting."""

from __future__ import annotations

from typing import Any

import httpx


def stored_rows(admin: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A record list's rows, or None while the control process is still opening its record store:
    the admin API answers 503 ``store_starting`` then (the public listener does not wait for the
    store, whose records queue meanwhile). Any other answer but 200 fails with its body."""
    answer = admin.get(path, params=params)
    if answer.status_code == 503 and answer.json()["error"]["code"] == "store_starting":
        return None
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows
