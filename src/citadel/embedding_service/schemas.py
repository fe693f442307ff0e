"""OpenAI's embeddings request (texts or token ids), with clear refusals for what this service cannot do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, description="Not supported: the model has fixed dimensions.")
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _inputs(
        cls, value: str | list[str] | list[int] | list[list[int]]
    ) -> str | list[str] | list[int] | list[list[int]]:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be empty")
            return value
        if not value:
            raise ValueError("input must not be an empty list")
        if len(value) > 2048:
            raise ValueError("at most 2048 inputs per request")
        if any(isinstance(item, list) and not item for item in value):
            raise ValueError("input must not contain empty lists of token ids")
        if any(isinstance(item, str) and not item for item in value):
            raise ValueError("input must not contain empty strings")
        return value

    @property
    def inputs(self) -> list[str | list[int]]:
        """One entry per embedding: a text, or the token ids to embed as they are (OpenAI and vLLM accept
        a list of ints as one input and a list of lists as several)."""
        value = self.input
        if isinstance(value, str):
            return [value]
        inputs: list[str | list[int]] = []
        single: list[int] = []
        for item in value:
            if isinstance(item, int):
                single.append(item)
            else:
                inputs.append(item)
        return [single] if single else inputs
