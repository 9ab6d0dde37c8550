"""Cluster ci-runners: task services placed on the servers of an infra."""

from pathlib import Path

EXTENSION_DIR = Path(__file__).resolve().parent.parent
