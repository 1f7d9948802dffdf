#!/usr/bin/env python3
"""Offline checks of the Helm chart deploy/helm/mercato.

Run: python3 deploy/check/helm_check.py          (the whole check)
     python3 deploy/check/helm_check.py lint      (acts as `helm lint --strict`)
     python3 deploy/check/helm_check.py template [-f values.yaml ...]
                                                  (acts as `helm template`)

Needs, in the project venv (.tools/venv):
  pip install helm-python-sdk kubernetes-validate yamllint checkov
It re-executes itself under that venv's python when started with another one.
Exit status is non-zero when any check fails; every problem is printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHART = ROOT / "deploy" / "helm" / "mercato"
VALUES_DIR = HERE / "values"
VENV = ROOT / ".tools" / "venv"
VENV_PY = VENV / "bin" / "python"
K8S_VERSION = "1.31.0"
RELEASE = "shop"
NAMESPACE = "shop"

if Path(sys.prefix).resolve() != VENV.resolve() and VENV_PY.exists() and not os.environ.get("HELM_CHECK_NO_REEXEC"):
    os.environ["HELM_CHECK_NO_REEXEC"] = "1"
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])

import helm_python as helm  # noqa: E402
import kubernetes_validate  # noqa: E402
import yaml  # noqa: E402
from yamllint import linter  # noqa: E402
from yamllint.config import YamlLintConfig  # noqa: E402

SERVICES = {  # name -> (gRPC port, admin port, has database)
    "identity": (50051, 9081, True),
    "catalog": (50052, 9082, True),
    "orders": (50053, 9083, True),
    "payments": (50054, 9084, True),
    "shipping": (50055, 9085, True),
    "notifications": (50056, 9086, True),
    "gateway": (8080, 9080, False),
}

# (value files, expectation) — expectation "ok" renders, "reject" must fail the schema.
VALUE_SETS = {
    "default": ([], "ok"),
    "external": (["external.yaml"], "ok"),
    "ha": (["ha.yaml"], "ok"),
    "reject-latest": (["reject-latest.yaml"], "reject"),
    "reject-replicas": (["reject-replicas.yaml"], "reject"),
    "reject-smtp-url": (["reject-smtp-url.yaml"], "reject"),
    "reject-smtp-no-url": (["reject-smtp-no-url.yaml"], "reject"),
}

problems: list[str] = []


def problem(where: str, msg: str) -> None:
    problems.append(f"{where}: {msg}")


# --- the helm wrapper ------------------------------------------------------


def load_values(files: list[Path]) -> dict:
    merged: dict = {}
    for f in files:
        merged = deep_merge(merged, helm.values_from_yaml(f.read_text()) or {})
    return merged


def deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def chart_values(overrides: dict | None = None) -> dict:
    """The values the chart renders with: its values.yaml, then `overrides` (lists replaced, as Helm does)."""
    return deep_merge(helm.values_from_yaml((CHART / "values.yaml").read_text()) or {}, overrides or {})


def helm_lint(values: dict | None = None) -> list[str]:
    """`helm lint --strict`: every warning or error is a failure."""
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=f"v{K8S_VERSION}")
    out = [f"[{m['path']}] {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    out += list(report.get("errors") or [])
    return out


def helm_template(values: dict | None = None) -> dict[str, str]:
    """`helm template`: schema validation of the merged values, then render (hooks and tests included)."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(chart.merge_values(values or {}))
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)


