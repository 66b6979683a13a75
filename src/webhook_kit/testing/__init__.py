"""Test helpers: a scriptable mock receiver, a virtual-time queue, receiver conformance checks.

The pytest plugin (``pytest-webhook-kit``, shipped in the same wheel) gives them as fixtures:
``fake_queue``, ``webhook_receiver``, ``webhook_receiver_server`` and ``webhook_secret``.
"""

from __future__ import annotations

from .conformance import DEFAULT_ANSWER_WITHIN, CheckResult, ReceiverReport, check_receiver
from .deliveries import Delivery
from .fake_queue import FakeQueue
from .receiver import TEST_DOMAIN, MockReceiver
from .respx_mount import mount_on_respx
from .routing import MountedApp, ReceiverRouter, UnroutableTargetError
from .scripts import Delay, Reply, Script, Step, Then

__all__ = [
    "DEFAULT_ANSWER_WITHIN",
    "TEST_DOMAIN",
    "CheckResult",
    "Delay",
    "Delivery",
    "FakeQueue",
    "MockReceiver",
    "MountedApp",
    "ReceiverReport",
    "ReceiverRouter",
    "Reply",
    "Script",
    "Step",
    "Then",
    "UnroutableTargetError",
    "check_receiver",
    "mount_on_respx",
]
