"""A real configuration server for the tests: HTTP (or HTTPS) on a loopback port.

It speaks the SINETStream 1.10 protocol (``/api/v1/authentication``,
``/configs/{name}``, ``/secrets/{id}``), holds secrets encrypted in the test
with ``cryptography`` for the user's RSA key, and can be told to fail: answer a
status (``fail``), reset the connection (``resets``), or echo the secret key in
its error bodies, as a careless server might.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sinetstream._secrets import encrypt_secret, public_key_fingerprint

API = "/api/v1"
USER = "lab-user"
SECRET_KEY = "sk-4d3c2b1a-do-not-leak"


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key per name, made once per test session."""
    del name  # only the cache key
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_private_key(path: Path, key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> Path:
    """Write ``key`` as PEM (encrypted with ``passphrase`` if given)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake.seen.append((method, self.path, dict(self.headers.items())))
        route = self.path[len(API) :]
        for prefix, count in fake.resets.items():
            if route.startswith(prefix) and count > 0:
                fake.resets[prefix] = count - 1
                # SO_LINGER 0: close() sends a TCP reset instead of a FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return
        status, answer = fake.answer(method, route, self.headers, body)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeConfigServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the reset connections; a real failure shows in the test's assertions


class FakeConfigServer:
    """The server's state; ``url`` once started with :meth:`running`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.token = secrets.token_urlsafe(24)
        self.key = rsa_key("user")
        self.configs: dict[str, Any] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.fail: dict[str, int] = {}  # route prefix -> status to answer
        self.resets: dict[str, int] = {}  # route prefix -> connections still to reset
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""

    @property
    def auth_file(self) -> Path:
        return self.home / ".config" / "sinetstream" / "auth.json"

    @property
    def private_key_file(self) -> Path:
        return self.home / ".config" / "sinetstream" / "private_key.pem"

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.key.public_key())

    def write_auth(self, **extra: Any) -> Path:
        """``auth.json`` for this server (``extra`` adds or replaces entries)."""
        entry = {"address": self.url, "user": USER, "secret-key": SECRET_KEY, **extra}
        self.auth_file.parent.mkdir(parents=True, exist_ok=True)
        self.auth_file.write_text(json.dumps({"config-server": entry}))
        return self.auth_file

    def add_config(
        self,
        name: str,
        services: dict[str, Any],
        *,
        version: int = 3,
        attachments: list[dict[str, Any]] | None = None,
        secrets: list[dict[str, Any]] | None = None,
    ) -> None:
        self.configs[name] = {
            "name": name,
            "config": {"header": {"version": version}, "config": services},
            "attachments": attachments or [],
            "secrets": secrets or [],
        }

    def add_secret(
        self,
        secret_id: str,
        target: str,
        plaintext: bytes,
        *,
        key: rsa.RSAPrivateKey | None = None,
        blob: bytes | None = None,
    ) -> bytes:
        """Store ``plaintext`` encrypted for ``key`` (default: the user's); return the blob."""
        public = (key or self.key).public_key()
        blob = encrypt_secret(plaintext, public) if blob is None else blob
        self.secrets[secret_id] = {
            "id": secret_id,
            "target": target,
            "value": base64.b64encode(blob).decode(),
            "fingerprint": public_key_fingerprint(public),
        }
        return blob

    def answer(self, method: str, route: str, headers: Any, body: bytes) -> tuple[int, Any]:
        for prefix, status in self.fail.items():
            if route.startswith(prefix):
                return status, {"message": f"failed for {USER} with {SECRET_KEY}"}
        if method == "POST" and route == "/authentication":
            login = json.loads(body)
            if login == {"user": USER, "secret-key": SECRET_KEY, "strategy": "api-access"}:
                return 201, {"accessToken": self.token, "authentication": {"strategy": "jwt"}}
            return 401, {"message": f"wrong secret key for {USER}: {login.get('secret-key')}"}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "no or wrong token"}
        if method == "GET" and route.startswith("/configs/"):
            name = unquote(route[len("/configs/") :])
            return (200, self.configs[name]) if name in self.configs else (404, {})
        if method == "GET" and route.startswith("/secrets/"):
            secret_id = unquote(route[len("/secrets/") :])
            if not headers.get("SINETStream-config-publickey"):
                return 400, {"message": "no public key fingerprint"}
            return (200, self.secrets[secret_id]) if secret_id in self.secrets else (404, {})
        return 404, {}

    @contextmanager
    def running(self, tls: ssl.SSLContext | None = None) -> Iterator[FakeConfigServer]:
        """Serve on a free loopback port until the block ends; write auth.json and the key."""
        server = _HTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        self.write_auth()
        write_private_key(self.private_key_file, self.key)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
