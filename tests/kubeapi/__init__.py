"""A Kubernetes API server for tests, spoken to over HTTP by the real client.

Realistic behaviour (resourceVersions, conflicts, patches, server-side apply,
status subresources, watches with bookmarks and 410s, pagination, RBAC-style
errors) catches client-side bugs that monkey-patched API objects would hide.
"""

from .errors import APIError, status_object
from .faults import FaultInjector, FaultRule
from .requestlog import RequestLog, RequestRecord
from .resources import DEFAULT_RESOURCES, ResourceRegistry, ResourceType
from .server import KubeAPIServer
from .store import ObjectStore

__all__ = [
    "DEFAULT_RESOURCES",
    "APIError",
    "FaultInjector",
    "FaultRule",
    "KubeAPIServer",
    "ObjectStore",
    "RequestLog",
    "RequestRecord",
    "ResourceRegistry",
    "ResourceType",
    "status_object",
]
