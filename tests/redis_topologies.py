"""Real Redis topologies on loopback ports for tests: cluster, sentinels, TLS + ACL, and TLS with either."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.stack import free_port

STARTUP_SECONDS = 30.0
SENTINEL_MASTER = "tipb"
ACL_USER, ACL_PASSWORD = "broker", "broker-acl-password"
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-acl-password"


class MissingBinaryError(Exception):
    """A system binary (or a build feature) the topology needs is missing: the reason to skip."""


def redis_server_binary() -> str:
    """Return redis-server's path, or raise MissingBinaryError."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingBinaryError("redis-server is not installed")
    return binary


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready within {STARTUP_SECONDS} s")


@contextmanager
def server(workdir: Path, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run one redis-server (or sentinel) with ``args`` in ``workdir``; kill it at exit."""
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, executable found on PATH
        [redis_server_binary(), *args, "--dir", str(workdir), "--logfile", ""],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        log.close()


def _plain(port: int) -> list[str]:
    return ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@dataclass
class Cluster:
    """A 3-master Redis Cluster; ``url`` names its seed nodes (over TLS when it has ``files``)."""

    ports: list[int]
    files: TlsFiles | None = None

    @property
    def url(self) -> str:
        scheme = "rediss+cluster" if self.files else "redis+cluster"
        return f"{scheme}://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> redis.Redis:
        """Return a synchronous client of one node."""
        return self.files.client(port) if self.files else redis.Redis(port=port)

    def client(self) -> redis.RedisCluster:
        """Return a synchronous cluster client seeded with the first node."""
        if self.files is None:
            return redis.RedisCluster(host="127.0.0.1", port=self.ports[0])
        return redis.RedisCluster(
            host="127.0.0.1",
            port=self.ports[0],
            ssl=True,
            ssl_ca_certs=self.files.ca_file,
            ssl_certfile=self.files.client_cert,
            ssl_keyfile=self.files.client_key,
        )

    def flush(self) -> None:
        for port in self.ports:
            with self.node(port) as node:
                node.flushall()


@contextmanager
def cluster(workdir: Path) -> Iterator[Cluster]:
    """Start three cluster-enabled servers and join them with ``redis-cli --cluster create``."""
    with _cluster(workdir, None) as running:
        yield running


@contextmanager
def tls_cluster(workdir: Path) -> Iterator[Cluster]:
    """Start three TLS-only cluster nodes (their bus over TLS too) requiring client certificates."""
    with _cluster(workdir, TlsFiles.write(workdir)) as running:
        yield running


@contextmanager
def _cluster(workdir: Path, files: TlsFiles | None) -> Iterator[Cluster]:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise MissingBinaryError("redis-cli is not installed (it creates the cluster)")
    built = Cluster([free_port() for _ in range(3)], files)
    with ExitStack() as running:
        for port in built.ports:
            listen = [*files.server_args(port), "--tls-cluster", "yes"] if files else _plain(port)
            process = running.enter_context(
                server(
                    workdir,
                    f"cluster-{port}",
                    *listen,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    # The bus port would default to port + 10000, which may be taken or out of range.
                    "--cluster-port",
                    str(free_port()),
                )
            )
            try:
                wait_for(lambda port=port: bool(built.node(port).ping()), f"cluster node {port}")
            except RuntimeError:
                if files and _missing_tls(workdir, f"cluster-{port}", process):
                    raise MissingBinaryError("redis-server was built without TLS support") from None
                raise
        tls_options = (
            ["--tls", "--cacert", files.ca_file, "--cert", files.client_cert, "--key", files.client_key]
            if files
            else []
        )
        subprocess.run(  # noqa: S603 - fixed arguments, executable found on PATH
            [
                cli,
                *tls_options,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in built.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=STARTUP_SECONDS,
        )
        for port in built.ports:
            wait_for(
                lambda port=port: built.node(port).cluster("INFO")["cluster_state"] == "ok",
                f"cluster state on {port}",
            )
        yield built


@dataclass
class SentinelSetup:
    """One master, one replica and two sentinels watching them as ``SENTINEL_MASTER``."""

    sentinel_ports: list[int]
    server_ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SENTINEL_MASTER}/0"

    def master_port(self) -> int:
        with redis.Redis(port=self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
        return int(port)

    def flush(self) -> None:
        with redis.Redis(port=self.master_port()) as master:
            master.flushall()

    def failover(self) -> int:
        """Promote the replica (SENTINEL FAILOVER); return the new master's port once it serves writes."""
        before = self.master_port()
        with redis.Redis(port=self.sentinel_ports[0]) as sentinel:
            # NOGOODSLAVE until the sentinel has fresh news of the replica: ask again until it starts.
            wait_for(
                lambda: bool(sentinel.execute_command("SENTINEL", "FAILOVER", SENTINEL_MASTER)),
                "the sentinel's failover",
            )
        wait_for(lambda: self.master_port() != before, "the sentinels' new master")
        after = self.master_port()
        wait_for(lambda: redis.Redis(port=after).info("replication")["role"] == "master", "the new master")
        # Until the sentinels demote it, the old master still takes writes that its demotion then drops.
        wait_for(
            lambda: redis.Redis(port=before).info("replication")["role"] == "slave",
            "the old master's demotion",
        )
        return after


def _watching(master: int) -> str:
    """Return a sentinel's configuration lines watching ``master`` as ``SENTINEL_MASTER`` (quorum 1)."""
    return (
        f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master} 1\n"
        f"sentinel down-after-milliseconds {SENTINEL_MASTER} 2000\n"
        f"sentinel failover-timeout {SENTINEL_MASTER} 10000\n"
    )


