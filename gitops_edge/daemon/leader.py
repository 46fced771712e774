"""Leader election over a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

Two gitops-edge replicas (a standby, or the old and new pod of a rolling update) must
never both emit to the provinces: two writers fight over the same Jobs and Argo CD
Applications. Kubernetes controllers settle this with a Lease that one replica holds and
renews; this module speaks the same protocol as client-go's ``leaderelection`` package,
so ``kubectl get lease`` reads it as it reads kube-controller-manager's:

- the record is the Lease ``spec`` (``holderIdentity``, ``leaseDurationSeconds``,
  ``acquireTime``, ``renewTime`` as RFC 3339 with microseconds, ``leaseTransitions``);
- writes are optimistic: create when absent, else PUT with the resourceVersion just read.
  A 409 means another replica wrote first; it won this round and we try again later;
- another holder's lease counts as expired when it has not changed for a whole
  ``leaseDurationSeconds`` as seen by *our* monotonic clock (client-go's rule, immune to
  clock skew between nodes) or when its ``renewTime`` is older than that by our wall
  clock (so a replica that died an hour ago is replaced at once, not a lease later;
  this trusts the nodes' clocks, NTP-synced in any cluster, to agree within a renew period);
- the leader steps down once it could not renew for ``renew_deadline`` (shorter than the
  lease, so it stops writing before anyone else may start), or at once when it sees
  another live holder;
- on a graceful stop it releases the Lease (empty holder, ``leaseDurationSeconds: 1``,
  as client-go's ``ReleaseOnCancel``) so the standby takes over within one retry period.

The generated client in kubernetes >= 35 validates request bodies into pydantic models
and re-serializes them, which rewrites ``renewTime`` as ``...+00:00`` and drops the
fraction when it is zero; the API server's MicroTime parser rejects that. Writes
therefore call the generated methods' ``raw_function`` (pydantic's documented way around
``validate_call``), so the raw JSON body goes on the wire as written.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

import structlog
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from gitops_edge.live.client import FIELD_MANAGER, KubeClient, KubeError
from gitops_edge.live.errors import network_cause, status_body

__all__ = ["LeaderElector", "LeaseRecord", "format_micro", "parse_time"]

log = structlog.get_logger(__name__)

NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)
JITTER = 0.2
"""Candidates wait ``renew_period * (1 + up to JITTER)`` so they do not retry in lockstep."""

Outcome = Literal["held", "other", "conflict"]


def format_micro(when: datetime) -> str:
    """RFC 3339 with microseconds in UTC (Kubernetes ``MicroTime``): ``...T03:12:00.000000Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> datetime | None:
    """A Lease timestamp as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election record a Lease ``spec`` carries (client-go's LeaderElectionRecord)."""

    holder: str
    duration: int
    acquire_time: str
    renew_time: str
    transitions: int

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


def _body(resp: Any) -> dict[str, Any]:
    """The JSON object of a ``_preload_content=False`` response; the connection is released."""
    try:
        data = resp.data
    finally:
        release = getattr(resp, "release_conn", None)
        if release is not None:
            release()
    obj = json.loads(data or b"{}")
    if not isinstance(obj, dict):
        raise KubeError(f"unexpected Lease response: {str(obj)[:200]}")
    return obj


