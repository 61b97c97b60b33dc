"""The base of every settings section: strict (unknown keys are errors) and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictSettings"]


class StrictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
