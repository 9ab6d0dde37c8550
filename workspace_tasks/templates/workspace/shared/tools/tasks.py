"""Short task names for this workspace: ``invoke --list`` shows them.

Every task runs the installed ``workspace`` command on the workspace that
holds this folder, so ``cd tools && invoke status`` works from here.
"""

from pathlib import Path

from workspace_tasks.invoke_tasks import collection_for

namespace = collection_for(Path(__file__).resolve().parent.parent)
