"""In-process routing: which app of a test serves a delivery's URL.

A `ReceiverRouter` knows two kinds of targets: `MockReceiver`s, each on a host of its own under
the reserved test domain, and the test's own ASGI apps, each mounted at a URL prefix. It is also
an httpx transport, for tests that deliver through an ``httpx.AsyncClient`` of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx
from starlette.types import ASGIApp

from ..errors import InvalidInputError
from ..netguard import TargetRefusedError
from .receiver import MockReceiver

__all__ = ["MountedApp", "ReceiverRouter", "UnroutableTargetError"]


class UnroutableTargetError(TargetRefusedError):
    """A delivery in a test aimed at a URL that no `MockReceiver` or mounted app of it serves."""

    def __init__(self, url: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none yet"
        Exception.__init__(
            self,
            f"{url} is not a receiver of this test, so fake_queue refused it (nothing leaves the "
            f"process). Known receivers: {listing}. Aim the subscription at "
            "webhook_receiver.url, add your MockReceiver with fake_queue.add_receiver(), or "
            "serve your own app there with fake_queue.mount(url_prefix, app).",
        )
        self.host = httpx.URL(url).host
        self.address = ""


def _origin(parts: SplitResult) -> tuple[str, str]:
    """(scheme, host[:port]) in lower case, without credentials and without a default port."""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    return scheme, host


@dataclass(frozen=True, slots=True)
class MountedApp:
    """An ASGI app that serves every URL under ``prefix`` (the path is passed on whole).

    Attributes:
        prefix: the URL prefix, normalised: ``scheme://host[:port]/path`` without a trailing
            slash (``https://shop.example`` for a whole host).
        app: the ASGI app.
    """

    prefix: str
    app: ASGIApp
    scheme: str
    host: str
    path: str

    @classmethod
    def at(cls, url_prefix: str, app: ASGIApp) -> MountedApp:
        """Check and normalise ``url_prefix``.

        Raises:
            InvalidInputError: it is not an absolute ``http://`` or ``https://`` URL, or it has
                credentials, a query or a fragment; or ``app`` is not callable.
        """
        if not callable(app):
            raise InvalidInputError(f"mount() needs an ASGI app, not {type(app).__name__}")
        if not isinstance(url_prefix, str):
            raise InvalidInputError(
                f"the URL prefix must be a string, not {type(url_prefix).__name__}"
            )
        try:
            parts = urlsplit(url_prefix)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError as exc:
            raise InvalidInputError(f"the URL prefix is not a valid URL: {exc}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                "the URL prefix must be a full URL with http:// or https:// and a host, "
                "e.g. 'https://shop.example/webhooks'"
            )
        if parts.username is not None or parts.password is not None:
            raise InvalidInputError("the URL prefix may not carry credentials (user:password@)")
        if parts.query or parts.fragment or url_prefix.endswith(("?", "#")):
            raise InvalidInputError("the URL prefix may not have a query or a fragment")
        scheme, host = _origin(parts)
        path = parts.path.rstrip("/")
        return cls(f"{scheme}://{host}{path}", app, scheme, host, path)

    def serves(self, parts: SplitResult) -> bool:
        """Whether the URL is this prefix or under it, at a ``/`` boundary."""
        if _origin(parts) != (self.scheme, self.host):
            return False
        path = parts.path
        return path == self.path or path.startswith(self.path + "/") or not self.path


class ReceiverRouter(httpx.AsyncBaseTransport):
    """Routes requests to the test's mounted apps by URL prefix, and to its receivers by host;
    refuses every other URL.

    Attributes:
        refused: the URLs (without query) of deliveries no app or receiver serves.
        app_errors: the exceptions mounted apps raised (a real server answers 500 for them).
    """

    def __init__(self) -> None:
        self._receivers: dict[str, MockReceiver] = {}
        self._mounts: list[MountedApp] = []
        self.refused: list[str] = []
        self.app_errors: list[str] = []

    def add(self, receiver: MockReceiver) -> MockReceiver:
        """Route ``receiver.host`` to ``receiver``."""
        self._receivers[receiver.host.lower()] = receiver  # host names are case-insensitive
        return receiver

    def mount(self, url_prefix: str, app: ASGIApp) -> MountedApp:
        """Route every URL under ``url_prefix`` to ``app``; the longest matching prefix wins.

        Raises:
            InvalidInputError: the prefix is not a plain ``http(s)://host[/path]`` URL, or is
                mounted already.
        """
        mounted = MountedApp.at(url_prefix, app)
        if any(existing.prefix == mounted.prefix for existing in self._mounts):
            raise InvalidInputError(f"an app is mounted at {mounted.prefix} already")
        self._mounts.append(mounted)
        self._mounts.sort(key=lambda entry: len(entry.path), reverse=True)
        return mounted

    def get(self, host: str) -> MockReceiver | None:
        """The receiver for ``host``, if any."""
        return self._receivers.get(host.lower())

    def mounted_app(self, url: str) -> MountedApp | None:
        """The mounted app that serves ``url``, if any."""
        parts = urlsplit(url)
        return next((entry for entry in self._mounts if entry.serves(parts)), None)

    @property
    def receivers(self) -> list[MockReceiver]:
        """The receivers routed to."""
        return list(self._receivers.values())

    @property
    def mounts(self) -> list[MountedApp]:
        """The mounted apps, longest prefix first."""
        return list(self._mounts)

    def known(self) -> list[str]:
        """Every URL this router serves: mounted prefixes, then receivers' URLs."""
        return [entry.prefix for entry in self._mounts] + [r.url for r in self.receivers]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Hand ``request`` to its mounted app or receiver, in-process."""
        mounted = self.mounted_app(str(request.url))
        if mounted is not None:
            return await httpx.ASGITransport(app=mounted.app).handle_async_request(request)
        receiver = self._receivers.get(request.url.host.lower())
        if receiver is None:
            url = str(request.url.copy_with(query=None))
            self.refused.append(url)
            raise UnroutableTargetError(url, self.known())
        return await receiver.transport.handle_async_request(request)
