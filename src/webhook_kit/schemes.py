"""Signature schemes: how one family of webhooks is signed and checked.

Three shapes cover every format webhook-kit speaks:

* `HmacHeaderScheme` — an HMAC-SHA256 in one header, over the body (GitHub, Shopify and
  webhook-kit's body-only formats) or over a timestamp and the body (Slack);
* `StandardWebhooksScheme` — ``{id}.{timestamp}.{body}``, a space-separated list of
  versioned signatures (``v1`` HMAC, ``v1a`` Ed25519) — Standard Webhooks and Svix;
* `StripeScheme` — ``t=…,v1=…`` over ``{timestamp}.{body}``.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hmac
import time
from datetime import datetime
from typing import Protocol

from . import ed25519
from .errors import InvalidInputError, InvalidSecretError, VerificationError, VerificationFailure
from .header_parsing import (
    _MAX_TIMESTAMP_DIGITS,
    MAX_HEADER_LENGTH,
    MAX_SIGNATURES,
    HeaderMapping,
    check_timestamp,
    epoch_seconds,
    find_header,
    get_is_ascii_exact,
    parse_timestamp,
    require_header,
)
from .keys import KeySet, SecretOrSecrets, resolve_keys
from .verified import VerifiedWebhook

__all__ = [
    "MAX_ED25519_CHECKS",
    "MAX_ED25519_KEYS",
    "HmacHeaderScheme",
    "SignatureScheme",
    "StandardWebhooksScheme",
    "StripeScheme",
]

_DIGEST = "sha256"


class BoundVerify(Protocol):
    """``verify(body, headers, now=None)`` with the scheme, keys and limits already bound."""

    def __call__(
        self, body: bytes, headers: HeaderMapping, now: float | datetime | None = None, /
    ) -> VerifiedWebhook: ...


# Hot-path aliases: the named tuple built without its Python-level __new__, and hmac's
# functions without a module attribute lookup per call.
_new_verified = tuple.__new__
_hmac_new = hmac.new
_hmac_digest = hmac.digest
_compare = hmac.compare_digest
_b64encode = base64.b64encode
_time = time.time


def _base64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _no_match(header: str) -> VerificationError:
    return VerificationError(
        VerificationFailure.NO_MATCHING_SIGNATURE,
        f"no signature in {header} matches the body and secret",
        header=header,
    )


def _malformed(header: str, why: str) -> VerificationError:
    return VerificationError(
        VerificationFailure.MALFORMED_HEADER, f"header {header} {why}", header=header
    )


class SignatureScheme(abc.ABC):
    """How one family of webhooks is signed and verified.

    Instances are the provider presets in `webhook_kit.providers` and the schemes behind each
    `SignatureFormat`; pass either as ``scheme=`` to `webhook_kit.verify`.

    Attributes:
        name: a short name, e.g. ``"github"``.
        id_header: the header that carries the delivery id (receivers dedup on it), or
            ``None`` where the scheme has none in its headers.
        event_header: the header that carries the event name, or ``None``.
        timestamped: whether a timestamp is signed (and checked against a tolerance).
        decodes_prefixed_keys: whether ``whsec_``/``whsk_``/``whpk_`` secrets are decoded.
    """

    name: str
    id_header: str | None
    event_header: str | None
    timestamped: bool
    decodes_prefixed_keys: bool = False

    @property
    def signature_header_names(self) -> tuple[str, ...]:
        """The headers that carry the signature (read in order, all written)."""
        return (self.signature_header,)

    signature_header: str

    def keys(self, secret: SecretOrSecrets) -> KeySet:
        """Decode ``secret`` (one or a list) for this scheme.

        Raises:
            InvalidSecretError: as `webhook_kit.keys.resolve_keys` says.
        """
        return resolve_keys(secret, self.decodes_prefixed_keys)

    @abc.abstractmethod
    def signature(self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int) -> str:
        """Return the signature header's value for ``body``."""

    @abc.abstractmethod
    def signature_headers(
        self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int
    ) -> dict[str, str]:
        """Return every header this scheme's senders put on a signed request."""

    @abc.abstractmethod
    def verify_keys(
        self,
        body: bytes,
        headers: HeaderMapping,
        keys: KeySet,
        now: float | None,
        tolerance: float,
    ) -> VerifiedWebhook:
        """Verify ``body`` and ``headers`` with decoded ``keys``; ``now=None`` is the clock."""

    def bind(
        self, keys: KeySet, max_body_bytes: int, tolerance: float, general: BoundVerify
    ) -> BoundVerify:
        """Return a verify function specialised for ``keys``; ``general`` handles the rest.

        The default is ``general`` itself; a scheme may return a faster function for its common
        case that hands every other case (and every failure it does not fully judge) to
        ``general``, so both always give the same answer.
        """
        return general

    def _optional(self, headers: HeaderMapping, name: str | None) -> str | None:
        if name is None:
            return None
        # Only a plain dict's get is trusted here (exact); find_header judges the rest.
        value = headers.get(name) if type(headers) is dict else None
        if type(value) is not str:
            value = find_header(headers, name)
        if value is not None and len(value) > MAX_HEADER_LENGTH:
            raise _malformed(name, f"is longer than {MAX_HEADER_LENGTH} characters")
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class HmacHeaderScheme(SignatureScheme):
    """One HMAC-SHA256 in one header, hex or base64, optionally prefixed and timestamped.

    Args:
        name: the scheme's name.
        signature_header: where the signature goes.
        encoding: ``"hex"`` or ``"base64"``.
        prefix: text before the encoded digest, e.g. ``"sha256="``.
        id_header: the delivery-id header, if any.
        event_header: the event-name header, if any.
        timestamp_header: for Slack-like schemes, the header with the signed timestamp.
        timestamped_content: with ``timestamp_header``, the text signed before the body, with
            ``{timestamp}`` in it (Slack: ``"v0:{timestamp}:"``).
    """

    def __init__(
        self,
        name: str,
        signature_header: str,
        *,
        encoding: str = "hex",
        prefix: str = "",
        id_header: str | None = None,
        event_header: str | None = None,
        timestamp_header: str | None = None,
        timestamped_content: str = "{timestamp}.",
    ) -> None:
        if encoding not in ("hex", "base64"):
            raise InvalidInputError("encoding must be 'hex' or 'base64'")
        self.name = name
        self.signature_header = signature_header
        self.prefix = prefix
        self.id_header = id_header
        self.event_header = event_header
        self.timestamp_header = timestamp_header
        self.timestamped = timestamp_header is not None
        self.timestamped_content = timestamped_content
        self._hex = encoding == "hex"

    def _content(self, body: bytes, timestamp: int) -> bytes:
        if self.timestamp_header is None:
            return body
        return self.timestamped_content.format(timestamp=timestamp).encode("ascii") + body

    def signature(self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int) -> str:
        """Return ``prefix + encoded HMAC`` with the first (current) key."""
        if not keys.hmac:
            raise InvalidSecretError(f"{self.name} signs with an HMAC secret; none was given")
        digest = hmac.digest(keys.hmac[0], self._content(body, timestamp), _DIGEST)
        return self.prefix + (digest.hex() if self._hex else _base64(digest))

    def signature_headers(
        self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int
    ) -> dict[str, str]:
        """Return the signature header, plus the id and timestamp headers the scheme has."""
        headers = {
            self.signature_header: self.signature(
                body, keys, webhook_id=webhook_id, timestamp=timestamp
            )
        }
        if self.id_header is not None:
            headers[self.id_header] = webhook_id
        if self.timestamp_header is not None:
            headers[self.timestamp_header] = str(timestamp)
        return headers

    def bind(
        self, keys: KeySet, max_body_bytes: int, tolerance: float, general: BoundVerify
    ) -> BoundVerify:
        """Specialise the body-only, hex, one-key case (webhook-kit's default and GitHub's).

        The returned function answers a well-formed header itself and hands anything else to
        ``general``; it exists because `WebhookVerifier` is held to 1.3x a raw HMAC.
        """
        if self.timestamp_header is not None or not self._hex or len(keys.hmac) != 1:
            return general
        key = keys.hmac[0]
        signature_header, prefix, name = self.signature_header, self.prefix, self.name
        id_header, event_header = self.id_header, self.event_header
        start, length = len(prefix), len(prefix) + 64
        optional = self._optional

        def verify_one_hex_key(
            body: bytes, headers: HeaderMapping, now: float | datetime | None = None
        ) -> VerifiedWebhook:
            if type(headers) is not dict and not get_is_ascii_exact(type(headers)):
                # A mapping whose get folds Unicode (KELVIN SIGN -> k): the general path scans.
                return general(body, headers, now)
            try:
                value = headers.get(signature_header)
            except AttributeError:  # not a mapping: the general path says so
                return general(body, headers, now)
            if now is not None:
                epoch_seconds(now)  # unused by body-only schemes, but checked like everywhere
            if (
                type(body) is not bytes
                or len(body) > max_body_bytes
                or type(value) is not str
                or len(value) != length
                or not value.isascii()
                or not value.startswith(prefix)
            ):
                return general(body, headers, now)
            expected, provided = _hmac_new(key, body, _DIGEST).hexdigest(), value[start:]
            # Senders use lowercase hex; uppercase is accepted at the cost of a second compare.
            if not _compare(expected, provided) and not _compare(expected, provided.lower()):
                raise _no_match(signature_header)
            webhook_id = headers.get(id_header) if id_header is not None else None
            if type(webhook_id) is not str or len(webhook_id) > MAX_HEADER_LENGTH:
                webhook_id = optional(headers, id_header)
            event = headers.get(event_header) if event_header is not None else None
            if type(event) is not str or len(event) > MAX_HEADER_LENGTH:
                event = optional(headers, event_header)
            return _new_verified(VerifiedWebhook, (body, webhook_id, event, None, name))

        return verify_one_hex_key

    def verify_keys(
        self,
        body: bytes,
        headers: HeaderMapping,
        keys: KeySet,
        now: float | None,
        tolerance: float,
    ) -> VerifiedWebhook:
        """Verify one signature header (and its timestamp, for timestamped schemes)."""
        # The hot path: locals instead of attribute lookups, the common case checked first.
        signature_header = self.signature_header
        exact = get_is_ascii_exact(type(headers))
        value = headers.get(signature_header) if exact else None
        if type(value) is not str or len(value) > MAX_HEADER_LENGTH or not value.isascii():
            _, value = require_header(headers, (signature_header,))
        timestamp: int | None = None
        content = body
        if self.timestamp_header is not None:
            _, raw_timestamp = require_header(headers, (self.timestamp_header,))
            timestamp = parse_timestamp(raw_timestamp, self.timestamp_header)
            check_timestamp(
                timestamp, time.time() if now is None else now, tolerance, self.timestamp_header
            )
            content = self._content(body, timestamp)
        prefix = self.prefix
        if not value.startswith(prefix):
            raise _malformed(signature_header, f"must start with {prefix!r}")
        provided = value[len(prefix) :]
        if self._hex:
            provided = provided.lower()
            for key in keys.hmac:
                if _compare(_hmac_new(key, content, _DIGEST).hexdigest(), provided):
                    break
            else:
                raise _no_match(signature_header)
        else:
            for key in keys.hmac:
                if _compare(_base64(_hmac_new(key, content, _DIGEST).digest()), provided):
                    break
            else:
                raise _no_match(signature_header)
        webhook_id = event = None
        if self.id_header is not None:
            webhook_id = headers.get(self.id_header) if exact else None
            if type(webhook_id) is not str or len(webhook_id) > MAX_HEADER_LENGTH:
                webhook_id = self._optional(headers, self.id_header)
        if self.event_header is not None:
            event = headers.get(self.event_header) if exact else None
            if type(event) is not str or len(event) > MAX_HEADER_LENGTH:
                event = self._optional(headers, self.event_header)
        return _new_verified(VerifiedWebhook, (body, webhook_id, event, timestamp, self.name))


