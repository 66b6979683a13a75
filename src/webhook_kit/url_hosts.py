"""Which hosts a target URL may name: only those every parser on the way reads alike.

httpx and aiohttp (yarl), the resolver, and whatever a receiver's proxy runs disagree on some
spellings: numeric IPv4 forms other than the dotted quad (``2130706433``, ``127.1``,
``0x7f.1``: a socket reads them as 127.0.0.1, `ipaddress` and yarl do not), percent-escapes and
empty labels in a name. `host_problem` names what is wrong with such a
host, so the subscription refuses it where the URL is given; `looks_like_an_address` lets both
stacks treat a host that reaches them anyway (an old stored job) the same way.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["host_problem", "looks_like_an_address", "numeric_ipv4"]

_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.IGNORECASE)
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_MAX_NAME = 253


def _labels(host: str) -> list[str]:
    # A name may end in one dot (fully qualified); it is not an empty label.
    return (host[:-1] if host.endswith(".") and len(host) > 1 else host).split(".")


def _ends_in_a_number(labels: list[str]) -> bool:
    """The URL Standard's test: a host whose last label is a number is an IPv4 address."""
    last = labels[-1]
    return bool(last) and ((last.isascii() and last.isdigit()) or bool(_HEX.fullmatch(last)))


def looks_like_an_address(host: str) -> bool:
    """Whether ``host`` is to be read as an IP address, not resolved as a name: an IPv6 literal,
    or a host that ends in a number (which a socket would read as some IPv4 address)."""
    return ":" in host or _ends_in_a_number(_labels(host))


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address that ``host`` spells in any of the URL Standard's numeric forms
    (``127.1``, ``2130706433``, ``0x7f.1``, ``017700000001`` …), or ``None``."""
    labels = _labels(host)
    if not 1 <= len(labels) <= 4:
        return None
    numbers = []
    for label in labels:
        if _HEX.fullmatch(label):
            number = int(label[2:] or "0", 16)
        elif label.isascii() and label.isdigit():
            if len(label) > 1 and label[0] == "0":  # octal
                if not set(label) <= set("01234567"):
                    return None
                number = int(label, 8)
            else:
                number = int(label)
        else:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def host_problem(host: str) -> str | None:
    """What makes ``host`` (a URL's host as httpx normalised it: lower case, IDNA-encoded, IPv6
    without brackets) unsafe to send to, or ``None`` if it is a plain name or address."""
    if ":" in host:
        if "%" in host:
            return "has an IPv6 zone, which a URL cannot carry to every HTTP stack alike"
        return None
    if "%" in host:
        return "has percent-escapes: write the name itself"
    labels = _labels(host)
    if _ends_in_a_number(labels):
        try:
            if str(ipaddress.IPv4Address(host)) == host:
                return None
        except ValueError:
            pass
        address = numeric_ipv4(host)
        if address is None:
            return "ends in a number but is not an IPv4 address"
        return f"spells the IPv4 address {address} in a form parsers disagree on: write {address}"
    if len(host) > _MAX_NAME + host.endswith("."):
        return f"is longer than {_MAX_NAME} characters"
    for label in labels:
        if not label:
            return "has an empty label (two dots in a row, or a leading dot)"
        if not _LABEL.fullmatch(label):
            return (
                "has a label that is not letters, digits, hyphens and underscores"
                if len(label) <= 63
                else "has a label longer than 63 characters"
            )
    return None
