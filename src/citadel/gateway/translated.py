"""Sending a chat completion answer out in a dialect's shape, whichever way it was produced.

:class:`TranslatedResponse` wraps the request path's answer (a forwarded body, a relayed or replayed
stream, an error) and translates its ASGI messages on the way to the client. A stream is translated as it
arrives; a JSON body is held until whole, then translated, so that its ``content-length`` is right. The
answer inside is still observed as chat completions (:mod:`.observer`): the outcome's status, usage and the
cache entry are the upstream's.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from citadel.gateway.dialect import AnswerTranslator

_DROPPED = (b"content-length", b"content-type")


class TranslatedResponse(Response):
    """``inner``'s answer, sent through ``translator``."""

    def __init__(self, inner: Response, translator: AnswerTranslator) -> None:
        # Not Response.__init__: this object only passes ``inner``'s messages on.
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers
        self._inner = inner
        self._translator = translator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        translator = self._translator
        start: Message | None = None
        streaming = False
        held: list[bytes] = []

        async def translated(message: Message) -> None:
            nonlocal start, streaming
            if message["type"] == "http.response.start":
                start = message
                streaming = message["status"] == 200 and _content_type(message).startswith(
                    b"text/event-stream"
                )
                if streaming:
                    await send(_restarted(message, b"text/event-stream", None))
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if streaming:
                out = translator.events(body) if body else b""
                if not more:
                    out += await translator.end()
                if out or not more:
                    await send({"type": "http.response.body", "body": out, "more_body": more})
                return
            held.append(body)
            if more:
                return
            assert start is not None
            status, content = await translator.whole(int(start["status"]), b"".join(held))
            await send(_restarted({**start, "status": status}, b"application/json", len(content)))
            await send({"type": "http.response.body", "body": content, "more_body": False})

        await self._inner(scope, receive, translated)


def _content_type(message: Message) -> bytes:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value).lower()
    return b""


def _restarted(start: Message, content_type: bytes, length: int | None) -> Message:
    headers = [(name, value) for name, value in start.get("headers", ()) if name.lower() not in _DROPPED]
    headers.append((b"content-type", content_type))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": start["status"], "headers": headers}
