"""A loopback OpenID Connect provider standing in for the Hub's OAuth, so a Space started with
``hf_oauth: true`` can be logged into by a real browser in tests.

What Gradio's OAuth routes (Authlib) use, and nothing more: the discovery document, an
authorization endpoint that signs in one fixed user at once, the token endpoint (an RS256
``id_token`` carrying the nonce and the profile claims the Hub sends: ``name``,
``preferred_username``, ``profile``, ``picture``) and the JWKS.

On the Hub a Space is reached through an HTTPS proxy, so Gradio builds its callback as
``https://$SPACE_HOST/login/callback``. The test serves the Space over plain HTTP on loopback,
so the authorization endpoint sends the browser to ``http://`` instead: it plays the proxy's part
(TLS termination) and nothing else.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlencode, urlparse


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeOidc:
    """One user, one client; remembers each authorization code's nonce until it is redeemed."""

    def __init__(self, client_id: str, username: str = "rexrank-tester") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.client_id = client_id
        self.username = username
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, str] = {}
        self.logins = 0
        self.issuer = ""

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
        return {"keys": [{"kty": "RSA", "kid": "fake-1", "use": "sig", "alg": "RS256",
                          "n": _b64(as_bytes(numbers.n)), "e": _b64(as_bytes(numbers.e))}]}

    def id_token(self, nonce: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "fake-user-id", "aud": self.client_id, "iat": now, "exp": now + 3600,
                  "nonce": nonce, "name": "ReXrank Tester", "preferred_username": self.username,
                  "profile": f"https://huggingface.co/{self.username}", "picture": "", "email_verified": False}
        signing_input = ".".join(_b64(json.dumps(part).encode()) for part in
                                 ({"alg": "RS256", "kid": "fake-1", "typ": "JWT"}, claims))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _handler(oidc: FakeOidc):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def _json(self, obj: dict, status: int = 200) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/.well-known/openid-configuration":
                base = oidc.issuer
                return self._json({"issuer": base, "authorization_endpoint": f"{base}/oauth/authorize",
                                   "token_endpoint": f"{base}/oauth/token", "jwks_uri": f"{base}/oauth/jwks",
                                   "userinfo_endpoint": f"{base}/oauth/userinfo",
                                   "id_token_signing_alg_values_supported": ["RS256"],
                                   "response_types_supported": ["code"], "scopes_supported": ["openid", "profile"]})
            if url.path == "/oauth/jwks":
                return self._json(oidc.jwks())
            if url.path == "/oauth/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if query.get("client_id") != oidc.client_id:
                    return self._json({"error": "unknown client"}, 400)
                code = secrets.token_urlsafe(16)
                oidc.codes[code] = query.get("nonce", "")
                target = query["redirect_uri"].replace("https://", "http://", 1)  # the TLS proxy's part
                sep = "&" if "?" in target else "?"
                self.send_response(302)
                self.send_header("Location", f"{target}{sep}{urlencode({'code': code, 'state': query['state']})}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json({"error": "not found"}, 404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if urlparse(self.path).path != "/oauth/token":
                return self._json({"error": "not found"}, 404)
            nonce = oidc.codes.pop(form.get("code", ""), None)
            if nonce is None:
                return self._json({"error": "invalid_grant"}, 400)
            oidc.logins += 1
            return self._json({"access_token": f"hf_oauth_{secrets.token_hex(8)}", "token_type": "bearer",
                               "expires_in": 3600, "scope": "openid profile", "id_token": oidc.id_token(nonce)})

    return Handler


@contextmanager
def running(client_id: str, username: str = "rexrank-tester") -> Iterator[FakeOidc]:
    """Serve a provider on a free loopback port; ``oidc.issuer`` is its URL (``OPENID_PROVIDER_URL``)."""
    oidc = FakeOidc(client_id, username)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(oidc))
    server.daemon_threads = True
    oidc.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield oidc
    finally:
        server.shutdown()
        server.server_close()
