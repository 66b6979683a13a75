"""Receivers that stop working on a request once its client hangs up.

A scripted `Delay` in a `MockReceiver` sleeps on after the sender gave up (a killed worker, a
timed-out attempt), and holds up the server's shutdown at the end of the test; run through
`until_hang_up`, the handler ends with the connection.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def until_hang_up(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` on one HTTP request; cancel it if the client disconnects first."""
    body_read = anyio.Event()

    async def receive_body() -> Message:
        message = await receive()
        if not message.get("more_body", False):
            body_read.set()
        return message

    async with anyio.create_task_group() as tasks:

        async def on_hang_up() -> None:
            await body_read.wait()  # after the body, receive() waits for a hang-up
            while (await receive())["type"] != "http.disconnect":
                pass
            tasks.cancel_scope.cancel()

        tasks.start_soon(on_hang_up)
        await app(scope, receive_body, send)
        tasks.cancel_scope.cancel()
