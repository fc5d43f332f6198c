"""One ACME order against a real Pebble with real challenges: HTTP-01 through the challenge
listener, DNS-01 through the hook program (records in challtestsrv), a wildcard, the stored
files, the account reused, and the errors an operator reads."""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cryptography import x509

from ferrogate.config.model import Acme, DnsConfig
from ferrogate.tls.acme_challenges import ChallengeListener, HookDns
from ferrogate.tls.acme_issue import AcmeError, issue_certificate
from ferrogate.tls.acme_orders import dns_solver
from ferrogate.tls.acme_storage import AcmeFiles, stored_certificate
from tests.support.fake_cloudflare import FakeCloudflare
from tests.support.pebble import Pebble

pytestmark = pytest.mark.e2e

HOOK = Path(__file__).with_name("dns_hook_challtestsrv.py")


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    ca = Pebble(tmp_path_factory.mktemp("pebble")).start()
    try:
        yield ca
    finally:
        ca.stop()


def _acme(pebble: Pebble, tmp_path: Path, **overrides: object) -> Acme:
    fields: dict[str, object] = {
        "enabled": True, "domains": ["gw.example.test"], "email": "ops@example.test",
        "directory_url": pebble.directory_url, "ca_file": str(pebble.listener_ca), "terms_agreed": True,
        "http_challenge_listen": f"127.0.0.1:{pebble.http_port}", "storage_dir": str(tmp_path / "acme"),
        "dns_propagation_delay_secs": 0.0,
    }
    fields.update(overrides)
    return Acme(**fields)  # type: ignore[arg-type]


def _hook(pebble: Pebble, *extra: str) -> HookDns:
    return HookDns(" ".join([sys.executable, str(HOOK), pebble.challtest_url, *extra]))


def test_http_01_issues_a_certificate_the_ca_signed_for_the_domains(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path)
    files = AcmeFiles.of(acme, None)
    with ChallengeListener(acme.http_challenge_listen) as board:
        info = issue_certificate(acme, files, board=board)
    assert info.names == ("gw.example.test",)
    chain = x509.load_pem_x509_certificates(files.cert.read_bytes())
    root = x509.load_pem_x509_certificate(pebble.roots())
    assert chain[-1].issuer == root.subject  # leaf + intermediate, the intermediate from Pebble's root
    assert stored_certificate(files) == info


