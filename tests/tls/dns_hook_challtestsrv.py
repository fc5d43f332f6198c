"""A DNS-01 hook (the ``dns_hook`` contract) that writes the TXT record into pebble-challtestsrv.

    dns_hook_challtestsrv.py CHALLTEST_URL [--fail|--hang] set|cleanup PAYLOAD_JSON

Checks what the gateway promises a hook: the payload file is mode 0600 and names the record.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import urllib.request


def main(argv: list[str]) -> int:
    url, *flags, action, payload_path = argv
    if stat.S_IMODE(os.stat(payload_path).st_mode) != 0o600:
        print(f"payload {payload_path} is not mode 0600", file=sys.stderr)
        return 4
    with open(payload_path) as f:
        payload = json.load(f)
    if "--fail" in flags:
        print("the DNS API refused the record", file=sys.stderr)
        return 3
    if "--hang" in flags:
        time.sleep(60)
    host = payload["record_name"] + "."
    path = "/set-txt" if action == "set" else "/clear-txt"
    body = {"host": host, "value": payload["record_value"]} if action == "set" else {"host": host}
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
