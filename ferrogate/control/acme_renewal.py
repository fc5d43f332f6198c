"""Renewing the ACME certificate in the control process, and telling the workers.

Every ``renewal_check_interval_secs`` the stored certificate is read; when it enters the
last ``renewal_window_secs`` of its life (or is missing, or covers other names) one order
runs on a thread, its HTTP-01 challenge listener bound only meanwhile. A certificate
issued is written over the stored one and every worker is told
(:class:`~ferrogate.ipc.TlsCertificatesRenewed`): each loads the files again into the
contexts its listener already uses, so new handshakes get the new certificate while open
connections go on with theirs; no reload, no upgrade. A failed order is logged, the old
certificate stays in service, and the next try comes after ``renewal_retry_interval_secs``.
``GET /admin/v1/status`` shows :meth:`AcmeRenewal.view`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from ferrogate import ipc
from ferrogate.config.model import Acme
from ferrogate.control.background import cancel_and_wait
from ferrogate.control.views import CertificateView
from ferrogate.tls.acme_issue import AcmeError
from ferrogate.tls.acme_orders import order_certificate, renewal_due
from ferrogate.tls.acme_storage import AcmeFiles, CertificateInfo, stored_certificate

_log = logging.getLogger("ferrogate.acme")


class AcmeRenewal:
    def __init__(self, acme: Acme, files: AcmeFiles, broadcast: Callable[[ipc.Message], int],
                 env: Mapping[str, str]) -> None:
        self.acme = acme
        self.env = env
        self.files = files
        self._broadcast = broadcast
        self.info: CertificateInfo | None = stored_certificate(files)
        self.last_at: float | None = None
        self.last_result: str | None = None
        self.last_error: str | None = None
        self.next_check: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="acme-renewal")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def view(self) -> CertificateView:
        info = self.info
        return CertificateView(
            source="acme",
            domains=list(self.acme.domains),
            names=list(info.names) if info is not None else [],
            issuer=info.issuer if info is not None else None,
            serial=info.serial if info is not None else None,
            not_after=_stamp(info.not_after.timestamp()) if info is not None else None,
            last_renewal_at=_stamp(self.last_at),
            last_renewal_result=self.last_result,
            last_renewal_error=self.last_error,
            next_check_at=_stamp(self.next_check),
            reload_required=False,
        )

    async def check(self) -> float:
        """Renew when due; the seconds until the next check."""
        acme = self.acme
        self.info = stored_certificate(self.files)
        if not renewal_due(self.info, acme):
            return float(acme.renewal_check_interval_secs)
        self.last_at = time.time()
        try:
            self.info = await asyncio.to_thread(order_certificate, acme, self.files, self.env)
        except AcmeError as exc:
            self.last_result, self.last_error = "failed", str(exc)
            _log.error("certificate renewal for %s failed (the current one stays in service; next try in %ds): %s",
                       ", ".join(acme.domains), acme.renewal_retry_interval_secs, exc)
            return float(acme.renewal_retry_interval_secs)
        self.last_result, self.last_error = "issued", None
        told = self._broadcast(ipc.TlsCertificatesRenewed(serial=self.info.serial))
        _log.info("certificate renewed for %s (serial %s, valid until %s); %d workers told",
                  ", ".join(self.info.names), self.info.serial, self.info.not_after.isoformat(), told)
        return float(acme.renewal_check_interval_secs)

    async def _run(self) -> None:
        while True:
            try:
                delay = await self.check()
            except Exception:
                _log.exception("certificate renewal check failed")
                delay = float(self.acme.renewal_retry_interval_secs)
            self.next_check = time.time() + delay
            await asyncio.sleep(delay)


def _stamp(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
