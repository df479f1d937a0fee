"""The dashboard's session cookie and CSRF tokens.

The cookie is signed (itsdangerous, keyed by SECRET_KEY) and holds only the account id, the account's
session epoch when it signed in, and a random nonce. Nothing is stored on the server, so any web process can
serve any request; every request re-reads the account, so disabling it or bumping its epoch (password change)
signs out every session at once. The CSRF token is an HMAC of the nonce: it is fixed for one session, differs
between sessions, and is compared in constant time. Anonymous visitors get a nonce too, so the login form
carries a token like every other form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "sahulat_staff"
MAX_AGE_SECONDS = 12 * 3600  # a working day; then sign in again
_SALT = "sahulat.staff.session"


@dataclass
class SessionData:
    nonce: str
    user_id: int | None = None
    epoch: int = 0


class Sessions:
    """Signs and checks session cookies with one key; `secure` adds the Secure flag (https deployments)."""

    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
        self._csrf_key = hashlib.sha256(b"sahulat.staff.csrf\0" + secret_key.encode()).digest()
        self.secure = secure

    def read(self, request: Request) -> SessionData | None:
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return None
        user_id, epoch = data.get("u"), data.get("e", 0)
        if (user_id is not None and not isinstance(user_id, int)) or not isinstance(epoch, int):
            return None
        return SessionData(nonce=data["n"], user_id=user_id, epoch=epoch)

    @staticmethod
    def new(user_id: int | None = None, epoch: int = 0) -> SessionData:
        """A fresh nonce on every sign-in, so a token seen before signing in is worthless after."""
        return SessionData(nonce=secrets.token_urlsafe(18), user_id=user_id, epoch=epoch)

    def write(self, response: Response, data: SessionData, path: str, *, https: bool = False) -> None:
        """`https`: the request came over https, so the cookie is Secure even when PUBLIC_URL does not say so."""
        value = self._serializer.dumps({"n": data.nonce, "u": data.user_id, "e": data.epoch})
        secure = self.secure or https
        response.set_cookie(
            COOKIE_NAME, value, path=path, httponly=True, samesite="strict", secure=secure, max_age=None
        )

    def clear(self, response: Response, path: str, *, https: bool = False) -> None:
        secure = self.secure or https
        response.delete_cookie(COOKIE_NAME, path=path, httponly=True, samesite="strict", secure=secure)

    def csrf_token(self, data: SessionData) -> str:
        return hmac.new(self._csrf_key, data.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, data: SessionData | None, token: object) -> bool:
        if data is None or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.csrf_token(data).encode(), token.encode("utf-8", "replace"))
