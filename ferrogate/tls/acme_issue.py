"""One ACME order, start to finish: account, order, challenges, certificate (blocking).

Run on a thread (the control process's renewals) or before anything listens (the first
certificate, in ``ferrogate run``). The account key is made once and kept (``AcmeFiles``);
the account's URL is kept beside it, so a restart does not register again. Each order
gets a new certificate key (P-256). Challenges go through a :class:`ChallengeBoard`
(HTTP-01: what the challenge listener answers) or a :class:`DnsSolver` (DNS-01: a TXT
record set, then removed whatever happened). Every failure is an :class:`AcmeError`
whose message is the CA's (or the DNS solver's) own reason.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Protocol

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ferrogate.config.model import Acme
from ferrogate.tls.acme_storage import AcmeFiles, CertificateInfo, certificate_info, write_private
from ferrogate.tls.dns_txt import txt_records

_log = logging.getLogger("ferrogate.acme")

ORDER_TIMEOUT_SECS = 120.0
RESOLVER_WAIT_SECS = 120.0  # how long a DNS-01 record may take to show at dns_resolver
USER_AGENT = "ferrogate-acme"


class AcmeError(Exception):
    """An order that did not end in a certificate; the message says why."""


class ChallengeBoard(Protocol):
    """Where HTTP-01 key authorisations are published for the challenge listener."""

    def publish(self, token: str, key_authorization: str) -> None: ...

    def withdraw(self, token: str) -> None: ...


class DnsSolver(Protocol):
    """Sets and removes the ``_acme-challenge`` TXT record of a DNS-01 challenge."""

    def set_record(self, domain: str, name: str, value: str) -> None: ...

    def remove_record(self, domain: str, name: str, value: str) -> None: ...


def issue_certificate(
    acme: Acme,
    files: AcmeFiles,
    *,
    board: ChallengeBoard | None = None,
    dns: DnsSolver | None = None,
    resolver_wait_secs: float = RESOLVER_WAIT_SECS,
) -> CertificateInfo:
    """Order a certificate for ``acme.domains``, store it, and return what it is."""
    try:
        return _issue(acme, files, board, dns, resolver_wait_secs)
    except AcmeError:
        raise
    except errors.ValidationError as exc:
        raise AcmeError(f"the CA could not validate the challenge: {_validation_detail(exc)}") from None
    except messages.Error as exc:
        raise AcmeError(f"the CA refused: {exc.detail or exc.typ} ({exc.typ})") from None
    except errors.TimeoutError:
        raise AcmeError(f"the order did not complete within {ORDER_TIMEOUT_SECS:.0f}s") from None
    except errors.Error as exc:
        raise AcmeError(f"ACME error: {exc}") from None
    except OSError as exc:  # includes requests' connection errors
        raise AcmeError(f"cannot reach the ACME server at {acme.directory_url}: {exc}") from None


def _issue(
    acme: Acme, files: AcmeFiles, board: ChallengeBoard | None, dns: DnsSolver | None, resolver_wait: float
) -> CertificateInfo:
    started = time.monotonic()
    account_key = _account_key(files)
    # verify_ssl goes to requests' verify=, which takes a CA bundle path too (typed bool).
    verify = acme.ca_file or True
    net = client.ClientNetwork(account_key, user_agent=USER_AGENT, verify_ssl=verify)  # type: ignore[arg-type]
    acme_client = client.ClientV2(client.ClientV2.get_directory(acme.directory_url, net), net=net)
    _account(acme, files, acme_client, net)
    cert_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = cert_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    order = acme_client.new_order(crypto_util.make_csr(key_pem, list(acme.domains)))
    undo: list[tuple[str, ...]] = []
    try:
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA remembers this name's validation
            _answer(acme, acme_client, account_key, authz, board, dns, undo, resolver_wait)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_TIMEOUT_SECS)
        order = acme_client.poll_and_finalize(order, deadline)
    finally:
        _clean_up(undo, board, dns)
    chain = order.fullchain_pem.encode()
    info = certificate_info(chain)
    write_private(files.key, key_pem)
    write_private(files.cert, chain)
    _log.info(
        "certificate issued for %s by %s (serial %s, valid until %s) in %.1fs",
        ", ".join(info.names), info.issuer, info.serial, info.not_after.isoformat(), time.monotonic() - started,
    )
    return info


def _account_key(files: AcmeFiles) -> jose.JWKRSA:
    if files.account_key.is_file():
        loaded = serialization.load_pem_private_key(files.account_key.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise AcmeError(f"{files.account_key} is not an RSA key")
        return jose.JWKRSA(key=loaded)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(
        files.account_key,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return jose.JWKRSA(key=key)


def _account(acme: Acme, files: AcmeFiles, acme_client: client.ClientV2, net: client.ClientNetwork) -> None:
    """Use the stored account (the same directory's), else register one and store its URL."""
    if files.account.is_file():
        try:
            regr = messages.RegistrationResource.json_loads(files.account.read_bytes())
        except (ValueError, jose.DeserializationError):
            regr = None
        if regr is not None and regr.uri and regr.uri.startswith(_origin(acme.directory_url)):
            net.account = regr
            return
    if not acme.terms_agreed:
        raise AcmeError("the CA's terms of service must be agreed to first: set tls.acme.terms_agreed = true")
    new = messages.NewRegistration.from_data(email=acme.email, terms_of_service_agreed=True)
    regr = acme_client.new_account(new)
    write_private(files.account, regr.json_dumps().encode())
    _log.info("ACME account registered at %s", regr.uri)


def _answer(
    acme: Acme,
    acme_client: client.ClientV2,
    account_key: jose.JWKRSA,
    authz: messages.AuthorizationResource,
    board: ChallengeBoard | None,
    dns: DnsSolver | None,
    undo: list[tuple[str, ...]],
    resolver_wait: float,
) -> None:
    domain = authz.body.identifier.value
    wanted = challenges.DNS01 if acme.challenge == "dns-01" else challenges.HTTP01
    chall = next((c for c in authz.body.challenges if isinstance(c.chall, wanted)), None)
    if chall is None:
        raise AcmeError(f"the CA offers no {acme.challenge} challenge for {domain}")
    response, validation = chall.response_and_validation(account_key)
    if isinstance(chall.chall, challenges.HTTP01):
        if board is None:
            raise AcmeError("no HTTP-01 challenge listener")
        token = chall.chall.encode("token")
        board.publish(token, validation)
        undo.append(("http", token))
    else:
        if dns is None:
            raise AcmeError("no DNS provider for the DNS-01 challenge")
        name = chall.chall.validation_domain_name(domain)
        dns.set_record(domain, name, validation)
        undo.append(("dns", domain, name, validation))
        if acme.dns_propagation_delay_secs > 0:
            time.sleep(acme.dns_propagation_delay_secs)
        if acme.dns_resolver:
            _wait_for_record(acme.dns_resolver, name, validation, resolver_wait)
    acme_client.answer_challenge(chall, response)


def _wait_for_record(resolver: str, name: str, value: str, wait: float) -> None:
    """Until ``resolver`` shows the TXT record (AcmeError when it has not within ``wait``)."""
    deadline = time.monotonic() + wait
    said = "no answer"
    while True:
        try:
            if value in txt_records(name, resolver):
                return
            said = "not there yet"
        except OSError as exc:
            said = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            raise AcmeError(f"the TXT record {name} did not appear at the resolver {resolver} within {wait:.0f}s ({said})")
        time.sleep(0.5)


def _clean_up(undo: list[tuple[str, ...]], board: ChallengeBoard | None, dns: DnsSolver | None) -> None:
    for step in undo:
        try:
            if step[0] == "http" and board is not None:
                board.withdraw(step[1])
            elif step[0] == "dns" and dns is not None:
                dns.remove_record(step[1], step[2], step[3])
        except Exception as exc:  # a record left behind is logged, never hides the order's outcome
            _log.warning("cannot clean up the %s challenge of %s: %s", step[0], step[1], exc)


def _validation_detail(exc: errors.ValidationError) -> str:
    details = [
        f"{authz.body.identifier.value}: {chall.error.detail or chall.error.typ}"
        for authz in exc.failed_authzrs
        for chall in authz.body.challenges
        if chall.error is not None
    ]
    return "; ".join(details) or str(exc)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
