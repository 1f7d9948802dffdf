#!/usr/bin/env python3
"""Runs the Helm chart's rendered pods as Docker containers; exits 1 listing every problem.

    .tools/venv/bin/python deploy/check/chart_run.py [--tag mercato:check] [--keep] [-f values.yaml ...]

helm_check.py checks the rendered manifests offline; this checks that the pods they describe
actually run. No Kubernetes cluster is needed, only the Docker engine image_check.py uses (every
container on `--network host`) with the image already built under --tag, the machine's
PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and .tools/venv's nats-server and
grpcurl.

  1. render: the chart (release "shop", namespace "shop", helm_check.helm_template) with external
     NATS (a nats-server with JetStream this script starts on a free port), external PostgreSQL
     (127.0.0.1:5432; per-service users, passwords and databases made for this run, so every
     DATABASE_URL is the chart's own postgres://<user>:<password>@host:port/<db>), autoscaling off
     and one replica per service; everything else at the chart's defaults.
  2. mirror: each migrate Job (hook weight, then name), each Deployment (identity, catalog,
     orders, payments, shipping, notifications, gateway) and the `helm test` Pod become a
     `docker run` built from the pod spec: the local image instead of the rendered one,
     command/args, env (values, secretKeyRef/configMapKeyRef resolved from the rendered Secrets
     and ConfigMaps, Kubernetes' $(VAR) expansion), envFrom, the security context (--user,
     --group-add for fsGroup, --read-only, --cap-drop/--cap-add, no-new-privileges), emptyDir
     mounts as tmpfs (sizeLimit as size), resource limits (--memory, --cpus), and
     `--add-host <service>[.<ns>[.svc[.cluster.local]]]:127.0.0.1` for every rendered Service, so
     in-cluster URLs reach loopback. Whatever the pod spec holds that is not mirrored is listed
     in the report, never dropped silently.
  3. check: migrate Jobs exit 0; each Deployment's startupProbe (httpGet, named ports resolved)
     passes within initialDelaySeconds + failureThreshold x periodSeconds, then its readiness and
     liveness probes (grpc via grpcurl grpc.health.v1.Health/Check -> SERVING; httpGet 2xx/3xx)
     pass within their failureThreshold; the test Pod exits 0; GET /v1/products?pageSize=3
     through the gateway answers 200 (with products when the chart seeds the catalog); the
     probes pass again; then SIGTERM to every container, each must exit 0 within its
     terminationGracePeriodSeconds. The test Pod runs the services' own image (its wget), within
     its activeDeadlineSeconds.
  4. clean up: containers (mercato-chart-<pid>-*), databases and roles, nats-server. The report
     (per container: the docker run flags, time to the startup probe, probe results, exit code
     after SIGTERM; then what was not mirrored, and every problem) is printed and written to
     .tools/chart-run/report.txt. Exit status 1 on any problem (PostgreSQL down included).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / ".tools" / "venv"
VENV_PY = VENV / "bin" / "python"

# helm_check re-executes *itself* under the venv's python at import time; run this script there
# first so that importing it is a plain import.
if Path(sys.prefix).resolve() != VENV.resolve() and VENV_PY.exists() and not os.environ.get("CHART_RUN_NO_REEXEC"):
    os.environ["CHART_RUN_NO_REEXEC"] = "1"
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])
os.environ["HELM_CHECK_NO_REEXEC"] = "1"
sys.path.insert(0, str(HERE))

import argparse  # noqa: E402
import base64  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import helm_check  # noqa: E402
import image_check  # noqa: E402
from image_check import DB_SERVICES, CheckFailed, Nats, container_state, docker, psql  # noqa: E402

ORDER = image_check.BINARIES  # each one's upstreams first
PREFIX = f"mercato-chart-{os.getpid()}-"
REPORT = ROOT / ".tools" / "chart-run" / "report.txt"

# Pod-spec and container keys this script mirrors (or checks) itself; any other key is reported.
POD_KEYS_MIRRORED = {"containers", "securityContext", "volumes", "restartPolicy",
                     "automountServiceAccountToken", "enableServiceLinks",
                     "terminationGracePeriodSeconds", "activeDeadlineSeconds"}
POD_KEYS_NOT_MIRRORED = {  # key -> why it cannot be mirrored by docker run on one host
    "serviceAccountName": "no API server (and no token mounted)",
    "topologySpreadConstraints": "scheduling: one host",
    "affinity": "scheduling: one host",
    "nodeSelector": "scheduling: one host",
    "tolerations": "scheduling: one host",
    "imagePullSecrets": "the local image is used, nothing is pulled",
    "priorityClassName": "scheduling: one host",
}
CONTAINER_KEYS_MIRRORED = {"name", "image", "command", "args", "env", "envFrom", "ports",
                           "securityContext", "volumeMounts", "resources", "startupProbe",
                           "readinessProbe", "livenessProbe", "workingDir"}


def log(msg: str) -> None:
    print(f"chart_run: {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# quantities, ports, probes


def memory_bytes(q: str | int) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        raise CheckFailed(f"cannot read memory quantity {q!r}")
    mult = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return int(float(m.group(1)) * mult)


def cpu_cores(q: str | int | float) -> float:
    text = str(q)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def port_free(port: int) -> str | None:
    """None when nothing listens on port at 127.0.0.1 or 0.0.0.0 (the chart binds 0.0.0.0).

    SO_REUSEADDR, as the binaries' listeners set it: connections of an earlier run lingering in
    TIME_WAIT do not count, a listening socket does."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as err:
                return f"{host}:{port}: {err.strerror}"
    return None


