"""The model object of `GET /v1/models` (OpenAI's shape)."""

from __future__ import annotations

from typing import Literal

from assistantd.wire.base import ResponseModel


class Model(ResponseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[Model]
