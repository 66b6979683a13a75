"""What a worker knows of its endpoints, one line each: for a status page or a log."""

from __future__ import annotations

import time

from webhook_kit import Worker


def describe_endpoints(worker: Worker) -> list[str]:
    if worker.health is None:
        return ["endpoint health is off"]
    lines = []
    for status in worker.health.status():  # every endpoint this worker has delivered to
        line = f"{status.endpoint}  {status.state}"
        if status.probe_at is not None:  # paused: when the next probe goes
            line += f" until {time.strftime('%H:%M:%S', time.gmtime(status.probe_at))} UTC"
        line += f"  limit {status.limit}, {status.in_flight} in flight"
        if status.recent_failures:  # the last ten failures: (time, what)
            line += f", {len(status.recent_failures)} recent failures"
        if status.reason:
            line += f"  ({status.reason})"
        lines.append(line)
    return lines
