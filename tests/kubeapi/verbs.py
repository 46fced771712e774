"""What each API verb does to stored objects: create, update, patch, apply, delete, list.

The rules mirror kube-apiserver closely enough that controller bugs show up in
tests: server-owned metadata cannot be overwritten, a stale resourceVersion is a
409, the main resource ignores ``.status`` for kinds with a status subresource
(and ``/status`` ignores everything else), a no-op write does not move the
resourceVersion, finalizers hold a deleted object until they are removed, and
``dryRun=All`` computes the result without storing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from . import errors
from .apply import record_update, server_side_apply
from .errors import APIError, bad_request
from .patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    clone,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from .resources import NAME_LABEL, NAME_PATH_SEGMENT, ResourceType
from .store import (
    ObjectStore,
    Stored,
    decode_continue,
    dumps,
    encode_continue,
    generation_changed,
    utcnow,
)

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")

_yaml_loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class WriteOptions:
    """Query parameters shared by the write verbs."""

    dry_run: bool = False
    field_manager: str = "unknown"
    explicit_manager: bool = False
    force: bool = False
    subresource: str = ""


@dataclass
class Written:
    """A write's response: the object (or Status) and the HTTP status code."""

    body: Stored
    code: int = 200


def validate_name(rt: ResourceType, name: str) -> None:
    if rt.name_rule == NAME_PATH_SEGMENT:
        if name in (".", "..") or "/" in name or "%" in name:
            raise errors.invalid(
                rt, name, "metadata.name", f'Invalid value: "{name}": may not contain "/" or "%"'
            )
        return
    if rt.name_rule == NAME_LABEL:
        if len(name) > 63 or not _LABEL.match(name):
            raise errors.invalid(
                rt, name, "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower '
                "case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character",
            )
        return
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        raise errors.invalid(
            rt, name, "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
            "case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character",
        )


def parse_body(raw: bytes, content_type: str = "application/json") -> Any:
    if not raw:
        raise bad_request("the body of the request was empty")
    try:
        if "yaml" in content_type:
            return yaml.load(raw, Loader=_yaml_loader)  # noqa: S506 - a safe loader
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding request body: {exc}") from exc


