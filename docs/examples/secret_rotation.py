"""Rotating a secret: verify with the new one and the previous one until senders have switched."""

from __future__ import annotations

import os
from collections.abc import Mapping

from webhook_kit import WebhookVerifier


def verifier_from_environment(environ: Mapping[str, str] = os.environ) -> WebhookVerifier:
    """Verify with ``WEBHOOK_SECRET`` and, during a rotation, ``WEBHOOK_SECRET_OLD`` too."""
    secrets = [environ["WEBHOOK_SECRET"]]
    old = environ.get("WEBHOOK_SECRET_OLD")
    if old:
        secrets.append(old)  # a signature made with any secret of the list verifies
    return WebhookVerifier(secrets)