@contextmanager
def sentinel_setup(workdir: Path) -> Iterator[SentinelSetup]:
    """Start a master, its replica and two sentinels (quorum 1), and wait until the sentinels see both."""
    master, replica = free_port(), free_port()
    setup = SentinelSetup([free_port(), free_port()], [master, replica])
    with ExitStack() as running:
        running.enter_context(server(workdir, "master", *_plain(master)))
        wait_for(lambda: bool(redis.Redis(port=master).ping()), "sentinel's master")
        running.enter_context(
            server(workdir, "replica", *_plain(replica), "--replicaof", "127.0.0.1", str(master))
        )
        wait_for(
            lambda: redis.Redis(port=replica).info("replication")["master_link_status"] == "up",
            "the replica's link",
        )
        for port in setup.sentinel_ports:
            conf = workdir / f"sentinel-{port}.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\n{_watching(master)}")
            running.enter_context(server(workdir, f"sentinel-{port}", str(conf), "--sentinel"))
        for port in setup.sentinel_ports:
            wait_for(
                lambda port=port: bool(redis.Redis(port=port).sentinel_slaves(SENTINEL_MASTER)),
                f"sentinel {port} seeing the replica",
            )
        yield setup


@dataclass
class TlsServer:
    """A TLS-only server that requires client certificates and refuses the default user."""

    port: int
    ca_file: str
    cert_file: str
    key_file: str

    def url(self, *, credentials: bool = True) -> str:
        auth = f"{ACL_USER}:{ACL_PASSWORD}@" if credentials else ""
        return f"rediss://{auth}127.0.0.1:{self.port}/0"

    def admin(self) -> redis.Redis:
        return redis.Redis(
            port=self.port,
            ssl=True,
            ssl_ca_certs=self.ca_file,
            ssl_certfile=self.cert_file,
            ssl_keyfile=self.key_file,
            username=ADMIN_USER,
            password=ADMIN_PASSWORD,
        )

    def flush(self) -> None:
        with self.admin() as admin:
            admin.flushall()


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signer = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    cert_file, key_file = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    ca_file: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    @classmethod
    def write(cls, workdir: Path) -> TlsFiles:
        ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        ca = _certificate("tipb test CA", ca_key, None)
        ca_file, _ = _write(workdir / "ca", ca, ca_key)
        server_cert, server_key_file = _write(
            workdir / "server", _certificate("127.0.0.1", server_key, ("tipb test CA", ca_key)), server_key
        )
        client_cert, client_key_file = _write(
            workdir / "client", _certificate("broker", client_key, ("tipb test CA", ca_key)), client_key
        )
        return cls(ca_file, server_cert, server_key_file, client_cert, client_key_file)

    def server_args(self, port: int) -> list[str]:
        """Return the arguments of a TLS-only redis-server on ``port`` that requires client certificates."""
        return [
            *_plain(0),  # no plain-text port
            "--tls-port",
            str(port),
            "--tls-cert-file",
            self.server_cert,
            "--tls-key-file",
            self.server_key,
            "--tls-ca-cert-file",
            self.ca_file,
            "--tls-auth-clients",
            "yes",
        ]

    def client(self, port: int, **kwargs: object) -> redis.Redis:
        """Return a synchronous client of the TLS server (or sentinel) on ``port``."""
        return redis.Redis(
            port=port,
            ssl=True,
            ssl_ca_certs=self.ca_file,
            ssl_certfile=self.client_cert,
            ssl_keyfile=self.client_key,
            **kwargs,  # type: ignore[arg-type]
        )


