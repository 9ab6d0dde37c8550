"""Provider aws: server and network definitions for the orchestrator."""

from pathlib import Path

EXTENSION_DIR = Path(__file__).resolve().parent.parent
