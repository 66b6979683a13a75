"""The network guard (SSRF): which addresses a delivery may connect to.

The check runs where connections are made, on the addresses DNS returned, and the connection
goes to the address that was checked, so a name that resolves to a private address — or
re-resolves to one later (DNS rebinding) — is refused all the same.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidInputError, WebhookKitError
from .fix_hints import fix

__all__ = [
    "DEFAULT_POLICY",
    "NetworkPolicy",
    "TargetRefusedError",
    "allowed_addresses",
    "check_address",
    "is_public_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
# Networks `is_global` calls global on some Python versions, refused here whatever the version:
# the local-use NAT64 prefix (RFC 8215: translates to whatever the operator chose, private
# included), IPv4-compatible addresses (deprecated by RFC 4291; ``::7f00:1`` is 127.0.0.1 to
# some stacks), the deprecated site-local fec0::/10, and 6to4 (deprecated by RFC 7526; a relay
# picks the IPv4 destination, and Python 3.13 no longer calls any of it global).
_REFUSED_IPV6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("2002::/16"),
)


class TargetRefusedError(WebhookKitError):
    """The network guard refused a target address: no byte was sent. Fatal for a delivery."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(
            f"the network guard refused to connect to {host} ({address}): {why}; "
            + fix(
                "opt in with WebhookSubscription.allow_private_targets(True) or an allow-list "
                "of networks",
                "send it again with --allow-private-targets to allow it",
            )
        )
        self.host = host
        self.address = address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a NAT64 (64:ff9b::/96) or Teredo IPv6 address.

    (6to4 is refused outright; Teredo is too, on every Python version so far, through
    `is_global` — the check here keeps it refused should that ever change.)
    """
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (and so is any IPv4 address it wraps).

    Refused: loopback, private, link-local (169.254.169.254 included), CGNAT (100.64/10),
    multicast, reserved (240/4), broadcast, unspecified, documentation and benchmark ranges,
    IPv6 ULA, link-local and site-local, any address with an IPv6 scope, Teredo, 6to4, the
    local-use NAT64 prefix, IPv4-compatible ``::a.b.c.d``, and the NAT64 (64:ff9b::/96) form
    of a refused IPv4 address. An IPv4-mapped address (``::ffff:a.b.c.d``) is judged as the
    IPv4 address it is. The same on every supported Python version.

    Example:

        >>> is_public_address(ipaddress.ip_address("8.8.8.8"))
        True
        >>> is_public_address(ipaddress.ip_address("::ffff:10.0.0.1"))
        False
    """
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            # A dual-stack socket connecting to ::ffff:a.b.c.d reaches a.b.c.d: judge that,
            # the same way on every Python version (their `is_global` differ on this range).
            return is_public_address(mapped)
        if address.scope_id or any(address in network for network in _REFUSED_IPV6):
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which non-public addresses a delivery may reach.

    Attributes:
        allow_private: every address is allowed (``allow_private_targets(True)``).
        allowed_networks: networks allowed besides public addresses.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_networks(cls, networks: Iterable[str | IPNetwork]) -> NetworkPolicy:
        """Build a policy from an allow-list such as ``["10.0.0.0/8", "fd00::/8"]``.

        Raises:
            InvalidInputError: an entry is not a network.
        """
        parsed: list[IPNetwork] = []
        for network in networks:
            if isinstance(network, (bytes, bytearray)):
                raise InvalidInputError(f"not an IP network: {network!r}")
            try:
                parsed.append(ipaddress.ip_network(network, strict=False))
            except (TypeError, ValueError):
                raise InvalidInputError(f"not an IP network: {network!r}") from None
        return cls(allow_private=False, allowed_networks=tuple(parsed))

    def allows(self, address: IPAddress) -> bool:
        """Whether a connection to ``address`` is allowed."""
        if self.allow_private or is_public_address(address):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # ::ffff:10.0.0.1 is 10.0.0.1 on the wire: an allow-listed 10.0.0.0/8 covers it.
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_networks)

    def to_json(self) -> bool | list[str]:
        """``True``, ``False`` or the allow-list as strings (what a stored job keeps)."""
        if self.allow_private:
            return True
        if not self.allowed_networks:
            return False
        return [str(network) for network in self.allowed_networks]

    @classmethod
    def from_json(cls, value: bool | list[str]) -> NetworkPolicy:
        """The inverse of `to_json`.

        Raises:
            InvalidInputError: ``value`` is neither a bool nor a list of networks.
        """
        if isinstance(value, bool):
            return cls(allow_private=value)
        # A bare string would otherwise be read one character at a time.
        if not isinstance(value, list):
            raise InvalidInputError(
                f"a network policy is a bool or a list of networks, not {value!r}"
            )
        return cls.from_networks(value)


DEFAULT_POLICY = NetworkPolicy()
"""Public addresses only."""


def check_address(host: str, address: str, policy: NetworkPolicy) -> None:
    """Raise `TargetRefusedError` unless ``policy`` allows connecting to ``address``.

    Args:
        host: the name in the URL (for the message).
        address: the resolved IP address (an IPv6 scope such as ``%eth0`` is refused).
        policy: the delivery's policy.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise TargetRefusedError(host, address, "not an IP address") from None
    if not policy.allows(parsed):
        raise TargetRefusedError(host, address, "not a public address")


def allowed_addresses(host: str, addresses: Iterable[str], policy: NetworkPolicy) -> list[str]:
    """The addresses ``host`` resolved to that ``policy`` allows, in their order.

    A name is refused only when every address it resolved to is refused; otherwise the
    refused addresses are dropped, so a connection can only ever go to an allowed one.

    Args:
        host: the name in the URL (for the message).
        addresses: the resolved IP addresses.
        policy: the delivery's policy.

    Returns:
        The allowed addresses (empty only when ``addresses`` is).

    Raises:
        TargetRefusedError: every address was refused (the first refusal is raised).
    """
    allowed: list[str] = []
    first_refusal: TargetRefusedError | None = None
    for address in addresses:
        try:
            check_address(host, address, policy)
        except TargetRefusedError as refusal:
            first_refusal = first_refusal or refusal
        else:
            allowed.append(address)
    if not allowed and first_refusal is not None:
        raise first_refusal
    return allowed
