"""Which node this is: ``cluster.node_id``, where ``auto`` means $FERROGATE_NODE_ID, else the
host name. Every process of a node (supervisor, workers, control) resolves it the same way,
so logs, request records, metering events and the status all name the same node."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from ferrogate.config.model import Cluster


def resolve_node_id(cluster: Cluster, env: Mapping[str, str]) -> str:
    if cluster.node_id != "auto":
        return cluster.node_id
    return env.get("FERROGATE_NODE_ID") or socket.gethostname()