MAX_ED25519_CHECKS = 4
"""Most Ed25519 verifications one request may cost, over all its ``v1a`` entries and keys.

Enough for an honest rotation (two signatures checked against two keys); a header of forged
entries gets no more."""

MAX_ED25519_KEYS = 2
"""Most Ed25519 keys (``whpk_``/``whsk_``) one verifier holds: a rotation's old and new key."""

_ED25519_SIGNATURE_BASE64_LENGTH = 88  # 64 bytes, padded base64


class StandardWebhooksScheme(SignatureScheme):
    """Standard Webhooks: ``v1,<base64>`` (HMAC) and ``v1a,<base64>`` (Ed25519) entries.

    The signed content is ``{id}.{timestamp}.{body}``. Each header role may be read from
    several names (the first present wins) and is written to all of them.
    """

    decodes_prefixed_keys = True
    timestamped = True

    def __init__(
        self,
        name: str,
        *,
        id_headers: tuple[str, ...],
        timestamp_headers: tuple[str, ...],
        signature_headers: tuple[str, ...],
        event_header: str | None = None,
    ) -> None:
        self.name = name
        self.id_headers = id_headers
        self.timestamp_headers = timestamp_headers
        self._signature_header_names = signature_headers
        self.signature_header = signature_headers[0]
        self.id_header = id_headers[0]
        self.event_header = event_header

    @property
    def signature_header_names(self) -> tuple[str, ...]:
        """The headers that carry the signature (the first present is read; all written)."""
        return self._signature_header_names

    @staticmethod
    def _content(body: bytes, webhook_id: str, timestamp: int) -> bytes:
        return f"{webhook_id}.{timestamp}.".encode() + body

    def signature(self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int) -> str:
        """Return one ``v1`` entry per HMAC key and one ``v1a`` per signing key."""
        content = self._content(body, webhook_id, timestamp)
        entries = [f"v1,{_base64(hmac.digest(key, content, _DIGEST))}" for key in keys.hmac]
        entries.extend(
            f"v1a,{_base64(ed25519.sign(key, content))}" for key in keys.ed25519_signing
        )
        if not entries:
            raise InvalidSecretError(
                "whpk_ keys only verify: signing needs a whsec_ secret or a whsk_ key"
            )
        return " ".join(entries)

    def signature_headers(
        self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int
    ) -> dict[str, str]:
        """Return the id, timestamp and signature headers under every name the scheme uses."""
        signature = self.signature(body, keys, webhook_id=webhook_id, timestamp=timestamp)
        headers = dict.fromkeys(self.id_headers, webhook_id)
        headers.update(dict.fromkeys(self.timestamp_headers, str(timestamp)))
        headers.update(dict.fromkeys(self._signature_header_names, signature))
        return headers

    def bind(
        self, keys: KeySet, max_body_bytes: int, tolerance: float, general: BoundVerify
    ) -> BoundVerify:
        """Check the Ed25519 key budget once; specialise the HMAC-only case.

        The returned function answers a well-formed request (headers under their first names,
        the timestamp in the window) itself and hands anything else (other header names or
        types, a timestamp outside the window, Ed25519 keys, too many entries) to ``general``,
        which judges it exactly as before.

        Raises:
            InvalidSecretError: more than `MAX_ED25519_KEYS` Ed25519 keys verify.
        """
        verifying = len(keys.ed25519_public) + len(keys.ed25519_signing)
        if verifying > MAX_ED25519_KEYS:
            raise InvalidSecretError(
                f"{verifying} Ed25519 keys were given to verify with; at most {MAX_ED25519_KEYS}"
                " (the old and the new key of a rotation) are accepted, so that a forged v1a "
                "entry costs a bounded number of verifications"
            )
        if verifying or not keys.hmac:
            return general
        hmac_keys = keys.hmac
        id_name, timestamp_name = self.id_headers[0], self.timestamp_headers[0]
        signature_name, event_name, name = self.signature_header, self.event_header, self.name
        optional = self._optional

        def verify_hmac(
            body: bytes, headers: HeaderMapping, now: float | datetime | None = None
        ) -> VerifiedWebhook:
            if type(headers) is not dict and not get_is_ascii_exact(type(headers)):
                # A mapping whose get folds Unicode (KELVIN SIGN -> k): the general path scans.
                return general(body, headers, now)
            try:
                webhook_id = headers.get(id_name)
                raw_timestamp = headers.get(timestamp_name)
                value = headers.get(signature_name)
            except AttributeError:  # not a mapping: the general path says so
                return general(body, headers, now)
            if (
                type(body) is not bytes
                or len(body) > max_body_bytes
                or type(webhook_id) is not str
                or type(raw_timestamp) is not str
                or type(value) is not str
                or len(webhook_id) > MAX_HEADER_LENGTH
                or len(value) > MAX_HEADER_LENGTH
                or not 0 < len(raw_timestamp) <= _MAX_TIMESTAMP_DIGITS
                or not (webhook_id + raw_timestamp + value).isascii()
                or not raw_timestamp.isdigit()
            ):
                return general(body, headers, now)
            timestamp = int(raw_timestamp)
            current = _time() if now is None else epoch_seconds(now)
            if not current - tolerance <= timestamp <= current + tolerance:
                return general(body, headers, now)  # which says too old or in the future
            content = f"{webhook_id}.{timestamp}.".encode() + body
            # ``v1,<base64>`` compared whole: equal exactly when the version is v1 and the
            # signature matches; entries of other versions never match an HMAC key here.
            if " " in value:
                entries = value.split(" ", MAX_SIGNATURES)
                if len(entries) > MAX_SIGNATURES:
                    return general(body, headers, now)
            else:
                entries = [value]
            for key in hmac_keys:
                expected = "v1," + _b64encode(_hmac_digest(key, content, _DIGEST)).decode()
                for entry in entries:
                    if _compare(expected, entry):
                        event = optional(headers, event_name)
                        return _new_verified(
                            VerifiedWebhook, (body, webhook_id, event, timestamp, name)
                        )
            raise _no_match(signature_name)

        return verify_hmac

    def verify_keys(
        self,
        body: bytes,
        headers: HeaderMapping,
        keys: KeySet,
        now: float | None,
        tolerance: float,
    ) -> VerifiedWebhook:
        """Verify the id, the timestamp and any one ``v1``/``v1a`` entry."""
        _, webhook_id = require_header(headers, self.id_headers)
        timestamp_header, raw_timestamp = require_header(headers, self.timestamp_headers)
        timestamp = parse_timestamp(raw_timestamp, timestamp_header)
        check_timestamp(
            timestamp, time.time() if now is None else now, tolerance, timestamp_header
        )
        header, value = require_header(headers, self._signature_header_names)
        entries = value.split(" ", MAX_SIGNATURES)
        if len(entries) > MAX_SIGNATURES:
            raise VerificationError(
                VerificationFailure.TOO_MANY_SIGNATURES,
                f"header {header} carries more than {MAX_SIGNATURES} signatures",
                header=header,
            )
        content = self._content(body, webhook_id, timestamp)
        if self._matches(entries, content, keys):
            return VerifiedWebhook(
                body, webhook_id, self._optional(headers, self.event_header), timestamp, self.name
            )
        raise _no_match(header)

    def _matches(self, entries: list[str], content: bytes, keys: KeySet) -> bool:
        expected_hmacs: list[str] | None = None
        public_keys: tuple[bytes, ...] | None = None
        # Each Ed25519 check costs about 15 HMACs: a request buys at most this many of them,
        # whatever its entries, so a forged header costs a few honest verifications at most.
        checks_left = MAX_ED25519_CHECKS
        for entry in entries:
            version, _, signature = entry.partition(",")
            if version == "v1":
                if expected_hmacs is None:
                    expected_hmacs = [
                        _base64(hmac.digest(key, content, _DIGEST)) for key in keys.hmac
                    ]
                if any(hmac.compare_digest(item, signature) for item in expected_hmacs):
                    return True
            elif (
                version == "v1a" and checks_left and (keys.ed25519_public or keys.ed25519_signing)
            ):
                raw = _ed25519_signature(signature)
                if raw is None:
                    continue
                if public_keys is None:
                    public_keys = keys.ed25519_public + tuple(
                        ed25519.public_key_of(key) for key in keys.ed25519_signing
                    )
                for key in public_keys[:checks_left]:
                    checks_left -= 1
                    if ed25519.verify(key, raw, content):
                        return True
        return False


