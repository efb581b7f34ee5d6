"""HTTP to the configuration server: one session, timeouts, TLS verified, errors translated.

Every failure of ``requests`` is translated in :func:`_translated`, from one
table; HTTP statuses in :meth:`Client.call`. No message carries a request or
response body: those hold the secret key, the token and the secrets.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sinetstream import error
from sinetstream.error import (
    AuthorizationError,
    InvalidConfigError,
    NoConfigError,
    NoServiceError,
    SinetError,
)

if TYPE_CHECKING:
    import requests

__all__ = ["API_PREFIX", "DEFAULT_TIMEOUT", "Client"]

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0  # seconds, for connecting and for each read
_INSTALL = "pip install 'requests>=2.32,<3' (a dependency of sinetstream-core)"

_log = logging.getLogger("sinetstream.config_server")


def _import_requests() -> Any:
    try:
        import requests
    except ImportError as exc:
        raise NoConfigError(
            f"the configuration server client needs the requests package: {_INSTALL}"
        ) from exc
    return requests


def _os_reason(exc: BaseException) -> str | None:
    """The innermost operating-system reason (``Connection refused``), if any."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: urllib3 keeps causes in args and ``reason``."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                stack.append(linked)


def _was_reset(exc: BaseException) -> bool:
    # http.client.RemoteDisconnected (a kept-alive connection the server closed) is one too.
    return any(isinstance(cause, ConnectionResetError) for cause in _causes(exc))


def _error_table(
    requests_module: Any,
) -> tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], type[SinetError], str], ...
]:
    ex = requests_module.exceptions
    return (
        (
            ex.SSLError,
            error.ConnectionError,
            "the server's TLS certificate cannot be verified: give its CA bundle "
            '("ca-bundle" in auth.json or ca_bundle=)',
        ),
        (ex.Timeout, error.ConnectionError, "no answer within {timeout:g} s"),
        (ex.ConnectionError, error.ConnectionError, "cannot connect to the server ({reason})"),
        (
            (ex.InvalidURL, ex.MissingSchema, ex.InvalidSchema),
            InvalidConfigError,
            "the server address is not an http:// or https:// URL",
        ),
        (ex.RequestException, error.ConnectionError, "the request failed ({name})"),
    )


@contextlib.contextmanager
def _translated(what: str, timeout: float) -> Iterator[None]:
    requests_module = _import_requests()
    try:
        yield
    except requests_module.exceptions.RequestException as exc:
        for foreign, ours, template in _error_table(requests_module):
            if isinstance(exc, foreign):
                reason = _os_reason(exc) or type(exc).__name__
                text = template.format(timeout=timeout, reason=reason, name=type(exc).__name__)
                raise ours(f"{what}: {text}") from exc
        raise  # unreachable: RequestException is the table's last row


def _status_error(status: int, reason: str, what: str, not_found: bool) -> SinetError:
    if status == 401:
        return AuthorizationError(f"{what}: the server refused the credentials (401 {reason})")
    if status == 404 and not_found:
        return NoServiceError(f"{what}: not found on the server (404 {reason})")
    return error.ConnectionError(f"{what}: the server answered {status} {reason}")


class Client:
    """A session with one configuration server (``{address}/api/v1``).

    TLS certificates are verified, against ``ca_bundle`` when given (else the
    system's store, or ``REQUESTS_CA_BUNDLE``). A request whose connection is
    reset is sent once more; nothing else is retried. Redirects are not
    followed, so credentials never go to another host.
    """

    def __init__(
        self, address: str, *, ca_bundle: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        requests_module = _import_requests()
        self.address = address.rstrip("/")
        self._session: requests.Session = requests_module.Session()
        self._verify: bool | str = ca_bundle or True
        self._timeout = timeout
        self._token: str | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections and forget the token."""
        self._token = None
        self._session.close()

    def set_token(self, token: str) -> None:
        """Send ``Authorization: Bearer <token>`` with every later request."""
        self._token = token

    def _send(
        self, method: str, url: str, body: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> requests.Response:
        return self._session.request(
            method,
            url,
            json=body,
            headers=headers,
            timeout=self._timeout,
            verify=self._verify,
            allow_redirects=False,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        expect: int,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        not_found: bool = True,
    ) -> Any:
        """Send one request; return the decoded JSON answer of status ``expect``.

        ``what`` starts every error message. 401 is an :class:`AuthorizationError`,
        404 (when ``not_found``) a :class:`NoServiceError`, any other status a
        :class:`ConnectionError`; an answer that is not JSON an :class:`InvalidConfigError`.
        """
        requests_module = _import_requests()
        url = self.address + API_PREFIX + path
        all_headers = dict(headers or {})
        if self._token is not None:
            all_headers["Authorization"] = f"Bearer {self._token}"
        with _translated(what, self._timeout):
            try:
                response = self._send(method, url, body, all_headers)
            except requests_module.exceptions.ConnectionError as exc:
                if not _was_reset(exc):
                    raise
                _log.info("%s: the connection was reset; sending once more", what)
                response = self._send(method, url, body, all_headers)
        _log.debug("%s %s -> %d", method, path, response.status_code)
        if response.status_code != expect:
            raise _status_error(response.status_code, response.reason, what, not_found)
        try:
            return response.json()
        except ValueError:
            raise InvalidConfigError(f"{what}: the server's answer is not JSON") from None
