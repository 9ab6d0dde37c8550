"""Short task names for this repository: ``invoke --list`` shows them.

They run the ``workspace`` command on the workspace found from here
(``./workspace`` after ``make run``).
"""

from workspace_tasks.invoke_tasks import collection_for

namespace = collection_for(None)
