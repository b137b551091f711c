"""Policy rules (``HP-P0xx``): workload hardening, secrets in Git, namespace guard rails.

Each rule's reason and severity live in :mod:`homeport.check.model`; an object opts out
of one rule with the annotation ``check.homeport.dev/<RULE-ID>: "<reason>"`` (on the
object or on its pod template).
"""

from __future__ import annotations

from typing import Any

from homeport.check.context import POD_KINDS, Context, World, containers, namespace_of, pod_spec
from homeport.check.resource import Resource
from homeport.check.rules.egress import run_egress
from homeport.names import check_image
from homeport.wellknown import BUILTIN_NAMESPACES

_SCALED = {"Deployment", "StatefulSet", "ReplicaSet"}
_PSA_LABEL = "pod-security.kubernetes.io/enforce"


def run_policy(ctx: Context, w: World) -> None:
    """Apply every policy rule to the tree's objects."""
    pdbs: dict[str, list[dict[str, Any]]] = {}
    netpol_ns: set[str] = set()
    workload_ns: dict[str, Any] = {}
    for res in ctx.resources:
        if res.group == "policy" and res.kind == "PodDisruptionBudget":
            sel = ((res.obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            pdbs.setdefault(namespace_of(ctx, res), []).append(sel if isinstance(sel, dict) else {})
        if res.group == "networking.k8s.io" and res.kind == "NetworkPolicy":
            netpol_ns.add(namespace_of(ctx, res))

    for res in ctx.resources:
        g, k = res.group, res.kind
        ns = namespace_of(ctx, res)
        if g == "" and k == "Secret":
            if res.obj.get("data") or res.obj.get("stringData"):
                ctx.add(
                    "HP-P010",
                    res,
                    "plain Secret with data in the tree; seal it with "
                    "`homeport secret set` (SealedSecret)",
                    ("data",) if res.obj.get("data") else ("stringData",),
                )
            continue
        if g == "" and k == "Namespace":
            labels = res.labels
            if not labels.get(_PSA_LABEL):
                ctx.add(
                    "HP-P011",
                    res,
                    f'namespace has no "{_PSA_LABEL}" label',
                    ("metadata", "labels") if labels else ("metadata",),
                )
            continue
        if k not in POD_KINDS or g not in ("", "apps", "batch"):
            continue
        pod, base = pod_spec(res)
        if pod is None:
            continue
        if ns:
            workload_ns.setdefault(ns, res)
        _pod_rules(ctx, res, pod, base)
        replicas = (res.obj.get("spec") or {}).get("replicas", 1)
        if k in _SCALED and isinstance(replicas, int) and replicas > 1:
            labels = (
                ((res.obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
            ).get("labels") or {}
            covered = any(
                sel and all(labels.get(a) == b for a, b in sel.items()) for sel in pdbs.get(ns, [])
            )
            if not covered:
                ctx.add(
                    "HP-P009",
                    res,
                    f"{replicas} replicas and no PodDisruptionBudget selects their pods",
                    ("spec", "replicas"),
                )

    # Every namespace the tree creates or runs workloads in has a NetworkPolicy.
    seen: set[str] = set()
    for res in ctx.resources:
        if res.group == "" and res.kind == "Namespace":
            name = res.name
            if name not in BUILTIN_NAMESPACES and name not in netpol_ns:
                ctx.add("HP-P012", res, f'namespace "{name}" has no NetworkPolicy')
            seen.add(name)
    for ns, res in sorted(workload_ns.items()):
        if ns not in seen and ns not in netpol_ns and ns not in BUILTIN_NAMESPACES:
            ctx.add("HP-P012", res, f'namespace "{ns}" runs pods but has no NetworkPolicy')

    # Git servers and DDNS URLs the egress policies would block (HP-P013).
    run_egress(ctx)


def _pod_rules(
    ctx: Context, res: Resource, pod: dict[str, Any], base: tuple[str | int, ...]
) -> None:
    if pod.get("hostNetwork"):
        ctx.add(
            "HP-P008",
            res,
            "hostNetwork: true gives the pod the node's network",
            (*base, "hostNetwork"),
        )
    if pod.get("hostPID"):
        ctx.add("HP-P008", res, "hostPID: true exposes the node's processes", (*base, "hostPID"))
    if pod.get("hostIPC"):
        ctx.add("HP-P008", res, "hostIPC: true shares the node's IPC namespace", (*base, "hostIPC"))
    for j, vol in enumerate(pod.get("volumes") or []):
        if isinstance(vol, dict) and "hostPath" in vol:
            ctx.add(
                "HP-P008",
                res,
                f'volume "{vol.get("name")}" mounts a hostPath',
                (*base, "volumes", j, "hostPath"),
            )
    psc: dict[str, Any] = pod.get("securityContext") or {}
    is_job = res.kind in ("Job", "CronJob")
    for key, i, c in containers(pod):
        p = (*base, key, i)
        name = c.get("name", "?")
        image = c.get("image")
        try:
            check_image(str(image or ""))
        except ValueError as exc:
            ctx.add("HP-P001", res, f'container "{name}": {exc}', (*p, "image"))
        raw = c.get("resources")
        res_: dict[str, Any] = raw if isinstance(raw, dict) else {}
        req = res_.get("requests") or {}
        lim = res_.get("limits") or {}
        missing = [f"requests.{x}" for x in ("cpu", "memory") if x not in req]
        missing += ["limits.memory"] if "memory" not in lim else []
        if missing:
            ctx.add(
                "HP-P002", res, f'container "{name}" has no {", ".join(missing)}', (*p, "resources")
            )
        if key == "containers" and not is_job:
            probes = [x for x in ("livenessProbe", "readinessProbe") if x not in c]
            if probes:
                ctx.add("HP-P003", res, f'container "{name}" has no {" or ".join(probes)}', p)
        sc: dict[str, Any] = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if non_root is not True or uid == 0:
            ctx.add(
                "HP-P004",
                res,
                f'container "{name}" may run as root (set runAsNonRoot: true'
                " and a non-zero runAsUser)",
                (*p, "securityContext"),
            )
        if sc.get("readOnlyRootFilesystem") is not True:
            ctx.add(
                "HP-P005",
                res,
                f'container "{name}" has a writable root filesystem',
                (*p, "securityContext"),
            )
        drop = ((sc.get("capabilities") or {}).get("drop")) or []
        if "ALL" not in drop:
            ctx.add(
                "HP-P006",
                res,
                f'container "{name}" does not drop ALL capabilities',
                (*p, "securityContext"),
            )
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged") is True:
            ctx.add(
                "HP-P007",
                res,
                f'container "{name}" allows privilege escalation (set '
                "allowPrivilegeEscalation: false, never privileged)",
                (*p, "securityContext"),
            )
