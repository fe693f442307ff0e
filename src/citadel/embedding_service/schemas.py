"""OpenAI's embeddings request, with clear refusals for what this service cannot do."""

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
    def _texts_only(cls, value: str | list[str] | list[int] | list[list[int]]) -> str | list[str]:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be empty")
            return value
        if not value:
            raise ValueError("input must not be an empty list")
        if not all(isinstance(item, str) for item in value):
            raise ValueError("token ids are not supported by this model; send text")
        if any(not item for item in value):
            raise ValueError("input must not contain empty strings")
        if len(value) > 2048:
            raise ValueError("at most 2048 inputs per request")
        return [str(item) for item in value]

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else [str(item) for item in self.input]
