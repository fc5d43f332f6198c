"""DNS-01 records through the Cloudflare API (v4): find the zone, create the TXT record,
delete it afterwards.

The API token comes from the config file (``dns_config.api_token``, as the original
FerroGate reads it) or from the variable ``dns_config.api_token_env`` names; it is sent
only in the ``Authorization`` header and never appears in an error, a log line or the
status. ``zone_name`` names the zone; without it the zone is found by trying the record's
parent names, longest first. ``api_base_url`` points the client elsewhere (tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ferrogate.config.model import DnsConfig
from ferrogate.tls.acme_issue import AcmeError

API_BASE = "https://api.cloudflare.com/client/v4"
TIMEOUT_SECS = 30.0
_TTL = 60


class CloudflareDns:
    def __init__(self, config: DnsConfig, env: Mapping[str, str]) -> None:
        token = config.api_token
        if token is None and config.api_token_env is not None:
            token = env.get(config.api_token_env)
        if not token:
            raise AcmeError("dns_provider cloudflare has no API token (dns_config.api_token or api_token_env)")
        self._token = token
        self._zone_name = config.zone_name
        self._base = (config.api_base_url or API_BASE).rstrip("/")
        self._records: dict[tuple[str, str], tuple[str, str]] = {}  # (name, value) -> (zone id, record id)

    def set_record(self, domain: str, name: str, value: str) -> None:
        zone = self._zone(name)
        created = self._call("POST", f"/zones/{zone}/dns_records",
                             {"type": "TXT", "name": name, "content": value, "ttl": _TTL})
        self._records[(name, value)] = (zone, str(created["id"]))

    def remove_record(self, domain: str, name: str, value: str) -> None:
        found = self._records.pop((name, value), None)
        if found is not None:
            self._call("DELETE", f"/zones/{found[0]}/dns_records/{found[1]}", None)

    def _zone(self, name: str) -> str:
        labels = name.rstrip(".").split(".")
        candidates = [self._zone_name] if self._zone_name else [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
        for candidate in candidates:
            zones = self._call("GET", f"/zones?name={candidate}", None)
            if isinstance(zones, list) and zones:
                return str(zones[0]["id"])
        raise AcmeError(f"Cloudflare has no zone for {name} (tried {', '.join(c for c in candidates if c)})")

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            answer = httpx.request(
                method, self._base + path, json=body, timeout=TIMEOUT_SECS,
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            raise AcmeError(f"cannot reach the Cloudflare API at {self._base}: {type(exc).__name__}") from None
        try:
            doc = answer.json()
        except ValueError:
            doc = {}
        if answer.status_code in (401, 403):
            raise AcmeError(f"Cloudflare refused the API token ({answer.status_code}: {_errors(doc)})")
        if answer.status_code >= 300 or not doc.get("success", False):
            raise AcmeError(f"Cloudflare {method} {path.split('?')[0]} failed ({answer.status_code}: {_errors(doc)})")
        return doc.get("result")


def _errors(doc: Any) -> str:
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:300]
    return "no reason given"