def manifests_to_objects(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    objs = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.append((path, doc))
    return objs


# --- checks ------------------------------------------------------------------


def k8s_validate(set_name: str, objs: list[tuple[str, dict]]) -> None:
    for path, obj in objs:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problem(f"{set_name} {path} {obj.get('kind')}/{obj['metadata'].get('name')}", f"kubernetes-validate: {e.message} at {list(e.path)}")
        except Exception as e:  # SchemaNotFound and friends
            problem(f"{set_name} {path} {obj.get('kind')}", f"kubernetes-validate: {e}")


def as_helm_prints(path: str, text: str) -> str:
    """The manifest as `helm template` prints it: each document trimmed, after `---` and a Source comment."""
    docs = [d.strip() for d in re.split(r"(?m)^---\s*$", text) if d.strip()]
    return "".join(f"---\n# Source: {path}\n{d}\n" for d in docs)


def run_yamllint(set_name: str, rendered: dict[str, str], conf: YamlLintConfig) -> None:
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")) or not text.strip():
            continue
        for p in linter.run(as_helm_prints(path, text), conf):
            if p.level == "error":
                problem(f"{set_name} {path}:{p.line}:{p.column}", f"yamllint: {p.desc} ({p.rule})")


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        return obj["spec"]["template"]["spec"]
    if kind == "Pod":
        return obj["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    if obj.get("kind") == "Pod":
        return obj["metadata"].get("labels", {})
    return obj["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def duration_s(text: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not m:
        raise ValueError(f"bad duration {text!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def spread_terms(spec: dict) -> list[tuple[str, dict]]:
    """(where, term) of every topologySpreadConstraint and podAntiAffinity term of a pod spec."""
    terms = [(f"topologySpreadConstraints[{i}]", t) for i, t in enumerate(spec.get("topologySpreadConstraints") or [])]
    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    for i, t in enumerate(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        terms.append((f"podAntiAffinity required[{i}]", t))
    for i, t in enumerate(anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        terms.append((f"podAntiAffinity preferred[{i}]", t.get("podAffinityTerm") or {}))
    return terms


def term_selects(term: dict, own: dict, labels: dict) -> bool:
    """Whether a spread/anti-affinity term of pods labelled `own` counts pods labelled `labels`:
    its labelSelector (none selects nothing) plus matchLabelKeys taken from `own`."""
    if not term.get("labelSelector"):
        return False
    if any(labels.get(k) != own.get(k) for k in term.get("matchLabelKeys") or []):
        return False
    return selects(term["labelSelector"], labels)


def egress_allows(policy: dict, port: int, protocol: str = "TCP") -> bool:
    """Whether any egress rule of the policy allows `port` (a rule without ports allows every port)."""
    if "Egress" not in policy["spec"].get("policyTypes", []):
        return False
    for rule in policy["spec"].get("egress") or []:
        if not rule.get("ports"):
            return True
        for p in rule["ports"]:
            if p.get("protocol", "TCP") == protocol and isinstance(p.get("port"), int) and p["port"] <= port <= p.get("endPort", p["port"]):
                return True
    return False


def smtp_port(url: str) -> int | None:
    """The port the notifications binary connects to for SMTP_URL (its per-scheme defaults)."""
    m = re.fullmatch(r"(smtp|smtp\+starttls|smtps)://(\[[^\]]*\]|[^:/\[]+)(?::(\d+))?/?", url)
    if not m:
        return None
    return int(m.group(3)) if m.group(3) else {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[m.group(1)]


def assertions(set_name: str, objs: list[tuple[str, dict]], values: dict, report: Callable[[str, str], None] = problem) -> None:
    """Every assertion over one rendered set; each failure goes to `report` (the global list by default).
    `values` are the merged values the set rendered with (chart_values), so chart defaults count."""
    by_kind: dict[str, list[dict]] = {}
    for _, o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    hpa_on = values.get("autoscaling", {}).get("enabled", True)
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in by_kind.get("ConfigMap", [])}
    netpols = by_kind.get("NetworkPolicy", [])

    # default deny exists
    deny = [
        p for p in netpols
        if set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
        and p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/instance") == RELEASE
    ]
    if not deny:
        report(set_name, "no default-deny NetworkPolicy (Ingress+Egress, no rules) selecting the release's pods")

    for _, o in objs:
        spec = pod_spec(o)
        if spec is None:
            continue
        where = f"{set_name} {o['kind']}/{o['metadata']['name']}"
        labels = pod_labels(o)
        name = labels.get("app.kubernetes.io/name", "")
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of", "app.kubernetes.io/component"):
            if key not in labels:
                report(where, f"pod label {key} missing")
        # security context
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            report(where, "pod securityContext.runAsNonRoot is not true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            report(where, "pod seccompProfile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            report(where, "pod automountServiceAccountToken is not false")
        expected_uid = 999 if name == "postgresql" else 65532
        declared_ports: set = set()
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext") or {}
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid != expected_uid:
                report(cw, f"runAsUser {uid}, want {expected_uid}")
            if sc.get("allowPrivilegeEscalation") is not False:
                report(cw, "allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                report(cw, "readOnlyRootFilesystem is not true")
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
                report(cw, "capabilities.drop is not [ALL]")
            if (sc.get("capabilities") or {}).get("add"):
                report(cw, f"capabilities.add is {sc['capabilities']['add']}, want none")
            if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                report(cw, "runAsNonRoot is not true")
            if (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                report(cw, "seccompProfile is not RuntimeDefault")
            if not (c.get("resources") or {}).get("requests") or not (c.get("resources") or {}).get("limits"):
                report(cw, "resources requests and limits are not both set")
            # image pinned
            image = c.get("image", "")
            ref = image.split("@")[0]
            last = ref.rsplit("/", 1)[-1]
            if ":" not in last:
                report(cw, f"image {image!r} has no tag")
            elif last.split(":", 1)[1] in ("", "latest"):
                report(cw, f"image {image!r} is not pinned")
            ports = {p["containerPort"] for p in c.get("ports", [])} | {p["name"] for p in c.get("ports", []) if "name" in p}
            declared_ports |= ports
            if o["kind"] in ("Deployment", "StatefulSet"):
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    pr = c.get(probe)
                    if not pr:
                        report(cw, f"{probe} missing")
                        continue
                    handler = pr.get("grpc") or pr.get("httpGet") or pr.get("tcpSocket")
                    if handler is not None and handler.get("port") not in ports:
                        report(cw, f"{probe} port {handler.get('port')!r} is not a port the container declares {sorted(map(str, ports))}")
                    if handler is None and "exec" not in pr:
                        report(cw, f"{probe} has no handler")
            if name in SERVICES and o["kind"] == "Deployment":
                grpc, admin, _ = SERVICES[name]
                for probe in ("readinessProbe", "livenessProbe"):
                    if (c.get(probe) or {}).get("grpc", {}).get("port") != grpc:
                        report(cw, f"{probe} is not a native grpc probe on port {grpc}")
                if "lifecycle" in c and "preStop" in c["lifecycle"]:
                    report(cw, "has a preStop hook (the binary drains by itself)")
                # grace period
                env = dict(configmaps.get(f"{o['metadata']['name']}", {}))
                for e in c.get("env", []):
                    if "value" in e:
                        env[e["name"]] = e["value"]
                try:
                    need = duration_s(env.get("SHUTDOWN_DELAY", "0s")) + duration_s(env.get("SHUTDOWN_TIMEOUT", "20s")) + 5
                except ValueError as e:
                    report(cw, str(e))
                    need = 0
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if not grace > need:
                    report(cw, f"terminationGracePeriodSeconds {grace} is not > SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + 5 = {need}")
                if env.get("GRPC_ADDR", "").rsplit(":", 1)[-1] != str(grpc) or env.get("ADMIN_ADDR", "").rsplit(":", 1)[-1] != str(admin):
                    report(cw, f"GRPC_ADDR/ADMIN_ADDR {env.get('GRPC_ADDR')}/{env.get('ADMIN_ADDR')} do not match ports {grpc}/{admin}")
                ann = o["spec"]["template"]["metadata"].get("annotations", {})
                if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(admin) or ann.get("prometheus.io/path") != "/metrics":
                    report(cw, "prometheus.io/* pod annotations missing or wrong")
                if labels.get("app.kubernetes.io/part-of") != "mercato":
                    report(cw, "app.kubernetes.io/part-of is not mercato")
        # emptyDirs for readOnlyRootFilesystem in mercato pods
        if name in SERVICES or o["kind"] == "Job":
            mounts = {m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
            for path in ("/tmp", "/data"):
                if path not in mounts:
                    report(where, f"no volume mounted at {path}")
        # network policy coverage
        if o["kind"] in ("Deployment", "StatefulSet", "Pod", "Job"):
            specific = [p for p in netpols if p not in deny and selects(p["spec"]["podSelector"], labels)]
            if not any(selects(p["spec"]["podSelector"], labels) for p in deny):
                report(where, "not selected by the default-deny NetworkPolicy")
            if not specific:
                report(where, "not selected by any allowing NetworkPolicy")

    # per-service objects
    deployments = {o["metadata"]["name"]: o for o in by_kind.get("Deployment", [])}
    sas = {o["metadata"]["name"]: o for o in by_kind.get("ServiceAccount", [])}
    hpas = {o["spec"]["scaleTargetRef"]["name"] for o in by_kind.get("HorizontalPodAutoscaler", [])}
    pdbs = [o for o in by_kind.get("PodDisruptionBudget", [])]
    services = {o["metadata"]["name"]: o for o in by_kind.get("Service", [])}
    jobs = {o["metadata"]["name"] for o in by_kind.get("Job", [])}
    for svc, (grpc, admin, has_db) in SERVICES.items():
        full = f"{RELEASE}-mercato-{svc}"
        d = deployments.get(full)
        if d is None:
            report(set_name, f"Deployment {full} missing")
            continue
        ru = d["spec"].get("strategy", {}).get("rollingUpdate", {})
        if ru.get("maxUnavailable") != 0 or ru.get("maxSurge") != 1:
            report(full, f"rollingUpdate is {ru}, want maxUnavailable 0, maxSurge 1")
        sa_name = d["spec"]["template"]["spec"].get("serviceAccountName")
        if sa_name not in sas or sas[sa_name].get("automountServiceAccountToken") is not False:
            report(full, f"ServiceAccount {sa_name} missing or its automountServiceAccountToken is not false")
        if hpa_on and full not in hpas:
            report(full, "no HorizontalPodAutoscaler")
        if not hpa_on:
            if full in hpas:
                report(full, "HorizontalPodAutoscaler present though autoscaling is off")
            if d["spec"].get("replicas") is None:
                report(full, "replicas unset though autoscaling is off")
        labels = d["spec"]["template"]["metadata"]["labels"]
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs):
            report(full, "no PodDisruptionBudget")
        if full not in services:
            report(full, "no Service")
        if has_db and values.get("migrations", {}).get("enabled", True) and f"{full}-migrate" not in jobs:
            report(full, "no migrate Job")
    if not any(o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test" for o in by_kind.get("Pod", [])):
        report(set_name, "no helm test Pod")

    # spread: with topologySpreadConstraints or podAntiAffinity configured (the chart's default spreads), every
    # Deployment with more than one replica (or an HPA) has a term keyed on its own pods, and no term counts
    # another Deployment's pods; with the chart's defaults, that includes a kubernetes.io/hostname constraint
    # with ScheduleAnyway (a preference: a one-node cluster still schedules every replica)
    common = values.get("common", {})
    spread_on = bool(common.get("topologySpreadConstraints") or (common.get("affinity") or {}).get("podAntiAffinity"))
    for full, d in deployments.items():
        own = d["spec"]["template"]["metadata"]["labels"]
        others = [o["spec"]["template"]["metadata"]["labels"] for n, o in deployments.items() if n != full]
        terms = spread_terms(d["spec"]["template"]["spec"])
        keyed = []
        for tw, t in terms:
            if not term_selects(t, own, own):
                report(full, f"{tw} does not select its own pods ({t.get('labelSelector')}, matchLabelKeys {t.get('matchLabelKeys')})")
            elif any(term_selects(t, own, other) for other in others):
                report(full, f"{tw} is not keyed on its own pod labels: it also counts other Deployments' pods ({t.get('labelSelector')})")
            else:
                keyed.append((tw, t))
        multi = full in hpas or (d["spec"].get("replicas") or 1) > 1
        if multi and (spread_on or terms) and not keyed:
            report(full, "no topologySpreadConstraints or podAntiAffinity keyed on its own pod labels, though it runs more than one replica and spread is configured")
        if set_name == "default" and multi and not any(
            tw.startswith("topologySpreadConstraints") and t.get("topologyKey") == "kubernetes.io/hostname"
            and t.get("whenUnsatisfiable") == "ScheduleAnyway" for tw, t in keyed
        ):
            report(full, "the chart's defaults render no kubernetes.io/hostname topologySpreadConstraint with ScheduleAnyway keyed on its own pods")

    # SMTP egress: the notifications policy allows the SMTP_URL port when the sink is smtp; no policy allows an
    # SMTP port otherwise (nor for any other service)
    notif = values.get("services", {}).get("notifications", {})
    sink = notif.get("sink", "log")
    url = configmaps.get(f"{RELEASE}-mercato-notifications", {}).get("SMTP_URL", "")
    port = smtp_port(url) if url else None
    smtp_ports = {25, 465, 587} | set((notif.get("smtp") or {}).get("egressPorts") or []) | ({port} if port else set())
    for full, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        allowing = [p for p in netpols if p not in deny and selects(p["spec"]["podSelector"], labels)]
        if full == f"{RELEASE}-mercato-notifications" and sink == "smtp":
            if port is None:
                report(full, f"sink smtp but SMTP_URL {url!r} is missing or not smtp://, smtp+starttls:// or smtps://host[:port]")
            elif not any(egress_allows(p, port) for p in allowing):
                report(full, f"sink smtp but no NetworkPolicy allows egress to the SMTP port {port} of {url}")
            continue
        leaks = sorted(sp for sp in smtp_ports if any(egress_allows(p, sp) for p in allowing))
        if leaks:
            why = f"notifications sink is {sink}" if full.endswith("-notifications") else "only notifications sends mail"
            report(full, f"a NetworkPolicy allows egress to SMTP port(s) {leaks} though {why}")


# --- mutation self-test ------------------------------------------------------
# Each mutation breaks one thing in a deep copy of the default set's objects (or in the values the assertions
# read) and names a fragment of the problem `assertions` must then report; a mutation it misses fails the check.


def _obj(objs: list[tuple[str, dict]], kind: str, name: str) -> dict:
    for _, o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise KeyError(f"{kind}/{name} not rendered")


def _drop(objs: list[tuple[str, dict]], kind: str, name: str) -> None:
    o = _obj(objs, kind, name)
    objs[:] = [(p, x) for p, x in objs if x is not o]


def _dep(objs: list[tuple[str, dict]], svc: str = "orders") -> dict:
    return _obj(objs, "Deployment", f"{RELEASE}-mercato-{svc}")


def _ctr(objs: list[tuple[str, dict]], svc: str = "orders") -> dict:
    return _dep(objs, svc)["spec"]["template"]["spec"]["containers"][0]


def _sc(objs: list[tuple[str, dict]], svc: str = "orders") -> dict:
    return _ctr(objs, svc)["securityContext"]


def _np(objs: list[tuple[str, dict]], name: str) -> dict:
    return _obj(objs, "NetworkPolicy", f"{RELEASE}-mercato-{name}")


def _set(d: dict, path: str, value: object) -> None:
    """d[a][b][c] = value for path "a.b.c" (keys without dots), making the missing dicts."""
    *parents, last = path.split(".")
    for k in parents:
        d = d.setdefault(k, {})
    d[last] = value


Mutation = Callable[[list[tuple[str, dict]], dict], None]
SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
MUTATIONS: list[tuple[str, str, Mutation]] = [
    ("default-deny NetworkPolicy removed", "no default-deny NetworkPolicy",
     lambda objs, v: _drop(objs, "NetworkPolicy", f"{RELEASE}-mercato-default-deny")),
    ("default deny excludes orders", "not selected by the default-deny",
     lambda objs, v: _set(_np(objs, "default-deny")["spec"]["podSelector"], "matchExpressions",
                          [{"key": "mercato.io/service", "operator": "NotIn", "values": ["orders"]}])),
    ("orders' NetworkPolicy removed", "not selected by any allowing NetworkPolicy",
     lambda objs, v: _drop(objs, "NetworkPolicy", f"{RELEASE}-mercato-orders")),
    ("pod label app.kubernetes.io/component removed", "pod label app.kubernetes.io/component missing",
     lambda objs, v: _dep(objs)["spec"]["template"]["metadata"]["labels"].pop("app.kubernetes.io/component")),
    ("pod runAsNonRoot false", "pod securityContext.runAsNonRoot is not true",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "securityContext.runAsNonRoot", False)),
    ("container runAsNonRoot false", "container orders: runAsNonRoot is not true",
     lambda objs, v: _set(_sc(objs), "runAsNonRoot", False)),
    ("pod seccompProfile Unconfined", "pod seccompProfile is not RuntimeDefault",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "securityContext.seccompProfile.type", "Unconfined")),
    ("container seccompProfile Unconfined", "container orders: seccompProfile is not RuntimeDefault",
     lambda objs, v: _set(_sc(objs), "seccompProfile.type", "Unconfined")),
    ("pod automountServiceAccountToken true", "pod automountServiceAccountToken is not false",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "automountServiceAccountToken", True)),
    ("container runAsUser 0", "runAsUser 0, want 65532",
     lambda objs, v: _set(_sc(objs), "runAsUser", 0)),
    ("allowPrivilegeEscalation true", "allowPrivilegeEscalation is not false",
     lambda objs, v: _set(_sc(objs), "allowPrivilegeEscalation", True)),
    ("readOnlyRootFilesystem false", "readOnlyRootFilesystem is not true",
     lambda objs, v: _set(_sc(objs), "readOnlyRootFilesystem", False)),
    ("capabilities.drop emptied", "capabilities.drop is not [ALL]",
     lambda objs, v: _set(_sc(objs), "capabilities.drop", [])),
    ("capability NET_RAW added", "capabilities.add is",
     lambda objs, v: _set(_sc(objs), "capabilities.add", ["NET_RAW"])),
    ("resource limits removed", "resources requests and limits are not both set",
     lambda objs, v: _ctr(objs)["resources"].pop("limits")),
    ("image tag latest", "is not pinned",
     lambda objs, v: _set(_ctr(objs), "image", "ghcr.io/mercato-shop/mercato:latest")),
    ("image without tag", "has no tag",
     lambda objs, v: _set(_ctr(objs), "image", "ghcr.io/mercato-shop/mercato")),
    ("readinessProbe removed", "readinessProbe missing",
     lambda objs, v: _ctr(objs).pop("readinessProbe")),
    ("startupProbe on an undeclared port", "startupProbe port 'metrics' is not a port the container declares",
     lambda objs, v: _set(_ctr(objs), "startupProbe.httpGet.port", "metrics")),
    ("livenessProbe without handler", "livenessProbe has no handler",
     lambda objs, v: _ctr(objs).update(livenessProbe={"periodSeconds": 10})),
    ("readinessProbe on the admin port", "readinessProbe is not a native grpc probe",
     lambda objs, v: _set(_ctr(objs), "readinessProbe.grpc.port", 9083)),
    ("preStop hook added", "has a preStop hook",
     lambda objs, v: _set(_ctr(objs), "lifecycle.preStop", {"sleep": {"seconds": 5}})),
    ("terminationGracePeriodSeconds below the shutdown bound", "terminationGracePeriodSeconds 25 is not >",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "terminationGracePeriodSeconds", 25)),
    ("SHUTDOWN_TIMEOUT raised past the grace period", "terminationGracePeriodSeconds 35 is not >",
     lambda objs, v: _set(_obj(objs, "ConfigMap", f"{RELEASE}-mercato-orders"), "data.SHUTDOWN_TIMEOUT", "30s")),
    ("SHUTDOWN_DELAY unparsable", "bad duration",
     lambda objs, v: _set(_obj(objs, "ConfigMap", f"{RELEASE}-mercato-orders"), "data.SHUTDOWN_DELAY", "5 seconds")),
    ("GRPC_ADDR on another port", "GRPC_ADDR/ADMIN_ADDR",
     lambda objs, v: _set(_obj(objs, "ConfigMap", f"{RELEASE}-mercato-orders"), "data.GRPC_ADDR", "0.0.0.0:50099")),
    ("prometheus.io/port wrong", "prometheus.io/* pod annotations",
     lambda objs, v: _dep(objs)["spec"]["template"]["metadata"]["annotations"].update({"prometheus.io/port": "9999"})),
    ("part-of label changed", "app.kubernetes.io/part-of is not mercato",
     lambda objs, v: _dep(objs)["spec"]["template"]["metadata"]["labels"].update({"app.kubernetes.io/part-of": "shop"})),
    ("/tmp mount removed", "no volume mounted at /tmp",
     lambda objs, v: _ctr(objs).update(volumeMounts=[m for m in _ctr(objs)["volumeMounts"] if m["mountPath"] != "/tmp"])),
    ("orders Deployment removed", f"Deployment {RELEASE}-mercato-orders missing",
     lambda objs, v: _drop(objs, "Deployment", f"{RELEASE}-mercato-orders")),
    ("rollingUpdate maxUnavailable 1", "rollingUpdate is",
     lambda objs, v: _set(_dep(objs)["spec"], "strategy.rollingUpdate.maxUnavailable", 1)),
    ("ServiceAccount automountServiceAccountToken true", "its automountServiceAccountToken is not false",
     lambda objs, v: _set(_obj(objs, "ServiceAccount", f"{RELEASE}-mercato-orders"), "automountServiceAccountToken", True)),
    ("ServiceAccount removed", f"ServiceAccount {RELEASE}-mercato-orders missing",
     lambda objs, v: _drop(objs, "ServiceAccount", f"{RELEASE}-mercato-orders")),
    ("HPA removed", "no HorizontalPodAutoscaler",
     lambda objs, v: _drop(objs, "HorizontalPodAutoscaler", f"{RELEASE}-mercato-orders")),
    ("HPA kept with autoscaling off", "HorizontalPodAutoscaler present though autoscaling is off",
     lambda objs, v: _set(v, "autoscaling.enabled", False)),
    ("replicas unset with autoscaling off", "replicas unset though autoscaling is off",
     lambda objs, v: (_set(v, "autoscaling.enabled", False), _drop(objs, "HorizontalPodAutoscaler", f"{RELEASE}-mercato-orders"))),
    ("PDB removed", "no PodDisruptionBudget",
     lambda objs, v: _drop(objs, "PodDisruptionBudget", f"{RELEASE}-mercato-orders")),
    ("Service removed", "no Service",
     lambda objs, v: _drop(objs, "Service", f"{RELEASE}-mercato-orders")),
    ("migrate Job removed", "no migrate Job",
     lambda objs, v: _drop(objs, "Job", f"{RELEASE}-mercato-orders-migrate")),
    ("helm test Pod removed", "no helm test Pod",
     lambda objs, v: _drop(objs, "Pod", f"{RELEASE}-mercato-test-gateway-ready")),
    ("spread configured but not rendered", "no topologySpreadConstraints or podAntiAffinity keyed",
     lambda objs, v: _dep(objs)["spec"]["template"]["spec"].pop("topologySpreadConstraints")),
    ("default spread DoNotSchedule", "no kubernetes.io/hostname topologySpreadConstraint with ScheduleAnyway",
     lambda objs, v: [t.update(whenUnsatisfiable="DoNotSchedule") for t in _dep(objs)["spec"]["template"]["spec"]["topologySpreadConstraints"]]),
    ("default spread off", "the chart's defaults render no kubernetes.io/hostname",
     lambda objs, v: (_set(v, "common.topologySpreadConstraints", []), _dep(objs)["spec"]["template"]["spec"].pop("topologySpreadConstraints"))),
    ("topologySpreadConstraint without labelSelector", "topologySpreadConstraints[0] does not select its own pods",
     lambda objs, v: _dep(objs)["spec"]["template"]["spec"]["topologySpreadConstraints"][0].pop("labelSelector")),
    ("topologySpreadConstraint over every mercato pod", "topologySpreadConstraints[0] is not keyed on its own pod labels",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "topologySpreadConstraints",
                          [{**SPREAD, "labelSelector": {"matchLabels": {"app.kubernetes.io/part-of": "mercato"}}}])),
    ("podAntiAffinity term without labelSelector", "podAntiAffinity preferred[0] does not select its own pods",
     lambda objs, v: _set(_dep(objs)["spec"]["template"]["spec"], "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution",
                          [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}])),
    ("SMTP egress with the log sink", "allows egress to SMTP port(s) [587] though notifications sink is log",
     lambda objs, v: _np(objs, "notifications")["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 587}]})),
    ("SMTP egress from orders", "allows egress to SMTP port(s) [25] though only notifications sends mail",
     lambda objs, v: _np(objs, "orders")["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 25}]})),
    ("smtp sink without SMTP egress", "no NetworkPolicy allows egress to the SMTP port 465",
     lambda objs, v: (_set(v, "services.notifications.sink", "smtp"),
                      _set(_obj(objs, "ConfigMap", f"{RELEASE}-mercato-notifications"), "data.SMTP_URL", "smtps://mail.example.com"))),
    ("smtp sink without SMTP_URL", "sink smtp but SMTP_URL",
     lambda objs, v: _set(v, "services.notifications.sink", "smtp")),
]


def mutation_selftest(objs: list[tuple[str, dict]], values: dict) -> None:
    """Proves `assertions` can fail: each mutation of the default set must be reported with its fragment."""
    found: list[str] = []
    assertions("default", objs, values, lambda where, msg: found.append(f"{where}: {msg}"))
    if found:
        problem("mutations", f"not run: the unmutated default set already has {len(found)} problem(s)")
        return
    missed = 0
    for name, fragment, mutate in MUTATIONS:
        m_objs, m_values = copy.deepcopy(objs), copy.deepcopy(values)
        try:
            mutate(m_objs, m_values)
        except (KeyError, IndexError, TypeError) as e:
            problem(f"mutation {name!r}", f"could not be applied: {e!r}")
            missed += 1
            continue
        found = []
        assertions("default", m_objs, m_values, lambda where, msg: found.append(f"{where}: {msg}"))
        if not any(fragment in p for p in found):
            missed += 1
            also = f"; it reported only {found[:3]}" if found else ""
            problem(f"mutation {name!r}", f"not caught: no problem mentions {fragment!r}{also}")
    print(f"  mutations: {len(MUTATIONS)}, " + ("each caught" if not missed else f"{missed} not caught"))


def run_checkov(dirs: dict[str, list[tuple[str, dict]]]) -> None:
    exe = VENV / "bin" / "checkov"
    with tempfile.TemporaryDirectory(prefix="helm-check-") as tmp:
        for set_name, objs in dirs.items():
            d = Path(tmp) / set_name
            d.mkdir()
            for i, (_, o) in enumerate(objs):
                (d / f"{i:03d}-{o['kind']}-{o['metadata']['name']}.yaml").write_text(yaml.safe_dump(o, sort_keys=False))
        proc = subprocess.run(
            [str(exe), "-d", tmp, "--framework", "kubernetes", "-o", "json", "--compact", "--skip-download", "--no-fail-on-crash"],
            capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
            timeout=300,
        )
        out = proc.stdout.strip()
        if not out:
            problem("checkov", f"no output (exit {proc.returncode}): {proc.stderr[-2000:]}")
            return
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            problem("checkov", f"unparsable output (exit {proc.returncode}): {out[:2000]}")
            return
        reports = report if isinstance(report, list) else [report]
        passed = skipped = 0
        for r in reports:
            res = r.get("results", {})
            passed += len(res.get("passed_checks", []))
            skipped += len(res.get("skipped_checks", []))
            for f in res.get("failed_checks", []):
                problem(f"checkov {f.get('file_path')}", f"{f.get('check_id')} {f.get('check_name')} ({f.get('resource')})")
        print(f"  checkov: {passed} passed, {skipped} skipped by annotation")


def main_check() -> int:
    t0 = time.monotonic()
    print(f"helm SDK {helm.helm_sdk_version()} (helm-python {helm.__version__}); chart {CHART.relative_to(ROOT)}")
    for msg in helm_lint():
        problem("helm lint --strict", msg)
    for name in ("external.yaml", "ha.yaml"):
        for msg in helm_lint(load_values([VALUES_DIR / name])):
            problem(f"helm lint --strict -f {name}", msg)
    conf = YamlLintConfig(file=str(HERE / "yamllint.yaml"))
    rendered_sets: dict[str, list[tuple[str, dict]]] = {}
    for set_name, (files, expect) in VALUE_SETS.items():
        values = load_values([VALUES_DIR / f for f in files])
        merged = chart_values(values)
        try:
            rendered = helm_template(values)
        except helm.HelmError as e:
            if expect == "reject":
                print(f"  {set_name}: rejected as expected: {str(e).strip().splitlines()[-1]}")
            else:
                problem(set_name, f"helm template failed: {e}")
            continue
        if expect == "reject":
            problem(set_name, "the schema accepted values it must reject")
            continue
        objs = manifests_to_objects(rendered)
        print(f"  {set_name}: {len(objs)} objects")
        if not rendered.get("mercato/templates/NOTES.txt", "").count("curl http://127.0.0.1:8080/v1/products"):
            problem(set_name, "NOTES.txt lacks the first curl")
        run_yamllint(set_name, rendered, conf)
        k8s_validate(set_name, objs)
        assertions(set_name, objs, merged)
        rendered_sets[set_name] = objs
    if rendered_sets:
        run_checkov(rendered_sets)
    if "default" in rendered_sets:
        mutation_selftest(rendered_sets["default"], chart_values())
    else:
        problem("mutations", "not run: the default set did not render")
    for p in problems:
        print(f"FAIL {p}")
    took = time.monotonic() - t0
    print(f"helm_check: {len(problems)} problem(s) in {took:.1f}s")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    lint_p = sub.add_parser("lint", help="helm lint --strict")
    lint_p.add_argument("-f", "--values", action="append", default=[])
    tpl_p = sub.add_parser("template", help="helm template (to stdout)")
    tpl_p.add_argument("-f", "--values", action="append", default=[])
    args = ap.parse_args()
    if args.cmd == "lint":
        msgs = helm_lint(load_values([Path(f) for f in args.values]))
        for m in msgs:
            print(m)
        return 1 if msgs else 0
    if args.cmd == "template":
        try:
            rendered = helm_template(load_values([Path(f) for f in args.values]))
        except helm.HelmError as e:
            print(e, file=sys.stderr)
            return 1
        for path, text in sorted(rendered.items()):
            if path.endswith(".yaml") and text.strip():
                print(as_helm_prints(path, text), end="")
        return 0
    return main_check()


if __name__ == "__main__":
    sys.exit(main())
