"""Every label and annotation key gitops-edge writes or selects on, in one place (pure).

The emitted objects are the state (ARCHITECTURE.md): a restarted daemon finds what it
manages by these labels, ``status`` reads its progress from them, and the fleet is
queried by them. A key spelled twice can drift, so every module imports it from here.
"""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "gitops-edge"
"""The value of :data:`MANAGED_BY` on every object gitops-edge emits."""
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER}"
"""The label selector that lists every object gitops-edge manages."""
SITE = "gitops-edge.io/site"
COMPONENT = "gitops-edge.io/component"
EGGO_OPERATION = "gitops-edge.io/eggo-operation"
CLUSTER_ID = "gitops-edge.io/cluster-id"
SOURCE_REVISION = "gitops-edge.io/source-revision"
SPEC_HASH = "gitops-edge.io/spec-hash"
EGGO_CONFIG = "gitops-edge.io/eggo-config"
DELETION_POLICY = "gitops-edge.io/deletion-policy"
PREVIOUS_RUN = "gitops-edge.io/previous-run"
EGGO_ROLE_PREFIX = "gitops-edge.io/eggo-role-"
"""Followed by a role (``master``, ``worker``...): the node labels of eggo's hosts."""
FEDERATION = "gitops-edge.io/federation"
AFTER_EGGO_RUN = "gitops-edge.io/after-eggo-run"
"""On a registration or unregistration Job: the eggo run it followed."""
EXPIRES = "gitops-edge.io/token-expires"
"""When the Karmada join credential a registration carries stops working."""
EGGO_RUN = "eggo-run"
"""The :data:`COMPONENT` of an eggo run's Job and Pods."""
EGGO_POD_SELECTOR = f"{COMPONENT}={EGGO_RUN}"
"""The Pods of eggo runs (their template carries the run's labels)."""
