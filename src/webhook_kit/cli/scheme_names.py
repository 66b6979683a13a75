"""``--scheme NAME``: the names `listen` and `verify` give signature schemes on the command line.

webhook-kit's own formats keep the names ``send --format`` gives them (they read
``X-Webhook-Signature``); provider presets are named after the provider. ``stripe`` is taken by
webhook-kit's own Stripe-style format, so Stripe's real webhooks (``Stripe-Signature``) are
``provider:stripe``; every provider may be written ``provider:NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from .. import providers
from ..schemes import SignatureScheme
from ..signing import SignatureFormat, scheme_of
from ..wire import HEADER_SIGNATURE

__all__ = [
    "FORMAT_NAMES",
    "PROVIDER_NAMES",
    "SCHEME_HELP",
    "SchemeName",
    "likely_schemes",
    "scheme_label",
    "scheme_name",
]

Scheme = SignatureFormat | SignatureScheme

FORMAT_NAMES: dict[str, SignatureFormat] = {member.value: member for member in SignatureFormat}
"""webhook-kit's own formats, as ``send --format`` names them."""

_PROVIDERS: dict[str, SignatureScheme] = {
    "github": providers.GITHUB,
    "shopify": providers.SHOPIFY,
    "slack": providers.SLACK,
    "standard-webhooks": providers.STANDARD_WEBHOOKS,
    "svix": providers.SVIX,
    "stripe": providers.STRIPE,
}
_PREFIX = "provider:"

PROVIDER_NAMES: dict[str, SignatureScheme] = {
    (name if name not in FORMAT_NAMES else _PREFIX + name): scheme
    for name, scheme in _PROVIDERS.items()
}
"""Provider presets by their command-line names (``provider:stripe``; the others bare)."""

SCHEME_HELP = (
    "How requests are signed. webhook-kit's own formats, named as `send --format` names them "
    "(all in X-Webhook-Signature): "
    + ", ".join(FORMAT_NAMES)
    + ". Provider presets: "
    + ", ".join(PROVIDER_NAMES)
    + " (`stripe` alone is webhook-kit's Stripe-style format; Stripe's own webhooks, with "
    "Stripe-Signature, are provider:stripe; any provider may be written provider:NAME)."
)
"""The ``--scheme`` option's help."""


def scheme_name(scheme: Scheme) -> str:
    """The command-line name of ``scheme`` (its library name if it has none)."""
    for name, known in (*FORMAT_NAMES.items(), *PROVIDER_NAMES.items()):
        if known is scheme:
            return name
    return scheme_of(scheme).name


def scheme_label(scheme: Scheme) -> str:
    """The command-line name of ``scheme`` and the header(s) its signature is read from."""
    headers = " or ".join(scheme_of(scheme).signature_header_names)
    return f"{scheme_name(scheme)} ({headers})"


if TYPE_CHECKING:
    _ParamType = click.ParamType[Scheme, object]
else:  # older click releases have no generic ParamType
    _ParamType = click.ParamType


class SchemeName(_ParamType):
    """A `SignatureFormat` or provider preset, by its command-line name (case-insensitive)."""

    name = "scheme"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """``NAME`` in usage lines (the help text lists the names)."""
        return "NAME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Scheme:
        """Look the name up; an unknown one is a usage error listing the known ones."""
        if isinstance(value, (SignatureFormat, SignatureScheme)):
            return value
        text = str(value).strip().lower()
        if text in FORMAT_NAMES:
            return FORMAT_NAMES[text]
        if text in PROVIDER_NAMES:
            return PROVIDER_NAMES[text]
        if text.startswith(_PREFIX) and text[len(_PREFIX) :] in _PROVIDERS:
            return _PROVIDERS[text[len(_PREFIX) :]]
        known = ", ".join([*FORMAT_NAMES, *PROVIDER_NAMES])
        raise click.BadParameter(f"{str(value)!r} is not a scheme; known: {known}", ctx, param)


# What a value in X-Webhook-Signature looks like, format by format.
_OWN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hex_sha256_with_prefix", re.compile(r"sha256=[0-9a-fA-F]{64}")),
    ("stripe", re.compile(r"(?=.*(?:^|,)\s*t=\d+)(?=.*(?:^|,)\s*v1=[0-9a-fA-F]{64}).*")),
    ("standard_webhooks", re.compile(r"v1a?,\S+(?: v1a?,\S+)*")),
    ("hex_sha256", re.compile(r"[0-9a-fA-F]{64}")),
    ("base64_sha256", re.compile(r"[A-Za-z0-9+/]{43}=")),
)


def likely_schemes(headers: Mapping[str, str]) -> list[str]:
    """Names of the schemes whose signature headers ``headers`` carries, best guess first.

    For webhook-kit's own header the value's shape decides (``sha256=…`` is
    ``hex_sha256_with_prefix``, ``t=…,v1=…`` is ``stripe`` …).

    Args:
        headers: a case-insensitive mapping (Starlette's ``Headers``).
    """
    found: list[str] = []
    own = headers.get(HEADER_SIGNATURE)
    if own is not None:
        value = own.strip()
        found.extend(name for name, shape in _OWN_SHAPES if shape.fullmatch(value))
    # A provider's first signature header only: Svix also reads webhook-signature, which
    # would make every Standard Webhooks request look like Svix's.
    found.extend(
        name
        for name, scheme in PROVIDER_NAMES.items()
        if headers.get(scheme.signature_header) is not None
    )
    if own is not None and "standard-webhooks" in found and "standard_webhooks" in found:
        found.remove("standard-webhooks")  # webhook-kit's format sends both header sets
    return found
