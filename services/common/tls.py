"""TLS for the platform's gRPC servers and clients, and the development certificate authority.

The rule (enforced by ``ServiceSettings``): a server with a certificate and key serves TLS; one
without speaks plaintext, which it may only do on a loopback address. A client dials with TLS
when it is given the CA that signed the server's certificate, verifying the certificate and the
server's name (the host dialled, or ``server_name`` when that is not in the certificate);
without a CA it dials plaintext, which only a loopback server accepts.

The development CA (``ensure_dev_tls``: ``make keys`` / ``make run``, under ``.llr/keys/tls``,
used by docker-compose) and the Kubernetes ``grpc-tls`` Secret (``deploy/k8s/keys``) are made
by ``make_ca`` and ``issue_server_certificate``: an ECDSA P-256 CA and one server certificate
naming every host a client dials the services by.
"""
from __future__ import annotations

import ipaddress
import socketserver
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICES = ("accounts", "certification", "enrolments", "kpi")
# The names the development certificate holds: loopback (make run, a container's own health
# check) and the host names of docker-compose.
DEV_NAMES = ("localhost", "127.0.0.1", "::1", *SERVICES)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def client_host(host: str) -> str:
    """The host a client on this machine dials for a server listening on ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


# -- servers and clients ------------------------------------------------------------------------
def serve_https(server: socketserver.TCPServer, cert_file: Path | None, key_file: Path | None) -> str:
    """Make an ``http.server`` server speak HTTPS (TLS 1.2 or later) with this certificate and key,
    or leave it plain HTTP without them; its URL scheme. The handshake runs in the request's
    thread, so a slow or plain-text client never holds up the accepting loop."""
    if cert_file is None:
        return "http"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return "https"


def server_credentials(cert_file: Path, key_file: Path) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(key_file.read_bytes(), cert_file.read_bytes())])


def open_channel(target: str, ca_file: Path | None = None, server_name: str = "",
                 options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
    """A channel to ``target`` (host:port): TLS trusting ``ca_file`` when given, else plaintext."""
    options = list(options)
    if ca_file is None:
        return grpc.insecure_channel(target, options)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
    return grpc.secure_channel(target, credentials, options)


def service_channel(settings, port: int | None = None, options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
    """A channel to the service that ``settings`` (its ``ServiceSettings``) configure, dialled on
    this machine's side of its ``grpc_host``; ``port`` overrides its ``grpc_port`` (port 0 in tests)."""
    target = f"{client_host(settings.grpc_host)}:{port or settings.grpc_port}"
    try:
        return open_channel(target, settings.grpc_tls_ca_file, settings.grpc_tls_server_name, options)
    except OSError as exc:
        raise ValueError(f"cannot read the CA certificate {settings.model_config.get('env_prefix', '')}"
                         f"GRPC_TLS_CA_FILE={settings.grpc_tls_ca_file}: {exc.strerror}") from exc


# -- certificates -------------------------------------------------------------------------------
def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "llr"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "llr development CA", days: int = 3650) -> tuple[bytes, bytes]:
    """A new certificate authority as (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _pem(key)


def issue_server_certificate(ca_cert_pem: bytes, ca_key_pem: bytes, names: Iterable[str],
                             days: int = 825) -> tuple[bytes, bytes]:
    """A server certificate for ``names`` (DNS names and IP addresses) signed by the CA, as
    (certificate PEM, private key PEM)."""
    names = list(names)
    if not names:
        raise ValueError("a server certificate needs at least one name")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    alt = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _pem(key)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path       # what clients trust
    cert: Path     # the server's certificate ...
    key: Path      # ... and its private key

    def environment(self, services: Iterable[str] = SERVICES) -> dict[str, str]:
        """The variables that make ``services`` serve TLS with these files and their clients trust them."""
        env = {}
        for name in services:
            p = f"LLR_{name.upper()}_"
            env.update({p + "GRPC_TLS_CERT_FILE": str(self.cert), p + "GRPC_TLS_KEY_FILE": str(self.key),
                        p + "GRPC_TLS_CA_FILE": str(self.ca)})
        return env


def write_tls(directory: Path, names: Iterable[str] = DEV_NAMES) -> TlsFiles:
    """A new CA and a server certificate for ``names`` in ``directory`` (the CA's key is not kept:
    new names mean a new CA)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = make_ca()
    cert, key = issue_server_certificate(ca_cert, ca_key, names)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca.write_bytes(ca_cert)
    files.cert.write_bytes(cert)
    files.key.write_bytes(key)
    files.key.chmod(0o600)
    return files


def ensure_dev_tls(keys_dir: Path) -> TlsFiles:
    """The development CA and server certificate under ``keys_dir/tls``, made when missing."""
    directory = keys_dir / "tls"
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if all(p.exists() for p in (files.ca, files.cert, files.key)):
        return files
    return write_tls(directory)
