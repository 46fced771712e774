"""Sinks: where a plan's changes go (a directory, a git branch, the Kubernetes API).

Every sink takes a :class:`~gitops_edge.plan.model.Plan` and writes only what it says
to emit; every sink can also describe what it already holds as a LiveState, so the
same planner diffs against a cluster or against the last render on disk.
"""
