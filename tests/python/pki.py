"""Test PKI generated at run time with the `cryptography` package.

Nothing here is a fixed secret: every key and certificate is made fresh for each test session.
What the suites need:
  * CA certificates to use as mutual-authentication trust bundles;
  * an ECDSA P-256 server key and a certificate for www.example.com and *.example.com signed by
    an ECDSA CA (so its signature algorithm is ECDSA-SHA256);
  * an RSA 2048 server key and certificate signed by an RSA CA (SHA256-RSA);
  * the same kinds of keys in the three PEM encodings the API accepts: PKCS#8, SEC1, PKCS#1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

UTC = dt.timezone.utc


def _now() -> dt.datetime:
    # Whole seconds: the API reports timestamps with a millisecond fraction and X.509 validity
    # has one-second resolution anyway.
    return dt.datetime.now(UTC).replace(microsecond=0)


def new_ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem_pkcs8(key) -> str:
    """`-----BEGIN PRIVATE KEY-----` (RSA or EC)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_pem_sec1(key: ec.EllipticCurvePrivateKey) -> str:
    """`-----BEGIN EC PRIVATE KEY-----` (SEC1, EC only)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def key_pem_pkcs1(key: rsa.RSAPrivateKey) -> str:
    """`-----BEGIN RSA PRIVATE KEY-----` (PKCS#1, RSA only)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def public_key_sha1_candidates(key) -> set[str]:
    """SHA-1 digests a server may report as `public_key_sha1`.

    Fastly does not document the exact input; both common choices are accepted: the DER
    SubjectPublicKeyInfo and the raw subjectPublicKey bit string.
    """
    pub = key.public_key()
    spki = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(pub, ec.EllipticCurvePublicKey):
        raw = pub.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        raw = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return {hashlib.sha1(spki).hexdigest(), hashlib.sha1(raw).hexdigest()}


@dataclass
class Issued:
    """A certificate together with its private key."""

    key: object
    cert: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    @property
    def key_pkcs8(self) -> str:
        return key_pem_pkcs8(self.key)

    @property
    def common_name(self) -> str:
        return self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def make_ca(common_name: str, key=None, days: int = 3650) -> Issued:
    key = key or new_ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def make_leaf(
    ca: Issued,
    common_name: str,
    sans: list[str],
    key=None,
    days: int = 90,
    serial: int | None = None,
) -> Issued:
    key = key or new_ec_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key, cert)


@dataclass
class TestPki:
    """Everything the suites use, generated once per session."""

    __test__ = False  # not a pytest test class

    ec_ca: Issued
    rsa_ca: Issued
    client_ca: Issued
    client_ca2: Issued
    ec_leaf: Issued  # P-256, SANs www.example.com + *.example.com, ECDSA-SHA256
    ec_leaf2: Issued  # P-256, same SANs, another key: a replacement certificate
    rsa_leaf: Issued  # RSA 2048, SANs rsa.example.net, SHA256-RSA, shorter validity
    spare_keys: dict = field(default_factory=dict)

    def bundle(self, *cas: Issued) -> str:
        return "".join(ca.cert_pem for ca in cas)


def build() -> TestPki:
    ec_ca = make_ca("mtls-proxy test EC CA", new_ec_key())
    rsa_ca = make_ca("mtls-proxy test RSA CA", new_rsa_key())
    client_ca = make_ca("mtls-proxy test client CA 1")
    client_ca2 = make_ca("mtls-proxy test client CA 2", new_rsa_key())
    ec_leaf = make_leaf(
        ec_ca,
        "www.example.com",
        ["www.example.com", "*.example.com"],
        new_ec_key(),
        days=400,
        # Above 2^63 so a server that squeezes the serial into a signed 64-bit integer fails.
        serial=(1 << 64) + 12345,
    )
    ec_leaf2 = make_leaf(
        ec_ca, "www.example.com", ["www.example.com", "*.example.com"], new_ec_key(), days=200
    )
    rsa_leaf = make_leaf(rsa_ca, "rsa.example.net", ["rsa.example.net"], new_rsa_key(), days=30)
    spare = {
        "ec_p256": new_ec_key(),
        "ec_p384": new_ec_key(ec.SECP384R1()),
        "rsa_2048_pkcs1": new_rsa_key(),
        "rsa_2048_pkcs8": new_rsa_key(),
        "rsa_1024": new_rsa_key(1024),
    }
    return TestPki(ec_ca, rsa_ca, client_ca, client_ca2, ec_leaf, ec_leaf2, rsa_leaf, spare)
