"""Incremental tasks on the workspace found from here: ``doit list``.

doit keeps its up-to-date state per user under runtime/state/<user>/.
"""

from workspace_tasks.taskdefs import load

DOIT_CONFIG, _tasks = load()
globals().update(_tasks)
