"""Test-only launcher: ``citadel`` with a fault injected into the built-in engine (a test double).

    python tests/model_service/faulty_engine.py nan-logits serve-model NAME --config PATH
    python tests/model_service/faulty_engine.py decode-raises serve-model NAME --config PATH

``nan-logits``: every logit read is NaN, as a broken CPU kernel would produce (the self-test must refuse).
``decode-raises``: decoding a request raises (the self-test, run before it, still passes), so
the engine thread dies at the first request.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import numpy as np

from citadel.cli.main import main
from citadel.model_service.batch_engine import BatchEngine, BatchRow


def _nan_logits(self: BatchEngine, row: int) -> Any:
    return np.full(self.n_vocab, np.nan, dtype=np.float32)


_real_decode = BatchEngine.decode


def in_self_test() -> bool:
    """Whether the engine's start-up self-test is the caller (it runs on the engine thread too)."""
    return any(frame.name == "run_self_test" for frame in traceback.extract_stack())


def _decode_raises_when_serving(self: BatchEngine, rows: list[BatchRow]) -> int:
    if not in_self_test():
        raise RuntimeError("injected decode failure")
    return _real_decode(self, rows)


FAULTS = {"nan-logits": ("logits", _nan_logits), "decode-raises": ("decode", _decode_raises_when_serving)}

if __name__ == "__main__":
    attribute, replacement = FAULTS[sys.argv[1]]
    setattr(BatchEngine, attribute, replacement)
    sys.argv = ["citadel", *sys.argv[2:]]
    main()
