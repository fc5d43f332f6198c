"""When a certificate is needed, and one order with the challenge tools its config names.

``ferrogate run`` calls :func:`certificate_at_start` before anything listens: a stored
certificate that covers the domains and has not expired is served as it is (the control
process renews it when it enters the renewal window); otherwise one is ordered now, and
the gateway does not start without it. The control process calls :func:`order_certificate`
for renewals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ferrogate.config.model import Acme
from ferrogate.tls.acme_challenges import ChallengeListener, HookDns
from ferrogate.tls.acme_issue import AcmeError, DnsSolver, issue_certificate
from ferrogate.tls.acme_storage import AcmeFiles, CertificateInfo, stored_certificate
from ferrogate.tls.cloudflare_dns import CloudflareDns

_log = logging.getLogger("ferrogate.acme")


def dns_solver(acme: Acme, env: Mapping[str, str]) -> DnsSolver | None:
    if acme.challenge != "dns-01":
        return None
    if acme.dns_provider == "hook" and acme.dns_hook:
        return HookDns(acme.dns_hook)
    if acme.dns_provider == "cloudflare" and acme.dns_config is not None:
        return CloudflareDns(acme.dns_config, env)
    raise AcmeError("tls.acme with challenge dns-01 needs dns_provider hook (with dns_hook) or cloudflare")


def order_certificate(acme: Acme, files: AcmeFiles, env: Mapping[str, str]) -> CertificateInfo:
    """One order, its HTTP-01 challenge listener bound only while it runs (blocking)."""
    dns = dns_solver(acme, env)
    if dns is not None:
        return issue_certificate(acme, files, dns=dns)
    with ChallengeListener(acme.http_challenge_listen) as board:
        return issue_certificate(acme, files, board=board)


def renewal_due(info: CertificateInfo | None, acme: Acme) -> bool:
    """Whether the stored certificate needs replacing: none, other names, or in the window."""
    return info is None or not info.covers(acme.domains) or info.seconds_left() <= acme.renewal_window_secs


def certificate_at_start(acme: Acme, files: AcmeFiles, env: Mapping[str, str]) -> CertificateInfo:
    """A certificate the listener can serve now (AcmeError when none can be had)."""
    stored = stored_certificate(files)
    if stored is not None and stored.covers(acme.domains) and stored.seconds_left() > 0:
        _log.info("using the stored certificate for %s (valid until %s)", ", ".join(stored.names),
                  stored.not_after.isoformat())
        return stored
    _log.info("ordering a certificate for %s from %s", ", ".join(acme.domains), acme.directory_url)
    return order_certificate(acme, files, env)
