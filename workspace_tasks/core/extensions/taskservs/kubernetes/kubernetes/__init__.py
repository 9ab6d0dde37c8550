"""Task service kubernetes: configuration, installation and updates."""

from pathlib import Path

EXTENSION_DIR = Path(__file__).resolve().parent.parent
