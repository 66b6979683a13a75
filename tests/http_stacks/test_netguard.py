"""The network guard's classification of addresses and its policies (no traffic is sent)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import InvalidInputError
from webhook_kit.netguard import (
    DEFAULT_POLICY,
    NetworkPolicy,
    TargetRefusedError,
    allowed_addresses,
    check_address,
    is_public_address,
)

REFUSED = {
    # loopback
    "127.0.0.1": "IPv4 loopback",
    "127.255.255.254": "IPv4 loopback, end of 127/8",
    "::1": "IPv6 loopback",
    # RFC 1918
    "10.0.0.1": "10/8",
    "10.255.255.255": "10/8, last",
    "172.16.0.1": "172.16/12, first",
    "172.31.255.254": "172.16/12, last",
    "192.168.0.1": "192.168/16",
    "192.168.255.255": "192.168/16, last",
    # link-local, cloud metadata included
    "169.254.169.254": "cloud metadata endpoint",
    "169.254.0.1": "IPv4 link-local",
    # CGNAT
    "100.64.0.1": "CGNAT 100.64/10, first",
    "100.127.255.254": "CGNAT 100.64/10, last",
    # multicast
    "224.0.0.1": "IPv4 multicast",
    "239.255.255.250": "IPv4 multicast (SSDP)",
    "ff02::1": "IPv6 link-local multicast",
    "ff0e::1": "IPv6 global-scope multicast",
    # reserved, broadcast, unspecified
    "240.0.0.1": "reserved 240/4",
    "255.255.255.255": "broadcast",
    "0.0.0.0": "IPv4 unspecified",  # noqa: S104 - classified, never bound
    "0.1.2.3": "this network 0/8",
    "::": "IPv6 unspecified",
    # documentation and benchmarking
    "192.0.2.1": "TEST-NET-1",
    "198.51.100.1": "TEST-NET-2",
    "203.0.113.1": "TEST-NET-3",
    "198.18.0.1": "benchmarking 198.18/15",
    "2001:db8::1": "IPv6 documentation",
    # IPv6 ULA, link-local (with and without a scope), site-local
    "fc00::1": "IPv6 ULA fc00::/7, fc half",
    "fd12:3456:789a::1": "IPv6 ULA fc00::/7, fd half",
    "fe80::1": "IPv6 link-local",
    "fe80::1%eth0": "IPv6 link-local with a scope",
    "fe80::1%2": "IPv6 link-local with a numeric scope",
    "febf:ffff::1": "IPv6 link-local, end of fe80::/10",
    "fec0::1": "deprecated IPv6 site-local",
    # IPv4 inside IPv6
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:10.0.0.1": "IPv4-mapped 10/8",
    "::ffff:169.254.169.254": "IPv4-mapped metadata endpoint",
    "::127.0.0.1": "IPv4-compatible (deprecated) loopback",
    "::8.8.8.8": "IPv4-compatible (deprecated), any",
    "64:ff9b::7f00:1": "NAT64 of 127.0.0.1",
    "64:ff9b::a00:1": "NAT64 of 10.0.0.1",
    "64:ff9b::a9fe:a9fe": "NAT64 of 169.254.169.254",
    "64:ff9b:1::808:808": "local-use NAT64 prefix",
    "2002:7f00:1::1": "6to4 of 127.0.0.1",
    "2002:a00:1::": "6to4 of 10.0.0.1",
    "2002:c0a8:1::1": "6to4 of 192.168.0.1",
    "2002:808:808::1": "6to4 of 8.8.8.8 (6to4 is deprecated: refused whatever it wraps)",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    "2001::a00:1": "Teredo carrying 10.0.0.1-ish bits",
    "100::1": "IPv6 discard-only",
}

ALLOWED = {
    "8.8.8.8": "Google DNS",
    "1.1.1.1": "Cloudflare DNS",
    "93.184.215.14": "a public web server",
    "100.63.255.255": "just below CGNAT",
    "100.128.0.0": "just above CGNAT",
    "172.15.255.255": "just below 172.16/12",
    "172.32.0.0": "just above 172.16/12",
    "2606:4700::1111": "Cloudflare DNS over IPv6",
    "2001:4860:4860::8888": "Google DNS over IPv6",
    "::ffff:8.8.8.8": "IPv4-mapped public address",
    "64:ff9b::808:808": "NAT64 of 8.8.8.8",
}


@pytest.mark.parametrize("address", sorted(REFUSED), ids=lambda a: f"{a} ({REFUSED[a]})")
def test_refused_by_default(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert not DEFAULT_POLICY.allows(ipaddress.ip_address(address))
    with pytest.raises(TargetRefusedError) as caught:
        check_address("target.example", address, DEFAULT_POLICY)
    assert caught.value.host == "target.example"
    assert caught.value.address == address
    assert "allow_private_targets" in str(caught.value)


@pytest.mark.parametrize("address", sorted(ALLOWED), ids=lambda a: f"{a} ({ALLOWED[a]})")
def test_public_addresses_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
    check_address("target.example", address, DEFAULT_POLICY)


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_allow_private_allows_everything(address: str) -> None:
    check_address("target.example", address, NetworkPolicy(allow_private=True))


@pytest.mark.parametrize(
    "address", ["localhost", "example.com", "127.1", "0177.0.0.1", "", "1.2.3"]
)
def test_anything_but_an_ip_address_is_refused_whatever_the_policy(address: str) -> None:
    for policy in (DEFAULT_POLICY, NetworkPolicy(allow_private=True)):
        with pytest.raises(TargetRefusedError, match="not an IP address"):
            check_address("target.example", address, policy)


@pytest.mark.parametrize(
    ("networks", "address", "allowed"),
    [
        (["127.0.0.0/8"], "127.0.0.1", True),
        (["127.0.0.0/8"], "::ffff:127.0.0.1", True),  # the same destination
        (["127.0.0.0/8"], "::1", False),
        (["127.0.0.0/8"], "10.0.0.1", False),
        (["10.0.0.0/8", "fd00::/8"], "10.1.2.3", True),
        (["10.0.0.0/8", "fd00::/8"], "fd00::1", True),
        (["10.0.0.0/8", "fd00::/8"], "fc00::1", False),
        (["10.0.0.0/8", "fd00::/8"], "192.168.0.1", False),
        (["10.0.0.0/8", "fd00::/8"], "8.8.8.8", True),  # public stays allowed
        (["169.254.169.254/32"], "169.254.169.253", False),
        (["fe80::/10"], "fe80::1%eth0", True),
        (["10.1.2.3"], "10.1.2.3", True),  # a bare address is a /32
        (["10.1.2.3/8"], "10.9.9.9", True),  # host bits are tolerated, not an error
    ],
)
def test_allow_list(networks: list[str], address: str, allowed: bool) -> None:
    policy = NetworkPolicy.from_networks(networks)
    assert policy.allows(ipaddress.ip_address(address)) is allowed


@pytest.mark.parametrize("entry", ["not-a-network", "10.0.0.0/33", "", "::1/129"])
def test_allow_list_rejects_bad_entries(entry: str) -> None:
    with pytest.raises(InvalidInputError, match="not an IP network"):
        NetworkPolicy.from_networks([entry])


@pytest.mark.parametrize(
    "policy",
    [
        DEFAULT_POLICY,
        NetworkPolicy(allow_private=True),
        NetworkPolicy.from_networks(["127.0.0.0/8"]),
        NetworkPolicy.from_networks(["10.0.0.0/8", "fd00::/8", "192.168.1.7"]),
    ],
    ids=["default", "allow_private", "loopback", "mixed"],
)
def test_json_round_trip(policy: NetworkPolicy) -> None:
    assert NetworkPolicy.from_json(policy.to_json()) == policy


def test_json_forms() -> None:
    assert DEFAULT_POLICY.to_json() is False
    assert NetworkPolicy(allow_private=True).to_json() is True
    assert NetworkPolicy.from_networks(["10.0.0.0/8", "fd00::/8"]).to_json() == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    assert NetworkPolicy.from_json(False) == DEFAULT_POLICY
    assert NetworkPolicy.from_json([]) == DEFAULT_POLICY


@pytest.mark.parametrize("value", ["10.0.0.0/8", None, 1, {"allow": True}])
def test_from_json_rejects_other_shapes(value: object) -> None:
    with pytest.raises(InvalidInputError):
        NetworkPolicy.from_json(value)  # type: ignore[arg-type]


def test_policies_are_hashable_so_stacks_can_keep_one_pool_each() -> None:
    pools = {DEFAULT_POLICY: "strict", NetworkPolicy(allow_private=True): "permissive"}
    assert pools[NetworkPolicy()] == "strict"
    assert pools[NetworkPolicy.from_json(True)] == "permissive"


class TestAllowedAddresses:
    def test_drops_refused_addresses_and_keeps_the_order(self) -> None:
        addresses = ["10.0.0.1", "8.8.8.8", "127.0.0.1", "2606:4700::1111"]
        assert allowed_addresses("mixed.example", addresses, DEFAULT_POLICY) == [
            "8.8.8.8",
            "2606:4700::1111",
        ]

    def test_refuses_a_name_whose_addresses_are_all_refused(self) -> None:
        with pytest.raises(TargetRefusedError) as caught:
            allowed_addresses("internal.example", ["10.0.0.1", "fd00::1"], DEFAULT_POLICY)
        assert caught.value.host == "internal.example"
        assert caught.value.address == "10.0.0.1"  # the first refusal

    def test_nothing_in_nothing_out(self) -> None:
        assert allowed_addresses("empty.example", [], DEFAULT_POLICY) == []


ipv4_addresses = st.ip_addresses(v=4)


@given(ipv4_addresses)
def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert is_public_address(mapped) == is_public_address(address)


@given(ipv4_addresses)
def test_nat64_never_reaches_a_refused_ipv4_address_and_6to4_nothing(
    address: ipaddress.IPv4Address,
) -> None:
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1)
    assert not is_public_address(sixtofour)
    if not is_public_address(address):
        assert not is_public_address(nat64)


@given(st.ip_addresses())
def test_allow_private_allows_any_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert NetworkPolicy(allow_private=True).allows(address)
    assert DEFAULT_POLICY.allows(address) == is_public_address(address)


@given(
    st.lists(
        st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str),
        max_size=5,
    )
)
def test_allow_list_round_trips_through_json(entries: list[str]) -> None:
    policy = NetworkPolicy.from_networks(entries)
    assert NetworkPolicy.from_json(policy.to_json()) == policy
