"""Request bodies of the vector API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Filter = dict[str, str | int | bool | list[str | int]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointIn(_Body):
    id: str | int | None = Field(
        default=None, description="A UUID or unsigned integer; default from content."
    )
    text: str | None = Field(default=None, min_length=1)
    vector: list[float] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _text_or_vector(self) -> PointIn:
        if self.text is None and self.vector is None:
            raise ValueError("a point needs 'text' or 'vector'")
        if "text" in self.payload:
            raise ValueError("'text' is reserved in the payload: it holds the point's text")
        return self


class UpsertRequest(_Body):
    points: list[PointIn] = Field(min_length=1, max_length=1000)


class SearchRequest(_Body):
    text: str | None = Field(default=None, min_length=1)
    vector: list[float] | None = None
    limit: int = Field(default=4, ge=1, le=100)
    filter: Filter | None = None
    score_threshold: float | None = None

    @model_validator(mode="after")
    def _text_or_vector(self) -> SearchRequest:
        if (self.text is None) == (self.vector is None):
            raise ValueError("a search needs exactly one of 'text' or 'vector'")
        return self


class DeleteRequest(_Body):
    ids: list[str | int] = Field(default_factory=list, max_length=10000)
    filter: Filter | None = None

    @model_validator(mode="after")
    def _ids_or_filter(self) -> DeleteRequest:
        if not self.ids and not self.filter:
            raise ValueError("give 'ids' or a 'filter' of the points to delete")
        return self
