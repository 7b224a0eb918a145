"""TLS to the registry: `[registry] ca_file` against a real Apicurio Registry serving HTTPS only."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.dev import apicurio
from streams.domain.registry import AvroSchema
from streams.domain.registry.config import RegistryConfig
from streams.registry.cache import SchemaCache
from streams.registry.client import RegistryClient, RegistryUnavailable
from tests.registry.support import register

pytestmark = pytest.mark.integration

RECORD = {"type": "record", "name": "T", "fields": [{"name": "n", "type": "long"}]}


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[apicurio.RegistryInfo]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed (.ci/system-deps installs it)"
    cert, key = tmp_path / "registry.pem", tmp_path / "registry.key"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    data_dir = tmp_path / "registry"
    info = apicurio.start_registry(port=0, data_dir=data_dir, tls=(cert, key))
    try:
        yield info
    finally:
        apicurio.stop_registry(data_dir)


async def test_ca_file_verifies_the_registry_and_nothing_else_does(
    tls_registry: apicurio.RegistryInfo,
) -> None:
    url = tls_registry.ccompat_url
    assert url.startswith("https://")
    assert tls_registry.tls_cert is not None
    trust = ssl.create_default_context(cafile=tls_registry.tls_cert)
    schema_id = await register(url, "tls-value", orjson.dumps(RECORD).decode(), ssl_context=trust)

    trusted = RegistryConfig(url=url, ca_file=tls_registry.tls_cert, timeout_seconds=10)
    async with RegistryClient(trusted) as client:
        assert isinstance(await SchemaCache(client).resolve(schema_id), AvroSchema)

    # without the CA the certificate is not trusted: no schema, the registry counts as down
    async with RegistryClient(RegistryConfig(url=url, timeout_seconds=10)) as client:
        with pytest.raises(RegistryUnavailable):
            await client.schema(schema_id)
