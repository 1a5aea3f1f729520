"""The models clients may ask for: what the router can serve, in the shape of `/v1/models`."""

from __future__ import annotations

from assistantd.errors import NotFoundError
from assistantd.providers.routing import ModelRouter
from assistantd.wire.models import Model, ModelList

OWNER = "assistantd"


class ModelCatalog:
    def __init__(self, router: ModelRouter, created: int) -> None:
        self._router = router
        self._created = created  # models have no creation time here: the server's start

    def list(self) -> ModelList:
        return ModelList(data=[self._model(name) for name in self._router.names()])

    def get(self, model_id: str) -> Model:
        """Any name a run could use: with a default route, every name is served."""
        if not self._router.routable(model_id):
            raise NotFoundError(
                f"The model '{model_id}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return self._model(model_id)

    def _model(self, name: str) -> Model:
        return Model(id=name, created=self._created, owned_by=OWNER)
