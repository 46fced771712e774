"""RBAC as the API server evaluates it, small enough to read: grants, calls, matching.

``grants_for`` turns rendered ClusterRoles/Roles and their bindings into the grants a
ServiceAccount holds (a ClusterRoleBinding grants everywhere; a RoleBinding grants in
its own namespace only, whether it references a Role or a ClusterRole).
``calls_from_request`` turns one recorded HTTP request into the RBAC attributes the
API server would authorize, following its RequestInfo rules: GET of an item is
``get``, of a collection ``list`` (``watch`` with ``?watch=true``), POST ``create``,
PUT ``update``, PATCH ``patch``, DELETE ``delete`` (``deletecollection`` without a
name). A server-side apply that creates its object (201) is also authorized as
``create``: the API server checks both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
EVERYWHERE = "*"
"""The scope of a grant from a ClusterRoleBinding: every namespace and cluster-scoped kinds."""

NAMESPACE_SUBRESOURCES = ("status", "finalize")
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Grant:
    verb: str
    group: str
    resource: str
    scope: str
    """``*`` (ClusterRoleBinding) or the namespace of the RoleBinding."""
    names: frozenset[str] = frozenset()
    source: str = ""

    def allows(self, call: Call) -> bool:
        return (
            self.verb in (call.verb, "*")
            and self.group in (call.group, "*")
            and self.resource in (call.resource, "*")
            and (self.scope == EVERYWHERE or self.scope == call.namespace)
            and (not self.names or (call.name is not None and call.name in self.names))
        )

    def describe(self) -> str:
        where = "cluster-wide" if self.scope == EVERYWHERE else f"in {self.scope}"
        names = f" {sorted(self.names)}" if self.names else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'}{names} {where} ({self.source})"


@dataclass(frozen=True)
class Call:
    verb: str
    group: str
    resource: str
    """``plural`` or ``plural/subresource``, as RBAC rules name it."""
    namespace: str | None
    name: str | None = None

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        name = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'}{name}{where}"


def _is_subject(subject: Obj, sa_namespace: str, sa_name: str) -> bool:
    return (
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == sa_name
        and subject.get("namespace") == sa_namespace
    )


def grants_for(objects: Iterable[Obj], *, sa_namespace: str, sa_name: str) -> list[Grant]:
    """Every grant ``system:serviceaccount:<sa_namespace>:<sa_name>`` holds from ``objects``."""
    objs = list(objects)
    roles: dict[tuple[str, str, str], Obj] = {}
    for o in objs:
        if o.get("kind") in ("ClusterRole", "Role"):
            meta = o["metadata"]
            roles[(o["kind"], meta.get("namespace", ""), meta["name"])] = o
    grants: list[Grant] = []
    for o in objs:
        kind = o.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(_is_subject(s, sa_namespace, sa_name) for s in o.get("subjects") or ()):
            continue
        meta = o["metadata"]
        ref = o["roleRef"]
        scope = EVERYWHERE if kind == "ClusterRoleBinding" else meta["namespace"]
        role_ns = "" if ref["kind"] == "ClusterRole" else meta["namespace"]
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        assert role is not None, (
            f"{kind} {meta['name']} references a missing {ref['kind']} {ref['name']}"
        )
        source = f"{kind} {meta['name']} -> {ref['kind']} {ref['name']}"
        for rule in role.get("rules") or ():
            assert not rule.get("nonResourceURLs"), f"{source}: nonResourceURLs are not needed"
            names = frozenset(rule.get("resourceNames") or ())
            for group in rule.get("apiGroups") or ():
                for resource in rule.get("resources") or ():
                    for verb in rule.get("verbs") or ():
                        grants.append(Grant(verb, group, resource, scope, names, source))
    return grants


def allowed(call: Call, grants: Iterable[Grant]) -> bool:
    return any(g.allows(call) for g in grants)


def calls_from_request(
    method: str, path: str, query: dict[str, str], status: int, content_type: str | None
) -> list[Call] | None:
    """The RBAC attributes of one request; None for a non-resource path (discovery)."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 3 and segs[0] == "api":
        group, rest = "", segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, rest = segs[1], segs[3:]
    else:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) >= 3 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else None
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    method = method.upper()
    if method in ("GET", "HEAD"):
        if name:
            verb = "get"
        else:
            verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        raise AssertionError(f"unexpected method {method} {path}")
    calls = [Call(verb, group, resource, namespace, name)]
    ctype = (content_type or "").split(";")[0].strip().lower()
    if verb == "patch" and ctype == APPLY_PATCH and status == 201:
        calls.append(Call("create", group, resource, namespace, name))
    return calls


def rule_calls(rule: Obj, namespace: str) -> list[Call]:
    """What a Role rule lets its holder do in ``namespace``, as calls (names ignored)."""
    return [
        Call(verb, group, resource, namespace)
        for group in rule.get("apiGroups") or ()
        for resource in rule.get("resources") or ()
        for verb in rule.get("verbs") or ()
    ]
