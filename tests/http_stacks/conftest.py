"""Fixtures for the stack tests: loopback receivers (see `loopback`) and the stacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from loopback import (
    STACKS,
    Certificates,
    LiveServer,
    Recorder,
    StackFactory,
    build_app,
    make_certificates,
    serve,
)

from webhook_kit.http_stacks import NetworkStack


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    recorder = Recorder()
    with serve(build_app(recorder)) as port:
        yield LiveServer(port, recorder)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    pytest.importorskip("cryptography")
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(certificates: Certificates) -> Iterator[LiveServer]:
    recorder = Recorder()
    with serve(
        build_app(recorder),
        ssl_certfile=str(certificates.cert_file),
        ssl_keyfile=str(certificates.key_file),
    ) as port:
        yield LiveServer(port, recorder, scheme="https")


@pytest.fixture(params=sorted(STACKS))
async def make_stack(request: pytest.FixtureRequest) -> AsyncIterator[StackFactory]:
    """Build stacks of one kind (with keyword options); every one is closed after the test."""
    built: list[NetworkStack] = []

    def make(**options: Any) -> NetworkStack:
        stack = STACKS[request.param](**options)
        built.append(stack)
        return stack

    yield make
    for stack in built:
        await stack.aclose()


@pytest.fixture
def stack(make_stack: StackFactory) -> NetworkStack:
    """A stack of each kind, closed after the test."""
    return make_stack()
