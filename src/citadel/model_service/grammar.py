"""Grammars for constrained sampling, parsed by llama.cpp once per grammar and cloned per request.

Parsing a GBNF grammar (and converting a JSON schema to one) costs milliseconds; a fleet of agents sends
the same few schemas again and again. :class:`GrammarCache` keeps the parsed grammar sampler of the most
recent grammars; each request gets a clone (its own parse state), which costs microseconds.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from citadel.errors import InvalidRequest

CACHED_GRAMMARS = 64


@dataclass(frozen=True, slots=True)
class GrammarSpec:
    """What to constrain sampling to: ``gbnf`` from the start, or (``lazy``) from the first match of a
    ``triggers`` regex in the generated text on, the text before it being free."""

    gbnf: str
    lazy: bool = False
    triggers: tuple[str, ...] = ()


class CompiledGrammar:
    """A parsed grammar sampler that is never sampled with itself; :meth:`instantiate` gives clones.

    The sampler is freed when the last reference goes (a cache eviction does not free a grammar that a
    queued request still holds).
    """

    def __init__(self, lib: Any, vocab: Any, spec: GrammarSpec) -> None:
        self._lib = lib
        self.spec = spec
        if spec.lazy:
            patterns = (ctypes.c_char_p * len(spec.triggers))(*(t.encode() for t in spec.triggers))
            pointer = lib.llama_sampler_init_grammar_lazy_patterns(
                vocab, spec.gbnf.encode(), b"root", patterns, len(spec.triggers), None, 0
            )
        else:
            pointer = lib.llama_sampler_init_grammar(vocab, spec.gbnf.encode(), b"root")
        if not pointer:
            raise InvalidRequest(
                "llama.cpp could not parse the grammar for this request", code="invalid_grammar"
            )
        self._pointer = pointer
        weakref.finalize(self, lib.llama_sampler_free, pointer)

    def instantiate(self) -> Any:
        """A fresh sampler in the grammar's start state; whoever adds it to a chain hands it over."""
        return self._lib.llama_sampler_clone(self._pointer)


class GrammarCache:
    """The parsed grammars of recent requests, least recently used dropped first. Thread-safe."""

    def __init__(
        self, compile_grammar: Callable[[GrammarSpec], CompiledGrammar], size: int = CACHED_GRAMMARS
    ):
        self._compile = compile_grammar
        self._size = size
        self._entries: OrderedDict[str, CompiledGrammar] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, build: Callable[[], GrammarSpec]) -> CompiledGrammar:
        """The grammar cached under ``key`` (the canonical text of what it was built from), built with
        ``build`` and parsed on a miss. Its errors (a refused schema) propagate and nothing is cached."""
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return cached
        compiled = self._compile(build())  # outside the lock: another request's grammar need not wait
        with self._lock:
            self.misses += 1
            self._entries[key] = compiled
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return compiled

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
