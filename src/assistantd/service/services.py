"""Everything the HTTP layer may call, built once at start-up by `assistantd.compose`."""

from __future__ import annotations

from dataclasses import dataclass

from assistantd.service.assistants import AssistantService
from assistantd.service.auth import AuthService
from assistantd.service.files import FileService
from assistantd.service.health import HealthService
from assistantd.service.messages import MessageService
from assistantd.service.models import ModelCatalog
from assistantd.service.rate_limit import RateLimiter
from assistantd.service.run_steps import RunStepService
from assistantd.service.runs import RunService
from assistantd.service.threads import ThreadService
from assistantd.service.vector_store_files import FileBatchService, VectorStoreFileService
from assistantd.service.vector_stores import VectorStoreService
from assistantd.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    auth: AuthService
    rate_limiter: RateLimiter
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    run_steps: RunStepService
    files: FileService
    vector_stores: VectorStoreService
    vector_store_files: VectorStoreFileService
    file_batches: FileBatchService
    models: ModelCatalog
    health: HealthService
