"""Incremental tasks of this workspace: ``doit list`` shows them.

doit keeps its up-to-date state per user under runtime/state/<user>/.
"""

from pathlib import Path

from workspace_tasks.taskdefs import load

DOIT_CONFIG, _tasks = load(Path(__file__).resolve().parent.parent)
globals().update(_tasks)
