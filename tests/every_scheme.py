"""Every signature scheme the toolkit ships, for the tests parametrised over them all."""

from __future__ import annotations

from webhook_kit import SignatureFormat, SignatureScheme, providers

PROVIDERS: list[SignatureScheme] = list(providers.PRESETS)
"""The receiver presets."""

ALL_SCHEMES: list[SignatureFormat | SignatureScheme] = [*SignatureFormat, *PROVIDERS]
"""Every `SignatureFormat` a subscription signs with, then every preset."""


def scheme_id(scheme: object) -> str:
    """A test id for a format (``fmt_<value>``) or a scheme (its name)."""
    if isinstance(scheme, SignatureFormat):
        return f"fmt_{scheme.value}"
    return getattr(scheme, "name", "?")


def resolved(scheme: SignatureFormat | SignatureScheme) -> SignatureScheme:
    """The scheme a format stands for (a scheme is its own)."""
    return scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