def test_every_stored_file_is_readable_by_its_owner_only(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path)
    files = AcmeFiles.of(acme, None)
    with ChallengeListener(acme.http_challenge_listen) as board:
        issue_certificate(acme, files, board=board)
    for path in (files.account_key, files.account, files.cert, files.key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_second_order_reuses_the_stored_account(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path)
    files = AcmeFiles.of(acme, None)
    with ChallengeListener(acme.http_challenge_listen) as board:
        first = issue_certificate(acme, files, board=board)
        account = files.account.read_bytes()
        second = issue_certificate(acme, files, board=board)
    assert files.account.read_bytes() == account
    assert second.serial != first.serial


def test_dns_01_through_the_hook_issues_a_wildcard(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path, challenge="dns-01", dns_provider="hook", domains=["*.wild.test", "wild.test"])
    files = AcmeFiles.of(acme, None)
    info = issue_certificate(acme, files, dns=_hook(pebble))
    assert set(info.names) == {"*.wild.test", "wild.test"}
    assert files.cert.parent.name == "_wildcard.wild.test"


def test_a_hook_that_fails_fails_the_order_with_its_stderr(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path, challenge="dns-01", dns_provider="hook", domains=["broken.test"])
    with pytest.raises(AcmeError, match="exited 3: the DNS API refused the record"):
        issue_certificate(acme, AcmeFiles.of(acme, None), dns=_hook(pebble, "--fail"))


def test_a_hook_that_hangs_is_stopped_at_its_timeout(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path, challenge="dns-01", dns_provider="hook", domains=["slow.test"])
    hook = HookDns(" ".join([sys.executable, str(HOOK), pebble.challtest_url, "--hang"]), timeout=1.0)
    with pytest.raises(AcmeError, match="ran past 1s"):
        issue_certificate(acme, AcmeFiles.of(acme, None), dns=hook)


def test_a_challenge_nobody_answers_fails_with_the_cas_reason(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path)

    class Silent:
        def publish(self, token: str, key_authorization: str) -> None:
            return None

        def withdraw(self, token: str) -> None:
            return None

    with pytest.raises(AcmeError, match=re.escape("could not validate the challenge: gw.example.test: ")):
        issue_certificate(acme, AcmeFiles.of(acme, None), board=Silent())


def test_an_unreachable_ca_is_a_clear_error(tmp_path: Path, pebble: Pebble) -> None:
    acme = _acme(pebble, tmp_path, directory_url="https://127.0.0.1:9/dir")
    with pytest.raises(AcmeError, match=re.escape("cannot reach the ACME server at https://127.0.0.1:9/dir")):
        issue_certificate(acme, AcmeFiles.of(acme, None), board=None)


def test_terms_not_agreed_stops_before_registering(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path, terms_agreed=False)
    with pytest.raises(AcmeError, match="terms_agreed = true"):
        issue_certificate(acme, AcmeFiles.of(acme, None), board=None)


CF_TOKEN = "cf-token-for-tests-7d2a91"


def _cloudflare_acme(pebble: Pebble, tmp_path: Path, fake: FakeCloudflare, token: str = CF_TOKEN) -> Acme:
    dns = DnsConfig(api_token=token, zone_name="cf.test", api_base_url=fake.url)
    return _acme(pebble, tmp_path, challenge="dns-01", dns_provider="cloudflare", dns_config=dns,
                 domains=["*.cf.test"], dns_resolver=f"127.0.0.1:{pebble.dns_port}")


def test_dns_01_through_cloudflare_issues_and_removes_the_record(pebble: Pebble, tmp_path: Path) -> None:
    with FakeCloudflare(CF_TOKEN, "cf.test", pebble.challtest_url) as fake:
        acme = _cloudflare_acme(pebble, tmp_path, fake)
        info = issue_certificate(acme, AcmeFiles.of(acme, None), dns=dns_solver(acme, {}))
        assert info.names == ("*.cf.test",)
        assert [(m, p.split("?")[0]) for m, p, _ in fake.seen] == [
            ("GET", "/client/v4/zones"), ("POST", "/client/v4/zones/zone-1/dns_records"),
            ("DELETE", "/client/v4/zones/zone-1/dns_records/rec-1"),
        ]
        assert fake.records == {}


def test_the_cloudflare_token_can_come_from_the_environment(pebble: Pebble, tmp_path: Path) -> None:
    with FakeCloudflare(CF_TOKEN, "cf.test", pebble.challtest_url) as fake:
        acme = _cloudflare_acme(pebble, tmp_path, fake)
        dns = DnsConfig(api_token_env="CF_TOKEN_FOR_TEST", zone_name="cf.test", api_base_url=fake.url)
        acme = msgspec.structs.replace(acme, dns_config=dns)
        issue_certificate(acme, AcmeFiles.of(acme, None), dns=dns_solver(acme, {"CF_TOKEN_FOR_TEST": CF_TOKEN}))
        assert {auth for _, _, auth in fake.seen} == {f"Bearer {CF_TOKEN}"}


def test_a_refused_cloudflare_token_is_a_clear_error_that_never_shows_it(
    pebble: Pebble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "cf-wrong-token-3f9e0c"
    with FakeCloudflare(CF_TOKEN, "cf.test", pebble.challtest_url) as fake:
        acme = _cloudflare_acme(pebble, tmp_path, fake, token=wrong)
        with pytest.raises(AcmeError) as refused:
            issue_certificate(acme, AcmeFiles.of(acme, None), dns=dns_solver(acme, {}))
    assert "Cloudflare refused the API token (403: Invalid access token)" in str(refused.value)
    assert wrong not in str(refused.value) and wrong not in caplog.text


def test_a_record_the_resolver_never_shows_fails_before_the_ca_is_asked(pebble: Pebble, tmp_path: Path) -> None:
    acme = _acme(pebble, tmp_path, challenge="dns-01", dns_provider="hook", domains=["unseen.test"],
                 dns_resolver=f"127.0.0.1:{pebble.dns_port}")

    class Nowhere:  # says it set the record, sets nothing
        def set_record(self, domain: str, name: str, value: str) -> None:
            return None

        def remove_record(self, domain: str, name: str, value: str) -> None:
            return None

    with pytest.raises(AcmeError, match="did not appear at the resolver"):
        issue_certificate(acme, AcmeFiles.of(acme, None), dns=Nowhere(), resolver_wait_secs=1.0)