class Verbs:
    """The REST verbs over one ``ObjectStore``."""

    def __init__(self, store: ObjectStore, *, strict_namespaces: bool = False) -> None:
        self.store = store
        self.strict_namespaces = strict_namespaces

    # ----------------------------------------------------------------- helpers

    def _current(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        entry = self.store.lookup(rt, namespace, name)
        if entry is None:
            raise errors.not_found(rt, name)
        return entry

    def _check_type(self, rt: ResourceType, body: Any, *, required: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if required and (not api_version or not kind):
            missing = "apiVersion" if not api_version else "kind"
            raise bad_request(f"Object '{missing}' is missing in '{dumps(body).decode()[:200]}'")
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        meta = body.get("metadata")
        if meta is None:
            body["metadata"] = {}
        elif not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        return body

    def _check_namespace(self, rt: ResourceType, namespace: str, body: Obj) -> None:
        if not rt.namespaced:
            return
        if not namespace:
            raise errors.method_not_allowed("POST")
        given = body["metadata"].get("namespace")
        if given and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if self.strict_namespaces:
            ns_rt = self.store.registry.by_kind("v1", "Namespace")
            if ns_rt is not None and self.store.lookup(ns_rt, "", namespace) is None:
                raise errors.namespace_not_found(namespace)

    def _check_identity(self, rt: ResourceType, name: str, namespace: str, body: Obj) -> None:
        meta = body["metadata"]
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )

    @staticmethod
    def _check_precondition(rt: ResourceType, current: Stored, body: Obj) -> None:
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and str(rv) != current.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, current.obj["metadata"]["name"])

    @staticmethod
    def _keep_server_fields(current: Obj, new: Obj) -> None:
        meta, old_meta = new.setdefault("metadata", {}), current["metadata"]
        for key in (*_SERVER_META, "name", "namespace", "managedFields", "generation"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]

    def _finish(
        self, rt: ResourceType, current: Stored, new: Obj, opts: WriteOptions, *, record: bool
    ) -> Written:
        """Common tail of update, patch and apply: generation, ownership, no-op, finalizers."""
        old = current.obj
        meta = new["metadata"]
        generation = int(old["metadata"].get("generation", 1))
        meta["generation"] = generation + 1 if generation_changed(old, new) else generation
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if record:
            record_update(old, new, opts.field_manager, rt, utcnow(), opts.subresource)
        if new == old:
            return Written(current)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if opts.dry_run:
                return Written(Stored(new))
            self._delete_now(rt, meta.get("namespace", ""), meta["name"], "Background")
            return Written(Stored(new))
        if opts.dry_run:
            return Written(Stored(new))
        return Written(self.store.commit(rt, new))

    # ------------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        with self.store.lock:
            return self._current(rt, namespace, name)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        predicate: Callable[[Obj], bool] | None,
        limit: int | None,
        continue_token: str | None,
    ) -> bytes:
        """The encoded ``<Kind>List``; items reuse each object's cached JSON."""
        with self.store.lock:
            after = None
            list_rv = self.store.rv
            if continue_token:
                list_rv, after = decode_continue(continue_token)
                self.store.check_continue(rt, list_rv)
            page = self.store.page(rt, namespace, after, limit or None, predicate)
        meta: Obj = {"resourceVersion": str(list_rv)}
        if page.continue_after is not None:
            meta["continue"] = encode_continue(list_rv, page.continue_after)
            if page.remaining is not None:
                meta["remainingItemCount"] = page.remaining
        head = dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})
        return b"".join(
            (head[:-1], b',"items":[', b",".join(e.json() for e in page.items), b"]}")
        )

    # ------------------------------------------------------------------ writes

    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> Written:
        body = self._check_type(rt, body)
        self._check_namespace(rt, namespace, body)
        new = clone(body)
        meta = new["metadata"]
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        for key in (*_SERVER_META, "generation", "managedFields", "resourceVersion"):
            meta.pop(key, None)
        if rt.status_subresource:
            new.pop("status", None)
        if rt.kind == "Namespace" and rt.group == "":
            new["status"] = {"phase": "Active"}
            new.setdefault("spec", {"finalizers": ["kubernetes"]})
        if not meta.get("name") and not meta.get("generateName"):
            raise errors.invalid(
                rt, "", "metadata.name", "Required value: name or generateName is required"
            )
        with self.store.lock:
            self.store.new_metadata(rt, new, namespace)
            name = meta["name"]
            validate_name(rt, name)
            if self.store.lookup(rt, namespace, name) is not None:
                if meta.get("generateName") and not body["metadata"].get("name"):
                    raise APIError(
                        409, f'{errors.qualified(rt)} "{name}" already exists, the server '
                        "was not able to generate a unique name for the object",
                        "AlreadyExists",
                    )
                raise errors.already_exists(rt, name)
            record_update(None, new, opts.field_manager, rt, meta["creationTimestamp"])
            if opts.dry_run:
                return Written(Stored(new), 201)
            return Written(self.store.commit(rt, new), 201)

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions
    ) -> Written:
        body = self._check_type(rt, body)
        self._check_identity(rt, name, namespace, body)
        with self.store.lock:
            current = self._current(rt, namespace, name)
            self._check_precondition(rt, current, body)
            if opts.subresource == "status":
                new = clone(current.obj)
                if "status" in body:
                    new["status"] = clone(body["status"])
                else:
                    new.pop("status", None)
            else:
                new = clone(body)
                self._keep_server_fields(current.obj, new)
                if rt.status_subresource:
                    self._keep_status(current.obj, new)
            return self._finish(rt, current, new, opts, record=True)

    @staticmethod
    def _keep_status(current: Obj, new: Obj) -> None:
        if "status" in current:
            new["status"] = clone(current["status"])
        else:
            new.pop("status", None)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        content_type: str,
        opts: WriteOptions,
    ) -> Written:
        if content_type == APPLY_PATCH:
            return self.apply(rt, namespace, name, parse_body(raw, content_type), opts)
        appliers: dict[str, Callable[[Any, Any], Any]] = {
            MERGE_PATCH: merge_patch,
            STRATEGIC_MERGE_PATCH: strategic_merge_patch,
            JSON_PATCH: json_patch,
        }
        patcher = appliers.get(content_type)
        if patcher is None:
            raise APIError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join((JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH))}",
                "UnsupportedMediaType",
            )
        document = parse_body(raw, content_type)
        with self.store.lock:
            current = self._current(rt, namespace, name)
            patched = clone(patcher(current.obj, document))
            if not isinstance(patched, dict):
                raise APIError(422, "the patch produced a non-object document", "Invalid")
            patched.setdefault("metadata", {})
            self._check_identity(rt, name, namespace, patched)
            self._check_precondition(rt, current, patched)
            if opts.subresource == "status":
                new = clone(current.obj)
                if "status" in patched:
                    new["status"] = patched["status"]
                else:
                    new.pop("status", None)
            else:
                new = patched
                self._keep_server_fields(current.obj, new)
                if rt.status_subresource:
                    self._keep_status(current.obj, new)
            return self._finish(rt, current, new, opts, record=True)

    def apply(
        self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions
    ) -> Written:
        """Server-side apply: create if absent, else merge with field ownership checks."""
        if not opts.explicit_manager:
            raise bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager parameter"
            )
        body = self._check_type(rt, body, required=True)
        self._check_identity(rt, name, namespace, body)
        body["metadata"]["name"] = name
        now = utcnow()
        with self.store.lock:
            current = self.store.lookup(rt, namespace, name)
            if current is None:
                if opts.subresource:
                    raise errors.not_found(rt, name)
                if rt.namespaced:
                    self._check_namespace(rt, namespace, body)
                validate_name(rt, name)
                new = server_side_apply(
                    None, body, opts.field_manager, rt, now, force=opts.force
                )
                meta = new["metadata"]
                for key in (*_SERVER_META, "generation", "resourceVersion"):
                    meta.pop(key, None)
                self.store.new_metadata(rt, new, namespace)
                if opts.dry_run:
                    return Written(Stored(new), 201)
                return Written(self.store.commit(rt, new), 201)
            self._check_precondition(rt, current, body)
            new = server_side_apply(
                current.obj,
                body,
                opts.field_manager,
                rt,
                now,
                force=opts.force,
                subresource=opts.subresource,
            )
            managed = new["metadata"].get("managedFields")
            self._keep_server_fields(current.obj, new)
            if managed:
                new["metadata"]["managedFields"] = managed
            else:
                new["metadata"].pop("managedFields", None)
            return self._finish(rt, current, new, opts, record=False)

    # ----------------------------------------------------------------- deletes

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: Obj,
        propagation: str | None,
        dry_run: bool,
    ) -> Written:
        with self.store.lock:
            current = self._current(rt, namespace, name)
            pre = options.get("preconditions") or {}
            meta = current.obj["metadata"]
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise APIError(
                    409,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                    f"meta: {meta.get('uid')}",
                    "Conflict",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise errors.conflict(rt, name)
            policy = propagation or options.get("propagationPolicy")
            if policy not in (None, "Orphan", "Background", "Foreground"):
                raise errors.invalid(
                    rt, name, "propagationPolicy", f'Unsupported value: "{policy}"'
                )
            if meta.get("finalizers"):
                if dry_run or meta.get("deletionTimestamp"):
                    return Written(current)
                new = clone(current.obj)
                new["metadata"]["deletionTimestamp"] = utcnow()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return Written(self.store.commit(rt, new))
            details = {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta.get("uid")}
            if not dry_run:
                if policy is None:
                    policy = "Orphan" if rt.kind == "Job" and rt.group == "batch" else "Background"
                self._delete_now(rt, namespace, name, policy)
            return Written(Stored(errors.success_status(details)))

    def _delete_now(self, rt: ResourceType, namespace: str, name: str, policy: str) -> None:
        """Remove an object, its namespace's contents, and (unless orphaning) dependents."""
        gone = self.store.remove(rt, namespace, name)
        if gone is None:
            return
        if rt.kind == "Namespace" and rt.group == "":
            for other in self.store.registry:
                if other.namespaced:
                    for entry in self.store.page(other, name, None, None, None).items:
                        self.store.remove(other, name, entry.obj["metadata"]["name"])
        if policy == "Orphan":
            return
        for dep_rt, (dep_ns, dep_name) in self.store.dependents(gone.obj["metadata"]["uid"]):
            dep = self.store.lookup(dep_rt, dep_ns, dep_name)
            if dep is None:
                continue
            if dep.obj["metadata"].get("finalizers"):
                if not dep.obj["metadata"].get("deletionTimestamp"):
                    new = clone(dep.obj)
                    new["metadata"]["deletionTimestamp"] = utcnow()
                    self.store.commit(dep_rt, new)
            else:
                self._delete_now(dep_rt, dep_ns, dep_name, policy)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        predicate: Callable[[Obj], bool] | None,
        propagation: str | None,
        dry_run: bool,
    ) -> Written:
        with self.store.lock:
            victims = [
                (e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
                for e in self.store.page(rt, namespace, None, None, predicate).items
            ]
            for ns, name in victims:
                try:
                    self.delete(rt, ns, name, {}, propagation, dry_run)
                except APIError as exc:
                    if exc.code != 404:  # already taken by a cascading delete
                        raise
        return Written(Stored(errors.success_status()))

