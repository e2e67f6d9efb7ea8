"""TLS through the library: peer and host verification are on by default, `ca_bundle` selects the
trusted certificates, and nothing turns verification off.

A small HTTPS server on 127.0.0.1 (standard library `ssl` over `http.server`) answers every POST
with a CompletionResponse; its certificates are made with the openssl command line.
"""

import ctypes
import http.server
import json
import shutil
import ssl
import subprocess
import threading

import pytest

from humanloop_native import ApiConnectionError, Humanloop
from humanloop_native._native import lib, take_string
from hlpy_support import API_KEY, MODEL_CONFIG

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed")

BODY = {"data": [{"id": "data_tls", "index": 0, "output": "over TLS", "raw_output": "over TLS",
                  "inputs": {}, "model_config_id": "config_tls"}], "provider_responses": []}


def make_certificate(directory, name, subject_alt_names):
    """A self-signed certificate and key for `subject_alt_names`; returns (cert path, key path)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={subject_alt_names}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        payload = json.dumps(BODY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class TLSServer:
    def __init__(self, cert, key):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    return {
        "loopback": make_certificate(directory, "loopback", "IP:127.0.0.1,DNS:localhost"),
        "elsewhere": make_certificate(directory, "elsewhere", "DNS:api.example.test"),
    }


def call(port, **config):
    with Humanloop(api_key=API_KEY, host=f"https://127.0.0.1:{port}/v4", max_retries=0, timeout=10,
                   **config) as client:
        return client.complete(model_config=MODEL_CONFIG)


def test_untrusted_certificate_is_refused_by_default(certificates):
    with TLSServer(*certificates["loopback"]) as server:
        with pytest.raises(ApiConnectionError) as info:
            call(server.port)
    message = str(info.value)
    assert "certificate" in message.lower(), message
    assert API_KEY not in message
    assert info.value.attempts == 1  # a verification failure is not retried


def test_ca_bundle_trusts_the_server(certificates):
    cert, key = certificates["loopback"]
    with TLSServer(cert, key) as server:
        response = call(server.port, ca_bundle=str(cert))
    assert response.status == 200
    assert response.body["data"][0]["output"] == "over TLS"
    assert response.timings["tls"] > 0


def test_host_name_is_verified(certificates):
    # Trusted certificate, but issued for another name than the one connected to.
    cert, key = certificates["elsewhere"]
    with TLSServer(cert, key) as server:
        with pytest.raises(ApiConnectionError) as info:
            call(server.port, ca_bundle=str(cert))
    assert "127.0.0.1" in str(info.value) or "certificate" in str(info.value).lower(), str(info.value)


def test_missing_ca_bundle_is_a_connection_error(certificates, tmp_path):
    cert, key = certificates["loopback"]
    with TLSServer(cert, key) as server:
        with pytest.raises(ApiConnectionError):
            call(server.port, ca_bundle=str(tmp_path / "no-such-file.pem"))


@pytest.mark.parametrize("option", ["verify", "verify_ssl", "ssl_verify", "ssl_verifypeer", "ssl_verifyhost",
                                    "insecure", "tls_verify"])
def test_no_configuration_key_turns_verification_off(option):
    # Straight to the C API: the library itself knows no such key.
    config = json.dumps({"api_key": API_KEY, option: False}).encode()
    error = ctypes.c_void_p()
    handle = lib.hl_client_new(config, ctypes.byref(error))
    assert not handle
    envelope = json.loads(take_string(error.value))
    assert envelope["error"]["type"] == "invalid_config"
    assert envelope["error"]["message"] == f'unknown configuration key "{option}"'
