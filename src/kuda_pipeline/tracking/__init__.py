"""MLflow tracking around every ``kedro run``, one module per job.

- ``server``: fail fast when a remote tracking server does not answer.
- ``run_tags``: the git state, the pipeline's datasets and the catalog version of every dataset, as run tags.
- ``artifacts``: the files of the datasets marked ``mlflow_artifact: true`` in their catalog ``metadata``.
- ``hooks``: ``TrackingHooks``, which calls them at the right moments and leaves no finished run active.
"""
