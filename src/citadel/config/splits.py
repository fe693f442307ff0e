"""``gateway.splits``: A/B and canary splits, a name whose traffic is shared among model variants.

    gateway:
      splits:
        - name: smollm2           # clients send this name (a real model's, for a canary)
          sticky: api_key         # or: user (the request's ``user`` field)
          variants:
            - {model: smollm2, weight: 90}
            - {model: smollm2-canary, weight: 10}

Weights are shares (they need not add up to 100). The same API key (or user) always gets the same variant
while the split stays as it is; see :mod:`citadel.gateway.ab`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from citadel.config.base import NAME_PATTERN, Section


class SplitVariant(Section):
    model: str = Field(description="A configured model that takes this share.")
    weight: float = Field(ge=0, description="This variant's share of the split's traffic.")


class SplitSettings(Section):
    name: str = Field(pattern=NAME_PATTERN, description="The model name clients send.")
    sticky: Literal["api_key", "user"] = Field(
        default="api_key", description="What keeps a client on one variant: its API key, or `user`."
    )
    variants: list[SplitVariant] = Field(min_length=1)

    @model_validator(mode="after")
    def _some_weight(self) -> SplitSettings:
        if sum(variant.weight for variant in self.variants) <= 0:
            raise ValueError("the variants' weights add up to 0")
        models = [variant.model for variant in self.variants]
        if len(set(models)) != len(models):
            raise ValueError("a model is named by more than one variant")
        return self