def _missing_tls(workdir: Path, name: str, process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None and "tls" in (workdir / f"{name}.log").read_text().lower()


@contextmanager
def tls_server(workdir: Path) -> Iterator[TlsServer]:
    """Start a TLS-only server (certificates from a throwaway CA) with ACL users ``admin`` and ``broker``."""
    files = TlsFiles.write(workdir)
    port = free_port()
    with server(workdir, "tls", *files.server_args(port)) as process:
        tls = TlsServer(port, files.ca_file, files.client_cert, files.client_key)
        plain = files.client(port)
        try:
            wait_for(lambda: process.poll() is None and bool(plain.ping()), "the TLS server")
        except RuntimeError:
            if _missing_tls(workdir, "tls", process):
                raise MissingBinaryError("redis-server was built without TLS support") from None
            raise
        plain.acl_setuser(
            ADMIN_USER,
            enabled=True,
            passwords=[f"+{ADMIN_PASSWORD}"],
            keys=["*"],
            channels=["*"],
            commands=["+@all"],
        )
        plain.acl_setuser(
            ACL_USER,
            enabled=True,
            passwords=[f"+{ACL_PASSWORD}"],
            keys=["*"],
            commands=["+@all", "-@dangerous"],
        )
        plain.acl_setuser("default", enabled=False)
        plain.close()
        yield tls


@dataclass
class TlsSentinelSetup:
    """A TLS-only master, its replica (replicating over TLS) and two TLS-only sentinels."""

    files: TlsFiles
    sentinel_ports: list[int]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"rediss+sentinel://{hosts}/{SENTINEL_MASTER}/0"

    def master_port(self) -> int:
        with self.files.client(self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
        return int(port)


@contextmanager
def tls_sentinel_setup(workdir: Path) -> Iterator[TlsSentinelSetup]:
    """Start a TLS-only master and replica and two TLS-only sentinels (quorum 1) watching them over TLS."""
    files = TlsFiles.write(workdir)
    master, replica = free_port(), free_port()
    setup = TlsSentinelSetup(files, [free_port(), free_port()])
    with ExitStack() as running:
        process = running.enter_context(server(workdir, "tls-master", *files.server_args(master)))
        try:
            wait_for(lambda: process.poll() is None and bool(files.client(master).ping()), "the TLS master")
        except RuntimeError:
            if _missing_tls(workdir, "tls-master", process):
                raise MissingBinaryError("redis-server was built without TLS support") from None
            raise
        running.enter_context(
            server(
                workdir,
                "tls-replica",
                *files.server_args(replica),
                "--tls-replication",
                "yes",
                "--replicaof",
                "127.0.0.1",
                str(master),
            )
        )
        wait_for(
            lambda: files.client(replica).info("replication")["master_link_status"] == "up",
            "the TLS replica's link",
        )
        for port in setup.sentinel_ports:
            conf = workdir / f"tls-sentinel-{port}.conf"
            conf.write_text(
                f"port 0\ntls-port {port}\nbind 127.0.0.1\n"
                f"tls-cert-file {files.server_cert}\ntls-key-file {files.server_key}\n"
                f"tls-ca-cert-file {files.ca_file}\ntls-auth-clients yes\ntls-replication yes\n"
                f"{_watching(master)}"
            )
            running.enter_context(server(workdir, f"tls-sentinel-{port}", str(conf), "--sentinel"))
        for port in setup.sentinel_ports:
            wait_for(
                lambda port=port: bool(files.client(port).sentinel_slaves(SENTINEL_MASTER)),
                f"TLS sentinel {port} seeing the replica",
            )
        yield setup
