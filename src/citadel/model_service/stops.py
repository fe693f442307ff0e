"""Stop strings over a stream of text pieces, without ever emitting text that a stop string then claims."""

from __future__ import annotations


class StopMatcher:
    """Feed decoded text piece by piece; get back what is safe to emit and whether a stop string hit.

    Text that could still be the start of a stop string is held back until the next piece decides.

    >>> matcher = StopMatcher(["\\nUser:"])
    >>> matcher.feed("Hello\\nUs")
    ('Hello', False)
    >>> matcher.feed("er: hi")
    ('', True)
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        text = self._held + piece
        if not self._stops:
            return text, False
        first_hit = min((index for stop in self._stops if (index := text.find(stop)) >= 0), default=-1)
        if first_hit >= 0:
            self._held = ""
            return text[:first_hit], True
        keep = self._longest_stop_prefix_suffix(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What is still held back when generation ends for another reason."""
        held, self._held = self._held, ""
        return held

    def _longest_stop_prefix_suffix(self, text: str) -> int:
        best = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:length]):
                    best = length
                    break
        return best