def _ed25519_signature(signature: str) -> bytes | None:
    """The 64 raw bytes of a ``v1a`` entry's signature, or ``None`` when it cannot be one."""
    if len(signature) != _ED25519_SIGNATURE_BASE64_LENGTH:
        return None
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 64 or _base64(raw) != signature:  # one canonical encoding, as for v1
        return None
    return raw


class StripeScheme(SignatureScheme):
    """Stripe's ``t=<timestamp>,v1=<hex>[,v1=<hex>…]`` over ``{timestamp}.{body}``.

    Fields may come in any order; ``v0`` and unknown fields are ignored. The secret is used
    as-is, ``whsec_`` prefix and all, as Stripe does.
    """

    timestamped = True

    def __init__(
        self,
        name: str,
        signature_header: str,
        *,
        id_header: str | None = None,
        event_header: str | None = None,
    ) -> None:
        self.name = name
        self.signature_header = signature_header
        self.id_header = id_header
        self.event_header = event_header

    @staticmethod
    def _content(body: bytes, timestamp: int) -> bytes:
        return f"{timestamp}.".encode() + body

    def signature(self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int) -> str:
        """Return ``t=…`` and one ``v1=`` per secret."""
        if not keys.hmac:
            raise InvalidSecretError(f"{self.name} signs with an HMAC secret; none was given")
        content = self._content(body, timestamp)
        signatures = ",".join(
            f"v1={hmac.digest(key, content, _DIGEST).hex()}" for key in keys.hmac
        )
        return f"t={timestamp},{signatures}"

    def signature_headers(
        self, body: bytes, keys: KeySet, *, webhook_id: str, timestamp: int
    ) -> dict[str, str]:
        """Return the signature header (and the id header, where the scheme has one)."""
        headers = {
            self.signature_header: self.signature(
                body, keys, webhook_id=webhook_id, timestamp=timestamp
            )
        }
        if self.id_header is not None:
            headers[self.id_header] = webhook_id
        return headers

    def verify_keys(
        self,
        body: bytes,
        headers: HeaderMapping,
        keys: KeySet,
        now: float | None,
        tolerance: float,
    ) -> VerifiedWebhook:
        """Parse ``t=`` and every ``v1=``, check the timestamp, then the signatures."""
        header, value = require_header(headers, (self.signature_header,))
        fields = value.split(",", MAX_SIGNATURES + 2)
        if len(fields) > MAX_SIGNATURES + 2:
            raise VerificationError(
                VerificationFailure.TOO_MANY_SIGNATURES,
                f"header {header} carries more than {MAX_SIGNATURES} signatures",
                header=header,
            )
        raw_timestamp: str | None = None
        signatures: list[str] = []
        for field in fields:
            field_name, _, item = field.strip().partition("=")
            if field_name == "t":
                if raw_timestamp is not None:
                    raise _malformed(header, "has more than one t= field")
                raw_timestamp = item
            elif field_name == "v1":
                if len(signatures) == MAX_SIGNATURES:
                    raise VerificationError(
                        VerificationFailure.TOO_MANY_SIGNATURES,
                        f"header {header} carries more than {MAX_SIGNATURES} signatures",
                        header=header,
                    )
                signatures.append(item.lower())
        if raw_timestamp is None:
            raise _malformed(header, "has no t= timestamp")
        timestamp = parse_timestamp(raw_timestamp, header)
        check_timestamp(timestamp, time.time() if now is None else now, tolerance, header)
        if not signatures:
            raise VerificationError(
                VerificationFailure.NO_MATCHING_SIGNATURE,
                f"header {header} has no v1= signature",
                header=header,
            )
        content = self._content(body, timestamp)
        for key in keys.hmac:
            expected = hmac.new(key, content, _DIGEST).hexdigest()
            if any(hmac.compare_digest(expected, item) for item in signatures):
                return VerifiedWebhook(
                    body,
                    self._optional(headers, self.id_header),
                    self._optional(headers, self.event_header),
                    timestamp,
                    self.name,
                )
        raise _no_match(header)
