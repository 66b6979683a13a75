"""Turning the secrets users pass into key material, with one rule everywhere.

* Any non-empty ``bytes`` is an HMAC key used as-is.
* A ``str`` is an HMAC key as its UTF-8 bytes, except for the Standard Webhooks and Svix
  schemes: there a ``str`` secret is base64, with or without its ``whsec_`` prefix (padding
  optional), as every official Standard Webhooks and Svix library decodes it; one that is not
  base64 raises `InvalidSecretError`. Only these schemes understand the asymmetric ``whsk_``
  (signing) and ``whpk_`` (verifying) Ed25519 keys.
* A list or tuple of secrets means rotation: the first one signs, any of them verifies.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import NamedTuple

from . import ed25519
from .errors import InvalidSecretError

__all__ = ["KeySet", "Secret", "SecretOrSecrets", "resolve_keys"]

Secret = str | bytes
"""One secret: an HMAC key, or (Standard Webhooks schemes) a ``whsec_``/``whsk_``/``whpk_``
key."""

SecretOrSecrets = Secret | Sequence[Secret]
"""A secret, or several for rotation (the first one signs, any of them verifies)."""

WHSEC_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
MAX_SECRETS = 16
_ED25519_KEY_LENGTHS = (32, 64)


class KeySet(NamedTuple):
    """Decoded key material for one scheme: HMAC keys and Ed25519 keys (raw bytes).

    Immutable. (A named tuple rather than a dataclass: ``dataclasses`` imports ``inspect``, a
    cost every receiver would pay at a cold start.)
    """

    hmac: tuple[bytes, ...]
    ed25519_signing: tuple[bytes, ...] = ()
    ed25519_public: tuple[bytes, ...] = ()

    def __repr__(self) -> str:
        # Key material never appears in a repr.
        return (
            f"KeySet(hmac=<{len(self.hmac)} keys>, ed25519_signing=<{len(self.ed25519_signing)}"
            f" keys>, ed25519_public=<{len(self.ed25519_public)} keys>)"
        )


_CACHE_LIMIT = 256
# Decoded keys by secret, one cache per decoding rule (bounded: cleared when full).
_caches: tuple[dict[object, KeySet], dict[object, KeySet]] = ({}, {})


def resolve_keys(secret: SecretOrSecrets, standard_webhooks: bool) -> KeySet:
    """Decode ``secret`` into a `KeySet`, caching the result (bounded).

    Args:
        secret: one secret or a sequence of them.
        standard_webhooks: whether the scheme decodes ``whsec_``/``whsk_``/``whpk_`` keys.

    Raises:
        InvalidSecretError: a secret is empty, not ``str``/``bytes``, or a prefixed key that
            does not decode.
        MissingDependencyError: an Ed25519 key without the ``ed25519`` extra installed.
    """
    cache = _caches[standard_webhooks]
    try:
        return cache[secret]
    except (KeyError, TypeError):  # not cached yet, or an unhashable list
        pass
    if isinstance(secret, (str, bytes)):
        secrets: tuple[Secret, ...] = (secret,)
    elif isinstance(secret, (list, tuple)):
        secrets = tuple(secret)
        if not secrets:
            raise InvalidSecretError("the list of secrets is empty")
        if len(secrets) > MAX_SECRETS:
            raise InvalidSecretError(f"at most {MAX_SECRETS} secrets may be given for rotation")
        try:
            return cache[secrets]
        except (KeyError, TypeError):
            pass
    else:
        raise InvalidSecretError(
            f"a secret must be str or bytes (or a list of them), not {type(secret).__name__}"
        )
    keys = _decode(secrets, standard_webhooks)
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[secret if isinstance(secret, (str, bytes)) else secrets] = keys
    return keys


def _decode(secrets: tuple[Secret, ...], standard_webhooks: bool) -> KeySet:
    hmac_keys: list[bytes] = []
    signing: list[bytes] = []
    public: list[bytes] = []
    for position, item in enumerate(secrets):
        which = _which(position, len(secrets))
        if not isinstance(item, (str, bytes)):
            raise InvalidSecretError(
                f"{which} is {type(item).__name__}; secrets must be str or bytes"
            )
        if not item:
            raise InvalidSecretError(f"{which} is empty")
        text = item if isinstance(item, str) else None
        if standard_webhooks and text is not None:
            if text.startswith(WHSEC_PREFIX):
                hmac_keys.append(_decode_base64(text, WHSEC_PREFIX, which))
                continue
            if text.startswith(SIGNING_KEY_PREFIX):
                signing.append(_decode_ed25519(text, SIGNING_KEY_PREFIX, which))
                continue
            if text.startswith(PUBLIC_KEY_PREFIX):
                public.append(_decode_ed25519(text, PUBLIC_KEY_PREFIX, which))
                continue
            # The official libraries strip an optional whsec_ and base64-decode what is left.
            hmac_keys.append(_decode_base64(text, "", which))
            continue
        hmac_keys.append(item.encode("utf-8") if isinstance(item, str) else item)
    if signing or public:
        ed25519.ensure_available()
    return KeySet(tuple(hmac_keys), tuple(signing), tuple(public))


def _which(position: int, count: int) -> str:
    """How an error names a secret: "the secret" when there is one, else "secret 2 of 3"."""
    return "the secret" if count == 1 else f"secret {position + 1} of {count}"


def _decode_base64(text: str, prefix: str, which: str) -> bytes:
    encoded = text[len(prefix) :]
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        if prefix:
            why = f"starts with {prefix!r} but the rest is not valid base64"
        else:
            why = (
                "is not valid base64: Standard Webhooks and Svix secrets are base64, with or "
                f"without the {WHSEC_PREFIX!r} prefix, as their official libraries decode them "
                "(pass bytes for a raw HMAC key)"
            )
        raise InvalidSecretError(f"{which} {why}") from None
    if not key:
        raise InvalidSecretError(f"{which} is {prefix!r} with no key after it")
    return key


def _decode_ed25519(text: str, prefix: str, which: str) -> bytes:
    key = _decode_base64(text, prefix, which)
    lengths = _ED25519_KEY_LENGTHS if prefix == SIGNING_KEY_PREFIX else (32,)
    if len(key) not in lengths:
        raise InvalidSecretError(
            f"{which} ({prefix}…) decodes to {len(key)} bytes; a whpk_ key has 32, "
            "a whsk_ key 32 (the seed) or 64 (the seed followed by its public key)"
        )
    if len(key) == 64:
        ed25519.ensure_available()
        if ed25519.public_key_of(key) != key[32:]:
            raise InvalidSecretError(
                f"{which} ({prefix}…): the public half does not match the seed"
            )
    return key
