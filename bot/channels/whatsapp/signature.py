"""Twilio's request signatures (`X-Twilio-Signature`), checked against the URL Twilio called."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlparse

from starlette.datastructures import FormData
from starlette.requests import Request
from twilio.request_validator import RequestValidator, add_port, compare, remove_port

SIGNATURE_HEADER = "x-twilio-signature"


class SignatureCheck:
    """Twilio's signature check, computed with twilio's own `RequestValidator.compute_signature`.

    Twilio may sign the URL with or without the default port, so both forms are accepted. The library's
    `validate` parses the URL and computes both signatures for every request; here the two forms are worked out
    once per URL and the second is computed only when the first does not match.
    """

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)

    @staticmethod
    @lru_cache(maxsize=64)  # our two paths; a query string would add more, so it is bounded
    def url_forms(url: str) -> tuple[str, ...]:
        parsed = urlparse(url)
        return tuple(dict.fromkeys((remove_port(parsed), add_port(parsed))))

    def valid(self, url: str, form: FormData, signature: str) -> bool:
        return any(compare(self.validator.compute_signature(u, form), signature) for u in self.url_forms(url))


def signed_url(public_url: str | None, request: Request) -> str:
    """The URL Twilio signed: behind a proxy, scheme and host are PUBLIC_URL's, not what the app sees."""
    query = request.url.query
    return f"{public_url}{request.url.path}{'?' + query if query else ''}"
