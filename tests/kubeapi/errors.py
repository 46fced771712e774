"""Failures as the API server reports them: ``Status`` objects with a reason and code.

Client code branches on ``ApiException.status`` and often on the ``reason`` in the
body (``AlreadyExists`` versus ``Conflict`` are both 409), so the test server
must produce the same shapes and messages a real apiserver does.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType

REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_object(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``meta/v1 Status`` body with ``status: Failure``."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    if details:
        body["details"] = details
    return body


class APIError(Exception):
    """Raised anywhere in request handling; the server turns it into a Status response."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_object(self.code, self.reason, self.message, self.details)


def _details(rt: ResourceType, name: str | None = None, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"group": rt.group, "kind": rt.plural}
    if name:
        details["name"] = name
    details.update(extra)
    return details


def qualified(rt: ResourceType) -> str:
    """``configmaps`` or ``jobs.batch``: how k8s names a resource in messages."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> APIError:
    return APIError(404, f'{qualified(rt)} "{name}" not found', "NotFound", _details(rt, name))


def namespace_not_found(namespace: str) -> APIError:
    return APIError(
        404,
        f'namespaces "{namespace}" not found',
        "NotFound",
        {"name": namespace, "kind": "namespaces"},
    )


def already_exists(rt: ResourceType, name: str) -> APIError:
    return APIError(
        409, f'{qualified(rt)} "{name}" already exists', "AlreadyExists", _details(rt, name)
    )


def conflict(rt: ResourceType, name: str) -> APIError:
    return APIError(
        409,
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        "Conflict",
        _details(rt, name),
    )


def invalid(rt: ResourceType, name: str, field: str, detail: str) -> APIError:
    return APIError(
        422,
        f'{rt.kind} "{name}" is invalid: {field}: {detail}',
        "Invalid",
        {
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
        },
    )


def bad_request(message: str) -> APIError:
    return APIError(400, message, "BadRequest")


def not_found_path() -> APIError:
    return APIError(404, "the server could not find the requested resource", "NotFound")


def method_not_allowed(method: str) -> APIError:
    return APIError(405, f"the server does not allow this method on the requested resource "
                    f"({method})", "MethodNotAllowed")


def expired(message: str) -> APIError:
    return APIError(410, message, "Expired")


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: str,
    verb: str,
    rt: ResourceType | None,
    *,
    name: str | None = None,
    namespace: str | None = None,
    subresource: str | None = None,
    path: str = "",
) -> APIError:
    """The RBAC denial message, worded as kube-apiserver words it."""
    if rt is None:
        return APIError(
            403, f'forbidden: User "{user}" cannot {verb} path "{path}"', "Forbidden", {}
        )
    resource = f"{rt.plural}/{subresource}" if subresource else rt.plural
    subject = f'{qualified(rt)} "{name}"' if name else qualified(rt)
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return APIError(
        403,
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{rt.group}" {scope}',
        "Forbidden",
        _details(rt, name),
    )
