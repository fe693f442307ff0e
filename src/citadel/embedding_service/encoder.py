"""A sentence-transformers model loaded from local files only (no model hub is ever contacted)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from citadel.engines.threads import engine_threads

logger = logging.getLogger(__name__)


class SentenceEncoder:
    """Tokenizer and model of one sentence-embedding model, used from one worker thread at a time."""

    def __init__(self, path: Path, threads: int | None) -> None:
        # Set before the libraries are imported: they read these once.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        # Intra-op threads: this service's share of the cores; one inter-op thread, since one batch runs at
        # a time.
        torch.set_num_threads(engine_threads(threads))
        if torch.get_num_interop_threads() != 1:
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:  # torch allows it once per process, before inter-op work (a test's 2nd app)
                logger.warning(
                    "torch's inter-op threads were set before; keeping %d", torch.get_num_interop_threads()
                )
        self.threads: int = torch.get_num_threads()
        self._model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.path = path
        dimensions, max_tokens = self._model.get_embedding_dimension(), self._model.max_seq_length
        if dimensions is None or max_tokens is None:
            raise ValueError(f"{path} does not declare its embedding size and maximum sequence length")
        self.dimensions: int = dimensions
        self.max_tokens: int = max_tokens

    @property
    def vocab_size(self) -> int:
        return len(self._model.tokenizer)

    def count_tokens(self, inputs: Sequence[str | list[int]]) -> list[int]:
        """Tokens per input as the model sees them (a text's special tokens included)."""
        texts = [item for item in inputs if isinstance(item, str)]
        encoded = iter(
            self._model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
            if texts
            else []
        )
        return [len(next(encoded)) if isinstance(item, str) else len(item) for item in inputs]

    def encode(self, inputs: Sequence[str | list[int]]) -> npt.NDArray[np.float32]:
        """One vector per input, in order; token ids go to the model as they are (no special tokens added)."""
        texts = [item for item in inputs if isinstance(item, str)]
        ids = [item for item in inputs if not isinstance(item, str)]
        vectors = np.empty((len(inputs), self.dimensions), dtype=np.float32)
        text_rows = [row for row, item in enumerate(inputs) if isinstance(item, str)]
        id_rows = [row for row, item in enumerate(inputs) if not isinstance(item, str)]
        if texts:
            vectors[text_rows] = self._model.encode(
                texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
            )
        if ids:
            vectors[id_rows] = self._encode_ids(ids)
        return vectors

    def _encode_ids(self, ids: list[list[int]]) -> npt.NDArray[np.float32]:
        import torch

        # The same modules as encode() (transformer, pooling, normalisation), fed tokens instead of text.
        features = self._model.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        with torch.inference_mode():
            output = self._model(dict(features))
        return np.asarray(output["sentence_embedding"].float().numpy(), dtype=np.float32)
