"""Ed25519 signatures for Standard Webhooks' asymmetric ``v1a`` scheme (extra ``ed25519``).

``whsk_`` keys sign and ``whpk_`` keys verify; both are base64 after the prefix. A signing
key is the 32-byte seed, or the 64-byte seed followed by its public key.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .errors import InvalidSecretError, MissingDependencyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = ["ensure_available", "public_key_of", "sign", "verify"]

_INSTALL_HINT = "Ed25519 (v1a) keys need the ed25519 extra: pip install 'webhook-kit[ed25519]'"
_SEED_LENGTH = 32


def ensure_available() -> None:
    """Raise `MissingDependencyError` unless ``cryptography`` can be imported."""
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc


@functools.lru_cache(maxsize=64)
def _private_key(signing_key: bytes) -> Ed25519PrivateKey:
    ensure_available()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(signing_key[:_SEED_LENGTH])
    if (
        len(signing_key) > _SEED_LENGTH
        and public_key_of(signing_key) != signing_key[_SEED_LENGTH:]
    ):
        raise InvalidSecretError("the whsk_ key's public half does not match its seed")
    return key


@functools.lru_cache(maxsize=64)
def _public_key(public_key: bytes) -> Ed25519PublicKey:
    ensure_available()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(public_key) != _SEED_LENGTH:
        raise InvalidSecretError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
    return Ed25519PublicKey.from_public_bytes(public_key)


@functools.lru_cache(maxsize=64)
def public_key_of(signing_key: bytes) -> bytes:
    """Return the raw 32-byte public key of a raw signing key (seed, or seed + public key)."""
    ensure_available()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.from_private_bytes(signing_key[:_SEED_LENGTH])
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(signing_key: bytes, message: bytes) -> bytes:
    """Sign ``message`` with a raw signing key; return the 64-byte signature."""
    return _private_key(signing_key).sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``."""
    from cryptography.exceptions import InvalidSignature

    try:
        _public_key(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True