def resolve_port(port: int | str, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise CheckFailed(f"probe port {port!r} names no port of container {container['name']}")


def probe_once(probe: dict, container: dict) -> tuple[bool, str]:
    """One kubelet-style attempt of a probe against 127.0.0.1 (the pod's IP on host networking)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        get = probe["httpGet"]
        port = resolve_port(get["port"], container)
        scheme = get.get("scheme", "HTTP").upper()
        host = get.get("host") or "127.0.0.1"
        path = get.get("path", "/")
        conn_cls = http.client.HTTPSConnection if scheme == "HTTPS" else http.client.HTTPConnection
        conn = conn_cls(host, port, timeout=timeout)
        try:
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            conn.request("GET", path, headers={"User-Agent": "kube-probe/1.31", **headers})
            status = conn.getresponse().status
        except OSError as err:
            return False, f"GET {path} on :{port}: {err}"
        finally:
            conn.close()
        return 200 <= status < 400, f"GET {path} on :{port} -> {status}"
    if "grpc" in probe:
        port = resolve_port(probe["grpc"]["port"], container)
        service = probe["grpc"].get("service", "")
        try:
            out = subprocess.run([image_check.tool("grpcurl"), "-plaintext", "-max-time", str(timeout), "-d",
                                  json.dumps({"service": service}), f"127.0.0.1:{port}",
                                  "grpc.health.v1.Health/Check"],
                                 capture_output=True, text=True, timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            return False, f"grpc health :{port}: grpcurl timed out"
        text = (out.stdout.strip() or out.stderr.strip()).replace("\n", " ")
        try:
            status = json.loads(out.stdout).get("status", "") if out.returncode == 0 else ""
        except ValueError:
            status = ""
        return status == "SERVING", f"grpc health :{port} -> {status or text[:200]}"
    if "tcpSocket" in probe:
        port = resolve_port(probe["tcpSocket"]["port"], container)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True, f"tcp :{port} open"
        except OSError as err:
            return False, f"tcp :{port}: {err}"
    if "exec" in probe:
        return False, "exec probe (not mirrored)"
    return False, f"unknown probe {sorted(probe)}"


def probe_kind(probe: dict) -> str:
    for kind in ("httpGet", "grpc", "tcpSocket", "exec"):
        if kind in probe:
            return kind
    return "?"


# ---------------------------------------------------------------------------------------------
# the rendered objects


@dataclass
class Rendered:
    objs: list[tuple[str, dict]]
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    namespace: str = helm_check.NAMESPACE

    def __post_init__(self) -> None:
        for _, obj in self.objs:
            kind, name = obj.get("kind"), obj["metadata"]["name"]
            if kind == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
                data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
                self.secrets[name] = data
            elif kind == "ConfigMap":
                self.configmaps[name] = {k: str(v) for k, v in (obj.get("data") or {}).items()}
            elif kind == "Service":
                self.services.append(name)

    def of_kind(self, kind: str) -> list[dict]:
        return [obj for _, obj in self.objs if obj.get("kind") == kind]


def pick_ref(src: dict, r: Rendered, *, configmap: str, secret: str) -> tuple[dict, dict, str] | None:
    """The ConfigMap or Secret a pod's env source names: (reference, rendered store, kind)."""
    if configmap in src:
        return src[configmap], r.configmaps, "ConfigMap"
    if secret in src:
        return src[secret], r.secrets, "Secret"
    return None


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, others stay."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2:end]
            out.append(env[name] if name in env else value[i:end + 1])
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@dataclass
class Pod:
    kind: str          # Job, Deployment or Pod
    name: str          # the rendered object's name
    service: str       # app.kubernetes.io/name (or the object name)
    spec: dict
    container: dict
    run_args: list[str] = field(default_factory=list)   # docker run flags, image and command
    summary: list[str] = field(default_factory=list)    # the flags, briefly (no secret values)
    env_count: dict[str, int] = field(default_factory=dict)
    grace_s: int = 30
    # results
    started_at: float = 0.0
    startup_s: float | None = None
    probes: list[str] = field(default_factory=list)
    exit_code: int | None = None
    stop_s: float | None = None

    @property
    def cname(self) -> str:
        return PREFIX + self.name


def mirror(kind: str, obj: dict, r: Rendered, tag: str, not_mirrored: dict[str, list[str]]) -> Pod:
    """The `docker run` arguments that mirror a rendered pod; what cannot be mirrored goes to not_mirrored."""
    spec = helm_check.pod_spec(obj)
    name = obj["metadata"]["name"]
    labels = helm_check.pod_labels(obj)
    service = labels.get("app.kubernetes.io/name", name)

    def skip(msg: str) -> None:
        not_mirrored.setdefault(msg, []).append(f"{kind}/{name}")

    containers = spec.get("containers") or []
    if len(containers) != 1:
        raise CheckFailed(f"{kind}/{name} has {len(containers)} containers; chart_run mirrors exactly one")
    c = containers[0]
    pod = Pod(kind, name, service, spec, c)
    pod.grace_s = int(spec.get("terminationGracePeriodSeconds", 30))
    args = ["--name", pod.cname, "--network", "host",
            "--label", f"mercato.chart-run={os.getpid()}", "--label", f"mercato.chart-run.object={kind}/{name}"]
    brief = ["--network host"]

    for key in spec:
        if key in POD_KEYS_MIRRORED:
            continue
        if key in POD_KEYS_NOT_MIRRORED:
            skip(f"pod spec {key}: {POD_KEYS_NOT_MIRRORED[key]}")
        else:
            skip(f"pod spec {key}: not mirrored by chart_run")
    for key in c:
        if key not in CONTAINER_KEYS_MIRRORED:
            skip(f"container {key}: " + ("the local image is used as it is" if key == "imagePullPolicy"
                                         else "not mirrored by chart_run"))
    if spec.get("automountServiceAccountToken") is not False:
        skip("automountServiceAccountToken not false: no service-account token is mounted here")
    if spec.get("enableServiceLinks") is not False:
        skip("enableServiceLinks not false: the <SVC>_SERVICE_HOST/PORT variables are not set here")
    restart = spec.get("restartPolicy", "Always")
    if kind == "Job":
        skip(f"restartPolicy {restart} / backoffLimit {obj['spec'].get('backoffLimit', 6)}: run once, "
             "must exit 0 the first time")
    elif kind == "Deployment":
        skip(f"restartPolicy {restart}: no restart (a container that exits is a failure)")

    # security context: the container's fields override the pod's.
    psc, csc = spec.get("securityContext") or {}, c.get("securityContext") or {}
    sc = {**psc, **csc}
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is not None:
        user = f"{uid}:{gid}" if gid is not None else str(uid)
        args += ["--user", user]
        brief.append(f"--user {user}")
    elif gid is not None:
        skip("runAsGroup without runAsUser: not mirrored")
    if sc.get("runAsNonRoot") and uid is None:
        skip("runAsNonRoot without runAsUser: the image's user is not checked")
    if sc.get("runAsNonRoot") and uid == 0:
        raise CheckFailed(f"{kind}/{name}: runAsNonRoot with runAsUser 0 would not start")
    if psc.get("fsGroup") is not None:
        args += ["--group-add", str(psc["fsGroup"])]
        brief.append(f"--group-add {psc['fsGroup']} (fsGroup)")
    for g in psc.get("supplementalGroups") or []:
        args += ["--group-add", str(g)]
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
        brief.append("--read-only")
    caps = sc.get("capabilities") or {}
    for cap in caps.get("drop") or []:
        args += ["--cap-drop", cap]
        brief.append(f"--cap-drop {cap}")
    for cap in caps.get("add") or []:
        args += ["--cap-add", cap]
        brief.append(f"--cap-add {cap}")
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
        brief.append("--security-opt no-new-privileges")
    else:
        skip("allowPrivilegeEscalation not false: docker's default allows it too")
    if sc.get("privileged"):
        args.append("--privileged")
        brief.append("--privileged")
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault"):
        skip(f"seccompProfile {seccomp}: only RuntimeDefault (docker's default profile) is mirrored")
    for key in set(sc) - {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups",
                          "readOnlyRootFilesystem", "capabilities", "allowPrivilegeEscalation",
                          "privileged", "seccompProfile"}:
        skip(f"securityContext {key}: not mirrored")
    if psc.get("fsGroup") is not None:
        skip("fsGroup: the tmpfs mounts are docker's (root-owned, mode 1777), not chowned to the group")

    # volumes: emptyDir as tmpfs; anything else is reported.
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for m in c.get("volumeMounts") or []:
        vol = volumes.get(m["name"])
        if vol is None:
            raise CheckFailed(f"{kind}/{name}: volumeMount {m['name']} names no volume")
        if "emptyDir" in vol and set(m) <= {"name", "mountPath", "readOnly"}:
            empty = vol["emptyDir"] or {}
            opts = "rw,nosuid,nodev,exec"
            if empty.get("sizeLimit"):
                opts += f",size={memory_bytes(empty['sizeLimit'])}"
            if empty.get("medium") not in (None, "", "Memory"):
                skip(f"emptyDir medium {empty['medium']}: tmpfs used")
            args += ["--tmpfs", f"{m['mountPath']}:{opts}"]
            brief.append(f"--tmpfs {m['mountPath']}" + (f" ({empty['sizeLimit']})" if empty.get("sizeLimit") else ""))
            if m.get("readOnly"):
                skip(f"readOnly emptyDir mount {m['mountPath']}: mounted read-write")
        else:
            skip(f"volume {m['name']} ({', '.join(k for k in vol if k != 'name')}) at {m['mountPath']}: not mirrored")
    for vname in volumes:
        if vname not in {m["name"] for m in c.get("volumeMounts") or []}:
            skip(f"volume {vname}: declared but not mounted by the container")

    # resources: limits as cgroup limits; requests are the scheduler's.
    res = c.get("resources") or {}
    limits = res.get("limits") or {}
    if "memory" in limits:
        args += ["--memory", str(memory_bytes(limits["memory"]))]
        brief.append(f"--memory {limits['memory']}")
    if "cpu" in limits:
        args += ["--cpus", f"{cpu_cores(limits['cpu']):g}"]
        brief.append(f"--cpus {cpu_cores(limits['cpu']):g}")
    for key in set(limits) - {"memory", "cpu"}:
        skip(f"resources.limits.{key}: not mirrored")
    if res.get("requests"):
        skip("resources.requests: scheduling only, not mirrored")

    # in-cluster names resolve to loopback
    for svc in r.services:
        for host in (svc, f"{svc}.{r.namespace}", f"{svc}.{r.namespace}.svc",
                     f"{svc}.{r.namespace}.svc.cluster.local"):
            args += ["--add-host", f"{host}:127.0.0.1"]
    brief.append(f"--add-host x{4 * len(r.services)} ({len(r.services)} Services)")

    # env: envFrom first, then env (later wins), $(VAR) expansion over what is defined so far.
    env: dict[str, str] = {}
    counts: dict[str, int] = {}
    for src in c.get("envFrom") or []:
        prefix = src.get("prefix", "")
        picked = pick_ref(src, r, configmap="configMapRef", secret="secretRef")
        if picked is None:
            skip(f"envFrom {sorted(src)}: not mirrored")
            continue
        ref, store, what = picked
        if ref["name"] not in store:
            if ref.get("optional"):
                continue
            raise CheckFailed(f"{kind}/{name}: envFrom {what} {ref['name']} is not rendered (the pod would not start)")
        for k, v in store[ref["name"]].items():
            if not re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", prefix + k):
                skip(f"envFrom {what} {ref['name']} key {k}: not a valid variable name, kubelet skips it")
                continue
            env[prefix + k] = v
        counts[f"envFrom {what} {ref['name']}"] = len(store[ref["name"]])
    for e in c.get("env") or []:
        if "value" in e or "valueFrom" not in e:
            env[e["name"]] = expand(str(e.get("value", "")), env)
            counts["value"] = counts.get("value", 0) + 1
            continue
        vf = e["valueFrom"]
        picked = pick_ref(vf, r, configmap="configMapKeyRef", secret="secretKeyRef")
        if picked is None:
            skip(f"env {e['name']} valueFrom {sorted(vf)}: not mirrored (left unset)")
            continue
        ref, store, what = picked
        value = store.get(ref["name"], {}).get(ref["key"])
        if value is None:
            if ref.get("optional"):
                continue
            raise CheckFailed(f"{kind}/{name}: env {e['name']} refers to {what} {ref['name']} key {ref['key']}, "
                              "which the chart does not render (the pod would not start)")
        env[e["name"]] = value
        key = f"{what} {ref['name']}"
        counts[key] = counts.get(key, 0) + 1
    pod.env_count = counts
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    left = sorted(k for k, v in env.items() if re.search(r"(?<!\$)\$\([A-Za-z_][A-Za-z0-9_]*\)", v))
    if left:
        skip(f"env {', '.join(left)}: $(VAR) reference to an undefined variable left as is (as kubelet does)")
    brief.append("env " + (", ".join(f"{n} from {k}" if k != "value" else f"{n} values" for k, n in counts.items())
                           or "none"))

    if c.get("workingDir"):
        args += ["-w", c["workingDir"]]
        brief.append(f"-w {c['workingDir']}")

    image = tag
    command, cargs = c.get("command"), c.get("args")
    if command:
        args += ["--entrypoint", command[0], image, *command[1:], *(cargs or [])]
    else:
        args += [image, *(cargs or [])]
        if cargs:
            skip("args without command: the image's entrypoint is kept (the mercato image has none)")
    brief.append(f"{image} " + " ".join([*(command or []), *(cargs or [])]))
    pod.run_args = args
    pod.summary = brief
    return pod


# ---------------------------------------------------------------------------------------------
# running


def logs_tail(cname: str, lines: int = 25) -> str:
    out = subprocess.run(["docker", "logs", "--tail", str(lines), cname], capture_output=True, text=True, timeout=60)
    text = (out.stdout + out.stderr).strip()
    return "\n".join("      | " + line for line in text.splitlines())


def docker_run(pod: Pod, detach: bool, timeout: float) -> subprocess.CompletedProcess:
    cmd = ["docker", "run", *(["-d"] if detach else []), *pod.run_args]
    pod.started_at = time.monotonic()
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def run_to_completion(pod: Pod, timeout: float, problems: list[str]) -> bool:
    try:
        proc = docker_run(pod, detach=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        docker("kill", pod.cname, check=False)
        problems.append(f"{pod.kind}/{pod.name}: still running after {timeout:.0f} s "
                        f"(activeDeadlineSeconds):\n{logs_tail(pod.cname)}")
        return False
    pod.stop_s = time.monotonic() - pod.started_at
    pod.exit_code = proc.returncode
    if proc.returncode == 125 and not container_state(pod.cname):
        problems.append(f"{pod.kind}/{pod.name}: docker run failed: {proc.stderr.strip()}")
        return False
    if proc.returncode != 0:
        problems.append(f"{pod.kind}/{pod.name}: exited {proc.returncode}:\n{logs_tail(pod.cname)}")
        return False
    return True


def run_probe(pod: Pod, which: str, problems: list[str], *, since_start: bool) -> bool:
    """Attempts a probe kubelet-style: every periodSeconds, up to failureThreshold attempts."""
    probe = pod.container.get(which)
    if not probe:
        pod.probes.append(f"{which}: none")
        return True
    period = float(probe.get("periodSeconds", 10))
    threshold = int(probe.get("failureThreshold", 3))
    if since_start:
        time.sleep(max(0.0, pod.started_at + float(probe.get("initialDelaySeconds", 0)) - time.monotonic()))
    begun = time.monotonic()
    last = ""
    for attempt in range(1, threshold + 1):
        state = container_state(pod.cname)
        if not state.get("Running"):
            pod.exit_code = state.get("ExitCode")
            problems.append(f"{pod.kind}/{pod.name}: exited {state.get('ExitCode')} during its {which} "
                            f"(attempt {attempt}):\n{logs_tail(pod.cname)}")
            return False
        tried = time.monotonic()
        ok, last = probe_once(probe, pod.container)
        if ok:
            took = time.monotonic() - (pod.started_at if since_start else begun)
            if since_start:
                pod.startup_s = took
            pod.probes.append(f"{which} {probe_kind(probe)}: pass on attempt {attempt}/{threshold} ({last})")
            return True
        if attempt < threshold:
            time.sleep(max(0.0, tried + period - time.monotonic()))
    problems.append(f"{pod.kind}/{pod.name}: {which} failed {threshold} times, every {period:g} s "
                    f"(last: {last}):\n{logs_tail(pod.cname)}")
    pod.probes.append(f"{which} {probe_kind(probe)}: FAILED ({last})")
    return False


def recheck(pod: Pod, problems: list[str]) -> None:
    results = []
    for which in ("readinessProbe", "livenessProbe"):
        probe = pod.container.get(which)
        if probe:
            ok, detail = probe_once(probe, pod.container)
            results.append(f"{which.removesuffix('Probe')} {'pass' if ok else 'FAILED'}")
            if not ok:
                problems.append(f"{pod.kind}/{pod.name}: {which} fails after the test and the request: {detail}")
    pod.probes.append("again after the test and the request: " + ", ".join(results))


def stop_all(pods: list[Pod], problems: list[str]) -> None:
    live = [p for p in pods if p.exit_code is None and container_state(p.cname).get("Running")]
    sent: dict[str, float] = {}
    for p in live:
        docker("kill", "--signal", "SIGTERM", p.cname, check=False)
        sent[p.name] = time.monotonic()
    pending = list(live)
    while pending:
        for p in list(pending):
            state = container_state(p.cname)
            elapsed = time.monotonic() - sent[p.name]
            if not state.get("Running"):
                p.exit_code, p.stop_s = state.get("ExitCode"), elapsed
                pending.remove(p)
                if p.exit_code != 0:
                    problems.append(f"{p.kind}/{p.name}: exited {p.exit_code} after SIGTERM:\n{logs_tail(p.cname)}")
                elif elapsed > p.grace_s:
                    problems.append(f"{p.kind}/{p.name}: exited {elapsed:.1f} s after SIGTERM, over its "
                                    f"terminationGracePeriodSeconds {p.grace_s}")
            elif elapsed > p.grace_s:
                problems.append(f"{p.kind}/{p.name}: still running {p.grace_s} s "
                                f"(terminationGracePeriodSeconds) after SIGTERM; killed")
                docker("kill", p.cname, check=False)
                p.stop_s = elapsed
                p.exit_code = container_state(p.cname).get("ExitCode", -1)
                pending.remove(p)
        time.sleep(0.1)


def pod_line(p: Pod) -> list[str]:
    lines = [f"  {p.kind}/{p.name} ({p.cname}):", "      docker run " + " ".join(p.summary)]
    if p.kind == "Deployment":
        startup = f"{p.startup_s:.1f} s" if p.startup_s is not None else "never"
        stop = f"{p.stop_s:.1f} s" if p.stop_s is not None else "-"
        lines.append(f"      startup probe passed {startup} after docker run; SIGTERM -> exit "
                     f"{p.exit_code} in {stop} (grace {p.grace_s} s)")
        lines += [f"      {x}" for x in p.probes]
    else:
        took = f" in {p.stop_s:.1f} s" if p.stop_s is not None else ""
        lines.append(f"      exit {p.exit_code}{took}")
    return lines


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class Run:
    tag: str
    keep: bool
    extra_values: dict = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_mirrored: dict[str, list[str]] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    nats: Nats | None = None
    dbs: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    def values(self, nats_url: str, users: dict[str, dict]) -> dict:
        return {
            "autoscaling": {"enabled": False},
            "services": {name: {"replicas": 1} for name in ORDER},
            "nats": {"enabled": False, "external": {"url": nats_url}},
            "postgresql": {"enabled": False,
                           "external": {"host": "127.0.0.1", "port": 5432, "users": users}},
        }

    def databases(self) -> dict[str, dict]:
        users = {}
        for svc in DB_SERVICES:
            ident = f"mercato_chart_{svc}_{os.getpid()}"
            users[svc] = {"user": ident, "database": ident, "password": os.urandom(16).hex()}
        return users

    def make_databases(self, users: dict[str, dict]) -> None:
        for spec in users.values():
            psql(f"CREATE ROLE \"{spec['user']}\" LOGIN PASSWORD '{spec['password']}'")
            self.roles.append(spec["user"])
            psql(f"CREATE DATABASE \"{spec['database']}\" OWNER \"{spec['user']}\"")
            self.dbs.append(spec["database"])

    def main(self) -> None:
        image_check.ensure_engine()
        if not image_check.image_exists(self.tag):
            raise CheckFailed(f"no image {self.tag}: build it first (just image-check), or pass --tag")
        try:
            psql("SELECT 1")
        except CheckFailed as err:
            raise CheckFailed(f"PostgreSQL is down (psql as user postgres on 127.0.0.1:5432 does not answer): {err}") from None
        self.nats = Nats.start()
        users = self.databases()
        self.make_databases(users)
        values = helm_check.deep_merge(self.values(self.nats.url, users), self.extra_values)
        try:
            rendered = Rendered(helm_check.manifests_to_objects(helm_check.helm_template(values)))
        except helm_check.helm.HelmError as err:
            raise CheckFailed(f"helm template failed: {str(err).strip()}") from None
        self.report.append(f"rendered {len(rendered.objs)} objects (release {helm_check.RELEASE}, namespace "
                           f"{rendered.namespace}) with external NATS {self.nats.url}, external PostgreSQL "
                           f"127.0.0.1:5432 (per-run users/databases mercato_chart_<svc>_{os.getpid()}), "
                           "autoscaling off, replicas 1")

        jobs = sorted(rendered.of_kind("Job"),
                      key=lambda o: (int((o["metadata"].get("annotations") or {}).get("helm.sh/hook-weight", 0)),
                                     o["metadata"]["name"]))
        rank = {name: i for i, name in enumerate(ORDER)}
        deployments = sorted(rendered.of_kind("Deployment"),
                             key=lambda o: rank.get(helm_check.pod_labels(o).get("app.kubernetes.io/name"), 99))
        tests = [o for o in rendered.of_kind("Pod")
                 if "test" in ((o["metadata"].get("annotations") or {}).get("helm.sh/hook", "")).split(",")]
        for kind in sorted({o.get("kind") for _, o in rendered.objs} - {
                "Job", "Deployment", "Pod", "Secret", "ConfigMap", "Service"}):
            names = [o["metadata"]["name"] for o in rendered.of_kind(kind)]
            self.not_mirrored.setdefault(f"{kind}: not enforced without a cluster", []).extend(names)
        for svc_obj in rendered.of_kind("Service"):
            if svc_obj["spec"].get("type", "ClusterIP") != "ClusterIP":
                self.not_mirrored.setdefault(f"Service type {svc_obj['spec']['type']}: only in-cluster names "
                                             "mirrored", []).append(svc_obj["metadata"]["name"])
        if not jobs:
            self.problems.append("the chart renders no migrate Job")
        if len(deployments) != len(ORDER):
            self.problems.append(f"{len(deployments)} Deployments rendered, want {len(ORDER)}")
        if not tests:
            self.problems.append("the chart renders no `helm test` Pod")

        # Every port a Deployment declares is bound on the host: all must be free.
        taken = []
        for dep in deployments:
            for c in helm_check.pod_spec(dep)["containers"]:
                for p in c.get("ports") or []:
                    why = port_free(int(p["containerPort"]))
                    if why:
                        taken.append(f"{dep['metadata']['name']} {p.get('name')} {why}")
        if taken:
            raise CheckFailed("host networking needs the chart's ports free, but: " + "; ".join(taken))

        catalog_cm = next((cm for name, cm in rendered.configmaps.items() if name.endswith("-catalog")), {})
        seeds = catalog_cm.get("SEED_ON_START", "").lower() == "true"

        # 1. hooks: migrate Jobs
        for job in jobs:
            pod = mirror("Job", job, rendered, self.tag, self.not_mirrored)
            self.pods.append(pod)
            log(f"Job/{pod.name}")
            deadline = float(job["spec"].get("activeDeadlineSeconds", 600))
            run_to_completion(pod, deadline, self.problems)
        if self.problems:
            return
        # 2. Deployments, each one's upstreams first, each past its startup probe before the next
        for dep in deployments:
            pod = mirror("Deployment", dep, rendered, self.tag, self.not_mirrored)
            self.pods.append(pod)
            log(f"Deployment/{pod.name}")
            proc = docker_run(pod, detach=True, timeout=120)
            if proc.returncode != 0:
                self.problems.append(f"Deployment/{pod.name}: docker run failed: {proc.stderr.strip()}")
                pod.exit_code = -1
                return
            if not run_probe(pod, "startupProbe", self.problems, since_start=True):
                return
            for which in ("readinessProbe", "livenessProbe"):
                if not run_probe(pod, which, self.problems, since_start=False):
                    return
        # 3. helm test
        for test in tests:
            self.run_test(test, rendered)
        # 4. a real request through the gateway
        self.products(seeds)
        for pod in self.pods:
            if pod.kind == "Deployment":
                recheck(pod, self.problems)

    def run_test(self, test: dict, rendered: Rendered) -> None:
        c = helm_check.pod_spec(test)["containers"][0]
        images = {helm_check.pod_spec(d)["containers"][0]["image"] for d in rendered.of_kind("Deployment")}
        if c["image"] not in images:
            self.problems.append(f"Pod/{test['metadata']['name']}: image {c['image']} is not the services' "
                                 f"image {sorted(images)}, so chart_run cannot run it from {self.tag}")
            return
        pod = mirror("Pod", test, rendered, self.tag, self.not_mirrored)
        self.pods.append(pod)
        log(f"Pod/{pod.name} (helm test)")
        deadline = float(helm_check.pod_spec(test).get("activeDeadlineSeconds", 120))
        if run_to_completion(pod, deadline, self.problems):
            self.report.append(f"helm test Pod/{pod.name}: exit 0 in {pod.stop_s:.1f} s")

    def products(self, seeds: bool) -> None:
        url = "http://127.0.0.1:8080/v1/products?pageSize=3"
        try:
            status, body = image_check.http_get(url, timeout=10)
        except OSError as err:
            self.problems.append(f"GET {url}: {err}")
            return
        if status != 200:
            self.problems.append(f"GET {url} answered {status}: {body[:300]}")
            return
        try:
            products = json.loads(body).get("products") or []
        except ValueError:
            self.problems.append(f"GET {url}: 200 but not JSON: {body[:200]}")
            return
        if seeds and not products:
            self.problems.append(f"GET {url}: 200 with no products although the chart sets SEED_ON_START=true")
        if len(products) > 3:
            self.problems.append(f"GET {url}: {len(products)} products for pageSize=3")
        names = ", ".join(repr(p.get("name")) for p in products)
        self.report.append(f"GET {url} through the gateway container: 200, {len(products)} products ({names})"
                           + ("" if seeds else "; the chart does not seed the catalog, so an empty list is fine"))

    def cleanup(self) -> None:
        try:
            stop_all(self.pods, self.problems)
        finally:
            if not self.keep:
                out = subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^{PREFIX}"],
                                     capture_output=True, text=True, timeout=60)
                ids = out.stdout.split()
                if ids:
                    docker("rm", "-f", *ids, check=False)
            for db in self.dbs:
                try:
                    psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                except CheckFailed as err:
                    self.problems.append(f"cleanup: could not drop database {db}: {err}")
            for role in self.roles:
                try:
                    psql(f'DROP ROLE IF EXISTS "{role}"')
                except CheckFailed as err:
                    self.problems.append(f"cleanup: could not drop role {role}: {err}")
            if self.nats:
                self.nats.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="mercato:check", help="the local image to run (default mercato:check)")
    parser.add_argument("--keep", action="store_true", help="leave the stopped containers for inspection")
    parser.add_argument("-f", "--values", action="append", default=[], type=Path,
                        help="extra value files merged over the run's values (e.g. to try a change)")
    args = parser.parse_args()
    run = Run(args.tag, args.keep, extra_values=helm_check.load_values(args.values))
    started = time.monotonic()
    try:
        try:
            run.main()
        finally:
            run.cleanup()
    except CheckFailed as err:
        run.problems.append(str(err))
    except KeyboardInterrupt:
        run.problems.append("interrupted")
    lines = ["", "chart_run report", *run.report, "per container (docker run flags derived from the pod):"]
    for pod in run.pods:
        lines += pod_line(pod)
    if run.not_mirrored:
        lines.append("not mirrored from the rendered objects:")
        for msg, where in run.not_mirrored.items():
            uniq = sorted(set(where))
            lines.append(f"  - {msg} [{len(uniq)}: {', '.join(uniq) if len(uniq) <= 3 else ', '.join(uniq[:3]) + ', …'}]")
    lines.append(f"took {time.monotonic() - started:.0f} s")
    lines += [f"PROBLEM: {p}" for p in run.problems] or ["chart_run: all passed"]
    text = "\n".join(lines)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text.lstrip("\n") + "\n")
    print(text, flush=True)
    return 1 if run.problems else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
