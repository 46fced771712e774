"""Review-time structural schemas of the Karmada policies gitops-edge applies.

karmada-apiserver serves the policy CRDs as structural schemas, so a field the
schema does not know is silently *pruned* on write: a misspelt ``clusterTolerations``
would become a policy that evicts an offline province. Review time is the only place
that can say so, with the file and the field.

The schemas here are written in code, for the fields gitops-edge supports, and are a
strict subset of Karmada v1.18.2's CRDs (``charts/karmada/_crds/bases/policy/``,
karmada-io/karmada 0533b555e040596f4fff9b6a344efbaeed71d0cc): every path and type
written here exists with the same type in the upstream ``openAPIV3Schema`` (a test
checks that against the reference CRDs). A field upstream has but this file lacks
(``failover``, ``dependentOverrides``, ``workloadAffinity``, ...) is refused as
unsupported rather than passed unchecked. :func:`unknown_fields` walks any
openAPIV3Schema, so the same check runs against the upstream CRDs in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {"x-kubernetes-preserve-unknown-fields": True}
STR_MAP: Schema = {"type": "object", "additionalProperties": STR}


def obj(**props: Schema) -> Schema:
    return {"type": "object", "properties": props}


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


_REQUIREMENT = obj(key=STR, operator=STR, values=arr(STR))
LABEL_SELECTOR = obj(matchLabels=STR_MAP, matchExpressions=arr(_REQUIREMENT))
FIELD_SELECTOR = obj(matchExpressions=arr(_REQUIREMENT))
CLUSTER_AFFINITY = obj(
    clusterNames=arr(STR),
    exclude=arr(STR),
    labelSelector=LABEL_SELECTOR,
    fieldSelector=FIELD_SELECTOR,
)
TOLERATION = obj(key=STR, operator=STR, value=STR, effect=STR, tolerationSeconds=INT)
RESOURCE_SELECTOR = obj(
    apiVersion=STR, kind=STR, name=STR, namespace=STR, labelSelector=LABEL_SELECTOR
)
PLACEMENT = obj(
    clusterAffinity=CLUSTER_AFFINITY,
    clusterAffinities=arr(
        obj(
            affinityName=STR,
            clusterNames=arr(STR),
            exclude=arr(STR),
            labelSelector=LABEL_SELECTOR,
            fieldSelector=FIELD_SELECTOR,
        )
    ),
    clusterTolerations=arr(TOLERATION),
    spreadConstraints=arr(obj(spreadByField=STR, spreadByLabel=STR, maxGroups=INT, minGroups=INT)),
    replicaScheduling=obj(
        replicaSchedulingType=STR,
        replicaDivisionPreference=STR,
        weightPreference=obj(
            dynamicWeight=STR,
            staticWeightList=arr(obj(targetCluster=CLUSTER_AFFINITY, weight=INT)),
        ),
    ),
)
SUSPENSION = obj(dispatching=BOOL, dispatchingOnClusters=obj(clusterNames=arr(STR)))
PROPAGATION_SPEC = obj(
    resourceSelectors=arr(RESOURCE_SELECTOR),
    placement=PLACEMENT,
    suspension=SUSPENSION,
    priority=INT,
    preemption=enum("Always", "Never"),
    conflictResolution=enum("Abort", "Overwrite"),
    propagateDeps=BOOL,
    schedulerName=STR,
    preserveResourcesOnDeletion=BOOL,
)
_OPS = ("add", "remove", "replace")
OVERRIDERS = obj(
    plaintext=arr(obj(path=STR, operator=enum(*_OPS), value=ANY)),
    imageOverrider=arr(
        obj(
            predicate=obj(path=STR),
            component=enum("Registry", "Repository", "Tag"),
            operator=enum(*_OPS),
            value=STR,
        )
    ),
    commandOverrider=arr(obj(containerName=STR, operator=enum("add", "remove"), value=arr(STR))),
    argsOverrider=arr(obj(containerName=STR, operator=enum("add", "remove"), value=arr(STR))),
    labelsOverrider=arr(obj(operator=enum(*_OPS), value=STR_MAP)),
    annotationsOverrider=arr(obj(operator=enum(*_OPS), value=STR_MAP)),
)
OVERRIDE_SPEC = obj(
    resourceSelectors=arr(RESOURCE_SELECTOR),
    overrideRules=arr(obj(targetCluster=CLUSTER_AFFINITY, overriders=OVERRIDERS)),
)
METADATA = obj(name=STR, namespace=STR, labels=STR_MAP, annotations=STR_MAP)

GROUP = "policy.karmada.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
POLICY_KINDS: dict[str, tuple[str, bool, Schema]] = {
    "PropagationPolicy": ("propagationpolicies", True, PROPAGATION_SPEC),
    "ClusterPropagationPolicy": ("clusterpropagationpolicies", False, PROPAGATION_SPEC),
    "OverridePolicy": ("overridepolicies", True, OVERRIDE_SPEC),
    "ClusterOverridePolicy": ("clusteroverridepolicies", False, OVERRIDE_SPEC),
}
"""kind -> (plural, namespaced, spec schema), as the upstream CRDs declare them."""


def policy_schema(kind: str) -> Schema:
    """The whole object's schema for one policy kind (status is the controllers')."""
    return obj(apiVersion=STR, kind=STR, metadata=METADATA, spec=POLICY_KINDS[kind][2])


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "number": (int, float),
}


def unknown_fields(value: Any, schema: Schema, path: str = "") -> Iterator[tuple[str, str]]:
    """``(field path, message)`` for each field the schema would prune or reject by type.

    Follows the structural-schema rules the API server applies: ``properties`` list
    the known keys of an object, ``additionalProperties`` types a map's values,
    ``x-kubernetes-preserve-unknown-fields`` keeps anything below it.
    """
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return
    want = schema.get("type")
    if want in _TYPES:
        ok = isinstance(value, _TYPES[want]) and not (want == "integer" and isinstance(value, bool))
        if want in ("string", "integer") and isinstance(value, bool):
            ok = False
        if not ok:
            yield (
                path,
                f"must be {'an' if want[0] in 'aeio' else 'a'} {want}, not {type(value).__name__}",
            )
            return
    if "enum" in schema and value not in schema["enum"]:
        yield path, f"{value!r} is not one of {', '.join(map(str, schema['enum']))}"
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if props is not None and key in props:
                yield from unknown_fields(item, props[key], where)
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, where)
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield (
                    where,
                    (
                        "is not a field here: karmada-apiserver would prune it (remove it or "
                        f"fix its spelling; known here: {', '.join(sorted(props))})"
                    ),
                )
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{i}]")