class LeaderElector:
    """Holds the Lease ``namespace/name`` while this replica leads.

    ``run()`` blocks until ``stop`` is set: it tries to acquire every ``renew_period``
    (jittered), calls ``on_started`` once it holds the Lease, renews every
    ``renew_period``, and calls ``on_stopped`` when leadership ends (renewal failed for
    ``renew_deadline``, another holder seen, or ``stop``). ``on_started`` and
    ``on_stopped`` strictly alternate and must return promptly: they run on the
    renewal thread. ``is_leader`` turns False as soon as the renew deadline passes,
    even while a request hangs or the process was frozen: it is a local monotonic
    clock check, cheap enough for the kube sink to ask before every object it writes
    (:mod:`gitops_edge.emit.kubesink`), so a leader resumed after a pause writes
    nothing more.

    ``renew_deadline`` defaults to ``lease_duration - renew_period`` (client-go's
    15 s / 10 s / 2 s defaults have the same shape). ``release_on_cancel=False`` makes a
    stop leave the Lease to expire, as a crashed process would. ``now`` and
    ``monotonic`` are the clocks, injectable for tests.
    """

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str = "gitops-edge",
        identity: str,
        lease_duration: float = 15.0,
        renew_period: float = 5.0,
        renew_deadline: float | None = None,
        release_on_cancel: bool = True,
        now: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity (the pod name)")
        if not 0 < renew_period < lease_duration:
            raise ValueError(
                f"renew_period ({renew_period}s) must be positive and shorter than "
                f"lease_duration ({lease_duration}s)"
            )
        deadline = (
            renew_deadline
            if renew_deadline is not None
            else max(renew_period, lease_duration - renew_period)
        )
        if not renew_period <= deadline < lease_duration:
            raise ValueError(
                f"renew_deadline ({deadline}s) must be at least renew_period ({renew_period}s) "
                f"and shorter than lease_duration ({lease_duration}s)"
            )
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = float(lease_duration)
        self.renew_period = float(renew_period)
        self.renew_deadline = float(deadline)
        self.release_on_cancel = release_on_cancel
        self._now = now
        self._monotonic = monotonic
        self._api = k8s.CoordinationV1Api(kube.api_client)
        self._timeout = min(max(1.0, self.renew_period), self.renew_deadline)
        self._lock = threading.RLock()
        self._observed: LeaseRecord | None = None
        self._observed_obj: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._leading = False
        self._renewed_at = 0.0
        self._log = log.bind(lease=f"{namespace}/{name}", identity=identity)

    # -- state -----------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while the Lease is ours and was renewed within ``renew_deadline``."""
        return self._leading and self._monotonic() - self._renewed_at < self.renew_deadline

    @property
    def observed(self) -> LeaseRecord | None:
        """The Lease record as last read or written (for status pages and tests)."""
        return self._observed

    @property
    def _written_duration(self) -> int:
        """``leaseDurationSeconds`` is an integer: round up so others never wait too little."""
        return max(1, math.ceil(self.lease_duration))

    # -- the loop --------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
    ) -> None:
        """Elect, lead and step down until ``stop`` is set; see the class docstring."""
        started = False
        self._log.info("leader election started", lease_duration=self.lease_duration)
        try:
            while not stop.is_set():
                held = self.try_acquire_or_renew()
                if held and not started:
                    started = True
                    self._log.info("became leader", transitions=self._transitions())
                    on_started()
                elif started and not self.is_leader:
                    started = False
                    self._log.warning(
                        "lost leadership: stop reconciling",
                        holder=self._observed.holder if self._observed else "",
                    )
                    on_stopped()
                stop.wait(self._interval(started))
        finally:
            if self.release_on_cancel:
                self.release()
            else:
                with self._lock:
                    self._leading = False
            if started:
                on_stopped()
            self._log.info("leader election stopped")

    def _interval(self, leading: bool) -> float:
        if leading:
            return self.renew_period
        return self.renew_period * (1 + random.random() * JITTER)  # noqa: S311 - jitter, not crypto

    def _transitions(self) -> int:
        return self._observed.transitions if self._observed else 0

    # -- one round -------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One read-then-write round; True when we hold the Lease afterwards.

        API failures are logged and count as "not this round": the loop retries next
        period, and leadership ends only when the renew deadline passes.
        """
        with self._lock:
            # the deadline counts from *before* the request: the record says "renewed
            # now" as of this moment, and a slow answer must not stretch our lease
            # beyond what the other replicas compute from it
            began = self._monotonic()
            try:
                outcome: Outcome | None = self._attempt()
            except KubeError as exc:
                self._log.warning("lease request failed; retrying", error=str(exc))
                outcome = None
            if outcome == "held":
                self._leading = True
                self._renewed_at = began
                return True
            if self._leading and (
                outcome == "other" or self._monotonic() - self._renewed_at >= self.renew_deadline
            ):
                self._leading = False
            return False

    def _attempt(self) -> Outcome:
        now = self._now()
        current = self._get()
        if current is None:
            record = LeaseRecord(
                self.identity, self._written_duration, format_micro(now), format_micro(now), 0
            )
            created = self._create(record)
            if created is None:
                return "conflict"
            self._observe(created)
            return "held"
        self._observe(current)
        old = self._observed
        assert old is not None  # set by _observe
        if old.holder and old.holder != self.identity and self._valid(old, now):
            return "other"
        if old.holder == self.identity:
            acquired, transitions = old.acquire_time or format_micro(now), old.transitions
        else:
            acquired, transitions = format_micro(now), old.transitions + 1
        record = LeaseRecord(
            self.identity, self._written_duration, acquired, format_micro(now), transitions
        )
        updated = self._replace(current, record)
        if updated is None:
            return "conflict"
        self._observe(updated)
        return "held"

    def _valid(self, record: LeaseRecord, now: datetime) -> bool:
        """Whether another holder's lease still stands (see the module docstring)."""
        duration = record.duration or self._written_duration
        if self._monotonic() - self._observed_at >= duration:
            return False
        renewed = parse_time(record.renew_time)
        return renewed is None or renewed + timedelta(seconds=duration) >= now

    def _observe(self, obj: dict[str, Any]) -> None:
        """Remember the Lease; the local clock restarts only when the record changed."""
        record = LeaseRecord.from_spec(obj.get("spec") or {})
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()
        self._observed_obj = obj

    # -- release ---------------------------------------------------------------------

    def release(self) -> None:
        """Give the Lease up now if we hold it, so a standby need not wait it out.

        Idempotent and safe from any thread. Called by ``run`` on stop (unless
        ``release_on_cancel=False``); to step down for good, set ``run``'s stop event
        rather than calling this while ``run`` goes on, or it will re-acquire.
        """
        with self._lock:
            if not self._leading:
                return
            self._leading = False
            current = self._observed_obj
            for _ in range(2):
                if current is None:
                    return
                held = LeaseRecord.from_spec(current.get("spec") or {})
                if held.holder != self.identity:
                    return
                now = format_micro(self._now())
                record = LeaseRecord("", 1, now, now, held.transitions)
                try:
                    updated = self._replace(current, record)
                    if updated is not None:
                        self._observe(updated)
                        self._log.info("released leadership")
                        return
                    # Our last renewal may have landed after its client-side timeout:
                    # re-read once and release what is really there.
                    current = self._get()
                except KubeError as exc:
                    self._log.warning(
                        "could not release the lease; it expires on its own", error=str(exc)
                    )
                    return

    # -- API calls -------------------------------------------------------------------

    def _call(self, verb: str, fn: Callable[[], Any]) -> dict[str, Any] | None:
        """``fn()``'s JSON body; None on 404 (get) or 409 (create/update): the caller decides."""
        try:
            return _body(fn())
        except ApiException as exc:
            status = int(exc.status or 0)
            if (status == 404 and verb == "get") or (status == 409 and verb != "get"):
                return None
            detail = status_body(exc).get("message") or exc.reason or ""
            raise KubeError(
                f"{verb} lease {self.namespace}/{self.name} failed ({status}): {detail}",
                status=status,
                reason=str(status_body(exc).get("reason") or ""),
            ) from None
        except NETWORK_ERRORS as exc:
            raise KubeError(
                f"{verb} lease {self.namespace}/{self.name}: cannot reach the Kubernetes API "
                f"at {self.kube.host}: {network_cause(exc)}",
                status=0,
            ) from None

    def _raw(self, method: str) -> Callable[..., Any]:
        """A generated CoordinationV1Api method without pydantic's body round-trip."""
        fn = getattr(type(self._api), method)
        raw = getattr(fn, "raw_function", None)
        return partial(raw, self._api) if raw is not None else getattr(self._api, method)

    def _get(self) -> dict[str, Any] | None:
        return self._call(
            "get",
            partial(
                self._api.read_namespaced_lease,
                self.name,
                self.namespace,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )

    def _create(self, record: LeaseRecord) -> dict[str, Any] | None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        return self._call(
            "create",
            partial(
                self._raw("create_namespaced_lease"),
                self.namespace,
                body,
                field_manager=FIELD_MANAGER,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )

    def _replace(self, current: dict[str, Any], record: LeaseRecord) -> dict[str, Any] | None:
        """PUT ``record`` over the Lease as read, guarded by its resourceVersion.

        The rest of the object (labels, annotations, fields newer than this code such
        as ``spec.strategy``) goes back as read, as client-go's LeaseLock does.
        """
        meta = dict(current.get("metadata") or {})
        meta.pop("managedFields", None)
        spec = dict(current.get("spec") or {})
        spec.update(record.to_spec())
        body = {**current, "metadata": meta, "spec": spec}
        return self._call(
            "update",
            partial(
                self._raw("replace_namespaced_lease"),
                self.name,
                self.namespace,
                body,
                field_manager=FIELD_MANAGER,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )
