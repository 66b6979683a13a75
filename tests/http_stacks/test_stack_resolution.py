"""Names, resolved by a fake DNS so no query leaves the machine: both stacks connect to the
address they checked, drop refused addresses, refuse a name with none left, report DNS errors.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from loopback import LOOPBACK_LISTED, STACKS, LiveServer, post

from webhook_kit.http_stacks import NetworkStack, TransportError, TransportErrorKind
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.netguard import DEFAULT_POLICY, TargetRefusedError

pytestmark = pytest.mark.anyio

DnsTable = dict[str, list[str]]


@pytest.fixture(params=sorted(STACKS))
def fake_dns(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[DnsTable], NetworkStack]:
    """Make a stack whose resolver answers from a table; a name not in it does not exist."""
    import aiohttp
    import anyio

    def install(table: DnsTable) -> NetworkStack:
        if request.param == "httpx":

            async def getaddrinfo(host: Any, port: Any, **_: Any) -> list[Any]:
                if host not in table:
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                return [
                    (
                        socket.AF_INET6 if ":" in address else socket.AF_INET,
                        socket.SOCK_STREAM,
                        6,
                        "",
                        (address, port),
                    )
                    for address in table[host]
                ]

            monkeypatch.setattr(anyio, "getaddrinfo", getaddrinfo)
            return HttpxStack()

        class FakeResolver(aiohttp.abc.AbstractResolver):
            async def resolve(
                self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
            ) -> list[aiohttp.abc.ResolveResult]:
                if host not in table:
                    raise OSError(socket.EAI_NONAME, "Name or service not known")
                return [
                    {
                        "hostname": host,
                        "host": address,
                        "port": port,
                        "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                    for address in table[host]
                ]

            async def close(self) -> None:
                pass

        monkeypatch.setattr(aiohttp, "DefaultResolver", FakeResolver)
        return AiohttpStack()

    return install


@pytest.fixture
async def fake_dns_stack(
    fake_dns: Callable[[DnsTable], NetworkStack],
) -> AsyncIterator[Callable[[DnsTable], NetworkStack]]:
    built: list[NetworkStack] = []

    def make(table: DnsTable) -> NetworkStack:
        built.append(fake_dns(table))
        return built[-1]

    yield make
    for stack in built:
        await stack.aclose()


async def test_a_name_is_connected_to_at_the_checked_address(
    fake_dns_stack: Callable[[DnsTable], NetworkStack], live_server: LiveServer
) -> None:
    stack = fake_dns_stack({"hooks.internal.test": ["127.0.0.1"]})
    response = await post(stack, live_server.url("/echo", host="hooks.internal.test"))
    assert response.status == 200
    # The request still names the host: only the connection went to the checked address.
    assert response.headers["x-host"] == f"hooks.internal.test:{live_server.port}"


async def test_a_name_resolving_to_a_private_address_is_refused(
    fake_dns_stack: Callable[[DnsTable], NetworkStack], live_server: LiveServer
) -> None:
    stack = fake_dns_stack({"rebound.test": ["127.0.0.1"]})
    before = len(live_server.recorder.requests)
    with pytest.raises(TargetRefusedError) as caught:
        await post(stack, live_server.url("/echo", host="rebound.test"), policy=DEFAULT_POLICY)
    assert (caught.value.host, caught.value.address) == ("rebound.test", "127.0.0.1")
    assert len(live_server.recorder.requests) == before


async def test_only_the_allowed_addresses_of_a_name_are_used(
    fake_dns_stack: Callable[[DnsTable], NetworkStack], live_server: LiveServer
) -> None:
    # ::1 is refused by the allow-list (and nothing listens there): were it tried first and
    # its failure reported, the POST would fail. It is dropped; 127.0.0.1 answers.
    stack = fake_dns_stack({"mixed.test": ["::1", "127.0.0.1"]})
    response = await post(
        stack, live_server.url("/echo", host="mixed.test"), policy=LOOPBACK_LISTED
    )
    assert response.status == 200


async def test_a_name_that_does_not_resolve_is_a_dns_error(
    fake_dns_stack: Callable[[DnsTable], NetworkStack], live_server: LiveServer
) -> None:
    stack = fake_dns_stack({})
    with pytest.raises(TransportError) as caught:
        await post(stack, live_server.url("/echo", host="nowhere.test"))
    assert caught.value.kind is TransportErrorKind.DNS
