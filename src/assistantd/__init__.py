"""assistantd: a self-hosted server for the OpenAI Assistants API v2."""

__version__ = "0.1.0"
