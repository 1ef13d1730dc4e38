"""NTLM over HTTP in two round trips instead of three.

requests_ntlm always sends the first request without credentials, waits for
the 401, and only then starts NTLM: three HTTP exchanges before the first
SOAP message. Windows accepts the NTLM Negotiate token on the very first
request (pypsrp and WinRM's own client do this), so for plain-HTTP endpoints
(where pywinrm sets up message encryption with an empty POST) we send the
Negotiate pre-emptively and answer the challenge: two exchanges.

Over HTTPS we keep requests_ntlm's flow: the channel-binding token needs
the server certificate, which is known only after the first response.

:class:`EagerNtlmTransport` is swapped in for pywinrm's ``Transport`` on a
per-session basis (it only overrides ``setup_encryption``), so nothing global
is patched.
"""

from __future__ import annotations

import base64
import typing as t
from functools import lru_cache
from urllib.parse import urlparse

import requests
import spnego
from requests_ntlm import HttpNtlmAuth
from requests_ntlm.requests_ntlm import ShimSessionSecurity
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from winrm.transport import Transport

_SCHEMES = ("Negotiate", "NTLM")


@lru_cache(maxsize=64)
def ntlm_hash_credential(password: str) -> str:
    """The password as pyspnego's ``LM:NT`` hash form, computed once per password.

    pyspnego derives both hashes for every new security context; its LM hash is
    pure-Python DES, about 8 ms of CPU per host. A sweep uses one password for
    many hosts, so computing it once takes that off every probe. pyspnego
    accepts the hash form wherever it accepts a password.
    """
    return f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"


class EagerNtlmAuth(HttpNtlmAuth):
    """HttpNtlmAuth that sends its Negotiate token with the first request."""

    def __init__(self, username: str, password: str, hostname: str) -> None:
        super().__init__(username, password, send_cbt=False)
        self._hostname = hostname
        self._client: t.Any = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Connection"] = "Keep-Alive"
        if self.session_security is None and self._client is None:
            self._client = spnego.client(self.username, self.password, protocol="ntlm", hostname=self._hostname,
                                         service="http", options=spnego.NegotiateOptions.use_ntlm)
            token = base64.b64encode(self._client.step() or b"").decode()
            r.headers["Authorization"] = f"Negotiate {token}"
            r.register_hook("response", self._answer_challenge)
        else:
            r.register_hook("response", self.response_hook)
        return r

    def _answer_challenge(self, response: requests.Response, **kwargs: t.Any) -> requests.Response:
        if response.status_code != 401 or self.session_security is not None:
            return response
        challenge = _challenge_token(response.headers.get("www-authenticate", ""))
        if challenge is None:
            return response  # no NTLM challenge: pywinrm reports the 401 as rejected credentials
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.raw.release_conn()
        request = response.request.copy()
        token = base64.b64encode(self._client.step(challenge) or b"").decode()
        request.headers["Authorization"] = f"Negotiate {token}"
        answer: requests.Response = response.connection.send(request, **kwargs)
        answer.history.append(response)
        self.session_security = ShimSessionSecurity(self._client)
        return answer


def _challenge_token(header: str) -> bytes | None:
    for part in header.split(","):
        scheme, _, value = part.strip().partition(" ")
        if scheme in _SCHEMES and value.strip():
            return base64.b64decode(value.strip())
    return None


class EagerNtlmTransport(Transport):
    """pywinrm's Transport, with the eager NTLM handshake for HTTP endpoints.

    It also turns off requests' ``trust_env``: proxies are already disabled
    for WinRM (``proxy=None``), yet requests would still scan the whole
    environment for proxy variables on every request (about 1 ms of CPU each).
    """

    def build_session(self) -> requests.Session:
        session = super().build_session()
        session.trust_env = False
        return session

    def setup_encryption(self, session: requests.Session) -> None:
        session.trust_env = False
        if self.auth_method == "ntlm" and isinstance(session.auth, HttpNtlmAuth) \
                and not self.endpoint.lower().startswith("https"):
            hostname = urlparse(self.endpoint).hostname or ""
            session.auth = EagerNtlmAuth(self.username or "", self.password or "", hostname)
        super().setup_encryption(session)
