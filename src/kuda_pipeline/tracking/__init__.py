"""MLflow tracking around every ``kedro run``, one module per job.

- ``server``: fail fast when a remote tracking server does not answer.
- ``run_tags``: the git state, the pipeline's datasets and the catalog version of every dataset, as run tags.
- ``artifacts``: the files of the datasets marked ``mlflow_artifact: true`` in their catalog ``metadata``.
- ``orphaned_runs``: the process that runs a run, as tags; runs left RUNNING by killed processes, closed.
- ``hooks``: ``TrackingHooks``, which calls them at the right moments and leaves no finished run active.
- ``registry``: ``RegistryHooks``, each evaluated model registered, the ``champion`` alias on the best one.
- ``failed_start``: ``FailedStartHooks``, a run that stops before its first node recorded as FAILED.
"""
