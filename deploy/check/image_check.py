#!/usr/bin/env python3
"""Builds mercato's container image and runs every binary from it; exits 1 listing every problem.

    python3 deploy/check/image_check.py            (or: just image-check)
        [--tag mercato:check] [--skip-build] [--rebuild-bases] [--keep]

Not part of `just test`: it needs a Docker engine (root, to start one) and a release build of
the whole workspace inside a container (tens of minutes on two cores from a cold cache).

What it does, in order:
  1. engine: uses the running Docker engine; without one, installs Debian's docker.io when
     dockerd is missing and starts `dockerd --bridge=none --iptables=false` (log in
     .tools/image-check/dockerd.log). No bridge network exists then, so every build step and
     container uses `--network host` and all traffic stays on loopback.
  2. bases: public registries may be unreachable, so both base images are made locally from
     Debian's packages (`debootstrap --variant=minbase bookworm`, then `docker import`):
       * mercato-local/rust:<toolchain>-bookworm stands in for rust:1.95-bookworm: the Debian
         tree with gcc and libc6-dev, plus this machine's Rust toolchain (the one
         rust-toolchain.toml names, without its docs) under /usr/local/rustup with rustup's
         proxies in /usr/local/cargo/bin, laid out like the official image;
       * mercato-local/cc-debian12:nonroot stands in for gcr.io/distroless/cc-debian12:nonroot:
         only the files of the packages distroless/cc carries (base-files, netbase, tzdata,
         ca-certificates with its generated bundle, libc6, libgcc-s1, libgomp1, libstdc++6,
         libssl3), /etc/passwd and /etc/group with root, nonroot (65532) and nobody, and no
         shell: the check fails if the runtime image can start /bin/sh.
     Made once and reused (--rebuild-bases makes them again).
  3. build: `docker build` of deploy/docker/Dockerfile with those bases as build arguments,
     VERSION from Cargo.toml and REVISION from git; the image's labels, user and size are read
     back.
  4. run: a fresh PostgreSQL database per service on the machine's server (127.0.0.1:5432, or
     PGHOST/PGPORT/PGUSER), a nats-server with JetStream on a free port and a temporary store,
     then for identity, catalog, orders, payments, shipping, notifications and the gateway, in
     that order (each one's upstreams first): `<svc> migrate` in a one-shot container (exit
     0), then the service in a container hardened as the Helm chart runs it (read-only root
     filesystem with a tmpfs /tmp, every capability dropped, no-new-privileges, the image's own
     user); waits for /readyz, asks grpc.health.v1.Health/Check on the gRPC port (grpcurl, via
     reflection) for SERVING, runs compose.yaml's healthcheck (the image's wget against /readyz,
     and against a 404 to see it can fail), reads the process's uid and RSS from /proc; then a real request
     through the gateway: a shopper signs up, signs in, carts a seeded product and checks out
     with the test card, and the order must reach CONFIRMED and get a shipment (the saga over
     NATS between the containers). Then stops them
     in reverse order with SIGTERM and checks each exits 0 within its shutdown bound.
  5. chart: deploy/check/chart_run.py runs the Helm chart's rendered pods (migrate Jobs,
     Deployments with their own probes, the helm test Pod) from the same image (--no-chart
     skips it; it needs `just deploy-tools`).
  6. report: image size, layer sizes, the user, and per binary the time to ready, RSS and the
     time to exit after SIGTERM; also written to .tools/image-check/report.txt.

Containers, databases and the nats-server are removed at the end (--keep leaves the
containers for inspection). The engine and the base images are left for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import compose_check
from compose_check import DB_SERVICES, GATEWAY_UPSTREAMS

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".tools" / "image-check"
VENV_BIN = ROOT / ".tools" / "venv" / "bin"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"

SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
RUNTIME_BASE = "mercato-local/cc-debian12:nonroot"
# What gcr.io/distroless/cc-debian12 is made of (its BUILD files: base-files, netbase, tzdata,
# ca-certificates, libc6, libssl3 from distroless/base; libgcc-s1, libgomp1, libstdc++6 from cc).
RUNTIME_PACKAGES = [
    "base-files",
    "netbase",
    "tzdata",
    "ca-certificates",
    "libc6",
    "libssl3",
    "libgcc-s1",
    "libgomp1",
    "libstdc++6",
]
NONROOT = 65532

BINARIES = compose_check.MERCATO  # each one's upstreams first
SHUTDOWN_DELAY_S = 1
SHUTDOWN_TIMEOUT_S = 20
READY_DEADLINE_S = 90


class CheckFailed(Exception):
    pass


def log(msg: str) -> None:
    print(f"image-check: {msg}", flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = True, timeout: float | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=capture, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise CheckFailed(f"`{' '.join(cmd[:6])}{' …' if len(cmd) > 6 else ''}` exited "
                          f"{proc.returncode}: {detail[-2000:]}")
    return proc


def docker(*args: str, check: bool = True, timeout: float | None = 120) -> str:
    return run(["docker", *args], check=check, timeout=timeout).stdout.strip()


def is_root() -> bool:
    return os.geteuid() == 0


def tool(name: str) -> str:
    """A tool from .tools/venv (where `just tools` installs it), else from PATH; missing fails."""
    found = compose_check.tool(name)
    if found is None:
        raise CheckFailed(f"no {name} (just tools installs it into .tools/venv)")
    return found


def container_state(name: str) -> dict:
    """`docker inspect`'s State of a container; {} when there is no such container."""
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return {}
    return json.loads(out.stdout)[0]["State"]


# ---------------------------------------------------------------------------------------------
# 1. engine


def engine_up() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def ensure_engine() -> None:
    if shutil.which("docker") and engine_up():
        version = docker("version", "--format", "{{.Server.Version}}")
        log(f"using the running Docker engine {version}")
        return
    if not is_root():
        raise CheckFailed("no Docker engine answers and starting one needs root")
    if not shutil.which("dockerd") or not shutil.which("docker"):
        log("installing Debian's docker.io")
        apt_install(["docker.io"])
    WORK.mkdir(parents=True, exist_ok=True)
    log_path = WORK / "dockerd.log"
    log(f"starting dockerd --bridge=none --iptables=false (log: {log_path})")
    with open(log_path, "ab") as out:
        subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false"], stdout=out, stderr=out,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if engine_up():
            log(f"dockerd {docker('version', '--format', '{{.Server.Version}}')} is up")
            return
        time.sleep(0.5)
    raise CheckFailed(f"dockerd did not answer within 60 s; see {log_path}")


def apt_install(packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, timeout=600)
    run(["apt-get", "install", "-y", "-qq", *packages], env=env, timeout=1200)


# ---------------------------------------------------------------------------------------------
# 2. bases


def toolchain() -> str:
    """The toolchain rust-toolchain.toml pins (e.g. 1.95.0)."""
    pinned = tomllib.loads((ROOT / "rust-toolchain.toml").read_text())
    return str(pinned["toolchain"]["channel"])


def rust_base() -> str:
    return f"mercato-local/rust:{toolchain()}-{SUITE}"


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def debootstrap_tree() -> Path:
    """One minbase bookworm tree with what both bases need, made once."""
    tree = WORK / f"rootfs-{SUITE}"
    stamp = tree / ".mercato-complete"
    if stamp.exists():
        return tree
    if not is_root():
        raise CheckFailed("debootstrap needs root")
    if not shutil.which("debootstrap"):
        log("installing Debian's debootstrap")
        apt_install(["debootstrap"])
    if tree.exists():
        shutil.rmtree(tree)
    include = ",".join(["ca-certificates", "gcc", "libc6-dev", "tzdata", "netbase", "libssl3",
                        "libgomp1", "libstdc++6"])
    log(f"debootstrap --variant=minbase {SUITE} ({MIRROR}) into {tree}")
    started = time.monotonic()
    run(["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(tree), MIRROR],
        timeout=1800)
    # apt in the build stage must reach the same mirror and its security updates.
    (tree / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\n"
        f"deb {MIRROR} {SUITE}-updates main\n"
        f"deb {MIRROR.replace('/debian', '/debian-security')} {SUITE}-security main\n")
    for cache in ["var/cache/apt/archives", "var/lib/apt/lists"]:
        for entry in (tree / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    stamp.write_text("")
    log(f"debootstrap took {time.monotonic() - started:.0f} s")
    return tree


def docker_import(tree: Path, ref: str, changes: list[str]) -> None:
    args = ["docker", "import"]
    for change in changes:
        args += ["--change", change]
    args += ["-", ref]
    tar = subprocess.Popen(["tar", "-C", str(tree), "--numeric-owner", "--exclude=./.mercato-complete",
                            "-cf", "-", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True)
    tar.wait()
    if tar.returncode != 0 or imported.returncode != 0:
        raise CheckFailed(f"docker import {ref} failed: {imported.stderr.strip()}")


def make_rust_base(tree: Path) -> None:
    ref = rust_base()
    channel = toolchain()
    sysroot = Path(run(["rustc", "--print", "sysroot"], timeout=60).stdout.strip()).resolve()
    version = run(["rustc", "--version"], timeout=60).stdout.strip()
    if not version.startswith(f"rustc {channel}"):
        raise CheckFailed(f"this machine's toolchain is `{version}`, rust-toolchain.toml pins {channel}")
    rustup = shutil.which("rustup")
    if rustup is None:
        raise CheckFailed("rustup is not on PATH (the base lays the toolchain out as rustup does)")
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        layer = Path(scratch) / "root"
        # cp -a, not shutil.copytree: the tree's /dev holds device nodes that a copy by
        # reading would read forever (/dev/zero).
        run(["cp", "-a", str(tree), str(layer)], timeout=600)
        # The build stage downloads crates and a Debian package. Where this machine reaches
        # the registries through a TLS-inspecting proxy, its own extra CAs
        # (/usr/local/share/ca-certificates) must be trusted in the builder too, as they are
        # on the host; the runtime base keeps Debian's bundle untouched.
        local_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
        if local_cas:
            dest_dir = layer / "usr/local/share/ca-certificates"
            dest_dir.mkdir(parents=True, exist_ok=True)
            bundle = layer / "etc/ssl/certs/ca-certificates.crt"
            with open(bundle, "a") as out:
                for ca in local_cas:
                    shutil.copy2(ca, dest_dir / ca.name)
                    out.write("\n" + ca.read_text())
            log(f"the builder base trusts this machine's extra CAs: {[ca.name for ca in local_cas]}")
        name = f"{channel}-x86_64-unknown-linux-gnu"
        dest = layer / "usr/local/rustup/toolchains" / name
        # Docs are most of a toolchain's size and nothing in a build reads them.
        shutil.copytree(sysroot, dest, symlinks=True, ignore=shutil.ignore_patterns("doc"))
        (layer / "usr/local/rustup/settings.toml").write_text(
            f'version = "12"\ndefault_toolchain = "{name}"\nprofile = "minimal"\n'
            'auto_self_update = "disable"\n\n[overrides]\n')
        bindir = layer / "usr/local/cargo/bin"
        bindir.mkdir(parents=True)
        shutil.copy2(rustup, bindir / "rustup")
        for proxy in ["cargo", "rustc", "rustdoc", "cargo-clippy", "cargo-fmt", "rustfmt", "clippy-driver"]:
            (bindir / proxy).symlink_to("rustup")
        docker_import(layer, ref, [
            "ENV RUSTUP_HOME=/usr/local/rustup",
            "ENV CARGO_HOME=/usr/local/cargo",
            "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"ENV RUST_VERSION={channel}",
            'CMD ["bash"]',
        ])
    got = docker("run", "--rm", "--network", "host", ref, "cargo", "--version")
    log(f"made {ref} ({got})")


def package_paths(tree: Path, package: str) -> list[str]:
    info = tree / "var/lib/dpkg/info"
    for candidate in [info / f"{package}.list", info / f"{package}:amd64.list"]:
        if candidate.exists():
            return [line for line in candidate.read_text().splitlines() if line and line != "/."]
    raise CheckFailed(f"package {package} is not in the debootstrap tree")


def make_runtime_base(tree: Path) -> None:
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        layer = Path(scratch) / "root"
        layer.mkdir()
        # dpkg lists a package's paths as packaged (/lib/x86_64-linux-gnu/...); in bookworm's
        # merged-/usr tree /lib is a link to usr/lib, so each path is stored under the real
        # directory and the top-level links are added as links: extracting a path through a
        # link whose target is not yet there fails.
        merged = {top: f"usr/{top}" for top in ["bin", "lib", "lib64", "sbin"]
                  if (tree / top).is_symlink()}
        paths: set[str] = set()
        for package in RUNTIME_PACKAGES:
            for path in package_paths(tree, package):
                first, _, rest = path.lstrip("/").partition("/")
                real = merged.get(first, first) + (f"/{rest}" if rest else "")
                if (tree / real).is_symlink() or (tree / real).exists():
                    paths.add(real)
        paths.update(merged)
        listing = Path(scratch) / "paths"
        listing.write_text("\n".join(sorted(paths)) + "\n")
        pack = subprocess.Popen(["tar", "-C", str(tree), "--no-recursion", "--numeric-owner",
                                 "-T", str(listing), "-cf", "-"], stdout=subprocess.PIPE)
        unpack = subprocess.run(["tar", "-C", str(layer), "--numeric-owner", "-xf", "-"],
                                stdin=pack.stdout, capture_output=True, text=True)
        pack.wait()
        if pack.returncode != 0 or unpack.returncode != 0:
            raise CheckFailed(f"copying the runtime packages failed: {unpack.stderr.strip()}")
        # /etc/ssl/certs is a directory of links into /usr/share/ca-certificates plus the bundle.
        shutil.copytree(tree / "etc/ssl/certs", layer / "etc/ssl/certs", symlinks=True,
                        dirs_exist_ok=True)
        etc = layer / "etc"
        (etc / "passwd").write_text(
            "root:x:0:0:root:/root:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
            f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n")
        (etc / "group").write_text(f"root:x:0:\nnobody:x:65534:\nnonroot:x:{NONROOT}:\n")
        (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
        for directory, mode, owner in [("tmp", 0o1777, 0), ("root", 0o700, 0),
                                       ("home/nonroot", 0o700, NONROOT)]:
            path = layer / directory
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)
            os.chown(path, owner, owner)
        shells = [s for s in ["bin/sh", "bin/bash", "bin/dash", "usr/bin/sh", "usr/bin/busybox"]
                  if (layer / s).exists()]
        if shells:
            raise CheckFailed(f"the runtime base would carry a shell: {shells}")
        docker_import(layer, RUNTIME_BASE, [
            f"USER {NONROOT}:{NONROOT}",
            "WORKDIR /home/nonroot",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        ])
    log(f"made {RUNTIME_BASE} ({mib(image_size(RUNTIME_BASE))})")


def ensure_bases(rebuild: bool) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    wanted = [(rust_base(), make_rust_base), (RUNTIME_BASE, make_runtime_base)]
    if not rebuild and all(image_exists(ref) for ref, _ in wanted):
        log(f"reusing the local bases {rust_base()} and {RUNTIME_BASE}")
        return
    tree = debootstrap_tree()
    for ref, make in wanted:
        if rebuild or not image_exists(ref):
            make(tree)


# ---------------------------------------------------------------------------------------------
# 3. build


def workspace_version() -> str:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return str(manifest["workspace"]["package"]["version"])


def revision() -> str:
    rev = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], timeout=30).stdout.strip()
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                timeout=30).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def build(tag: str, rev: str, report: list[str]) -> None:
    log_path = WORK / "build.log"
    cmd = ["docker", "build", "--network", "host", "-f", str(DOCKERFILE),
           "--build-arg", f"RUST_IMAGE={rust_base()}",
           "--build-arg", f"RUNTIME_IMAGE={RUNTIME_BASE}",
           "--build-arg", f"VERSION={workspace_version()}",
           "--build-arg", f"REVISION={rev}",
           "-t", tag, str(ROOT)]
    log(f"docker build -t {tag} (log: {log_path}; a cold build takes tens of minutes)")
    started = time.monotonic()
    # The engine here has no BuildKit client (no buildx plugin): the classic builder does
    # multi-stage builds, --network host and COPY --from as the Dockerfile needs.
    env = dict(os.environ, DOCKER_BUILDKIT=os.environ.get("DOCKER_BUILDKIT", "0"))
    with open(log_path, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    took = time.monotonic() - started
    if proc.returncode != 0:
        tail = log_path.read_text().splitlines()[-40:]
        raise CheckFailed(f"docker build exited {proc.returncode} after {took:.0f} s:\n  "
                          + "\n  ".join(tail))
    report.append(f"build: {took:.0f} s (docker build, {'cached' if took < 120 else 'cold or partly cached'})")
    log(f"built {tag} in {took:.0f} s")


# ---------------------------------------------------------------------------------------------
# 4. run


def image_size(ref: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", ref))


def mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def inspect_image(tag: str, built_at: str | None, report: list[str], problems: list[str]) -> None:
    """built_at: the revision this run built the image from; None for an image built earlier."""
    meta = json.loads(docker("image", "inspect", tag))[0]
    config = meta["Config"]
    user = config.get("User") or ""
    labels = config.get("Labels") or {}
    version = workspace_version()
    base = image_size(RUNTIME_BASE)
    report.append(f"image {tag}: {mib(meta['Size'])} in all; runtime base {RUNTIME_BASE} "
                  f"{mib(base)}, so mercato's own layer(s) {mib(meta['Size'] - base)}")
    report.append(f"user: {user!r}; stop signal: {config.get('StopSignal')}; "
                  f"healthcheck: {config.get('Healthcheck')}")
    for line in docker("history", "--no-trunc", "--format", "{{json .}}", tag).splitlines():
        layer = json.loads(line)
        if layer.get("Size") not in ("0B", "0", None):
            created = " ".join(layer.get("CreatedBy", "").split())
            report.append(f"  layer {layer['Size']:>8}  {created[:110]}")
    if not re.fullmatch(rf"{NONROOT}(:{NONROOT})?", user):
        problems.append(f"image user is {user!r}, want {NONROOT}:{NONROOT} by number")
    if config.get("StopSignal") != "SIGTERM":
        problems.append(f"stop signal is {config.get('StopSignal')!r}, want SIGTERM")
    if config.get("Healthcheck"):
        problems.append("the image bakes in a HEALTHCHECK")
    # An image this run built must carry this checkout's version and revision; one built
    # earlier (--skip-build) must at least name a revision.
    want = {"org.opencontainers.image.version": version}
    if built_at is not None:
        want["org.opencontainers.image.revision"] = built_at
    for key, value in want.items():
        if labels.get(key) != value:
            problems.append(f"label {key} is {labels.get(key)!r}, want {value!r}")
    if labels.get("org.opencontainers.image.revision") in (None, "", "unknown"):
        problems.append("label org.opencontainers.image.revision names no revision")
    report.append(f"labels: version {labels.get('org.opencontainers.image.version')}, "
                  f"revision {labels.get('org.opencontainers.image.revision')}")
    if not labels.get("org.opencontainers.image.source"):
        problems.append("label org.opencontainers.image.source is missing")
    shell = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh",
                            tag, "-c", "true"], capture_output=True, text=True, timeout=60)
    if shell.returncode == 0:
        problems.append("the runtime image can start /bin/sh")
    else:
        report.append("no shell: `docker run --entrypoint /bin/sh` fails, as it should")
    for binary in BINARIES:
        out = subprocess.run(["docker", "run", "--rm", "--network", "none", tag,
                              f"/usr/local/bin/{binary}", "--version"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or version not in out.stdout:
            problems.append(f"{binary} --version: exit {out.returncode}, {out.stdout.strip()!r} {out.stderr.strip()[:200]!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    return http_call(url, timeout=timeout)


def http_call(url: str, body: dict | None = None, headers: dict | None = None,
              timeout: float = 10.0) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def request(url: str, body: dict | None = None, headers: dict | None = None) -> dict:
    code, text = http_call(url, body, headers)
    if code != 200:
        raise CheckFailed(f"{'POST' if body is not None else 'GET'} {url} answered {code}: {text[:300]}")
    return json.loads(text)


def pg_settings() -> dict[str, str]:
    """The PostgreSQL server to use: PGHOST/PGPORT/PGUSER, else the machine's (trust auth)."""
    return {"PGHOST": os.environ.get("PGHOST", "127.0.0.1"), "PGPORT": os.environ.get("PGPORT", "5432"),
            "PGUSER": os.environ.get("PGUSER", "postgres")}


def psql(sql: str, database: str = "postgres") -> None:
    env = dict(os.environ, **pg_settings())
    run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-d", database, "-c", sql], env=env, timeout=60)


def database_url(name: str) -> str:
    pg = pg_settings()
    return f"postgres://{pg['PGUSER']}@{pg['PGHOST']}:{pg['PGPORT']}/{name}"


@dataclass
class Nats:
    proc: subprocess.Popen
    store: tempfile.TemporaryDirectory
    url: str

    @classmethod
    def start(cls) -> "Nats":
        binary = tool("nats-server")
        store = tempfile.TemporaryDirectory(prefix="image-check-nats-")
        port, monitor = free_port(), free_port()
        proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
                                 "-js", "-sd", store.name], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if http_get(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true")[0] == 200:
                    return cls(proc, store, f"nats://127.0.0.1:{port}")
            except OSError:
                pass
            time.sleep(0.1)
        proc.kill()
        raise CheckFailed("nats-server did not become healthy within 20 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.store.cleanup()


@dataclass
class Running:
    name: str
    binary: str
    grpc: int
    admin: int
    ready_s: float = 0.0
    rss_kib: int = 0
    uid: str = ""
    stop_s: float = 0.0
    exit_code: int | None = None


@dataclass
class Stack:
    tag: str
    nats: Nats
    suffix: str
    keep: bool
    problems: list[str]
    report: list[str]
    running: list[Running] = field(default_factory=list)
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def database(self, service: str) -> str:
        return f"mercato_image_{service}_{self.suffix}"

    def env(self, binary: str) -> dict[str, str]:
        grpc, admin = self.ports[binary]
        env = {
            "GRPC_ADDR": f"127.0.0.1:{grpc}",
            "ADMIN_ADDR": f"127.0.0.1:{admin}",
            "LOG_FORMAT": "json",
            "NATS_URL": self.nats.url,
            "IDENTITY_URL": f"http://127.0.0.1:{self.ports['identity'][0]}",
            "SHUTDOWN_DELAY": f"{SHUTDOWN_DELAY_S}s",
            "SHUTDOWN_TIMEOUT": f"{SHUTDOWN_TIMEOUT_S}s",
        }
        if binary in DB_SERVICES:
            env["DATABASE_URL"] = database_url(self.database(binary))
        if binary == "identity":
            env["SERVICE_CLIENTS"] = ",".join(f"{name}={secret}" for name, secret in self.secrets.items())
        else:
            env["SERVICE_CLIENT_SECRET"] = self.secrets[binary]
        if binary == "catalog":
            env["SEED_ON_START"] = "true"
        if binary == "notifications":
            env["NOTIFICATION_SINK"] = "log"
        if binary in ("orders", "gateway"):
            env["CATALOG_URL"] = f"http://127.0.0.1:{self.ports['catalog'][0]}"
        if binary == "gateway":
            for variable, upstream in GATEWAY_UPSTREAMS.items():
                env[variable] = f"http://127.0.0.1:{self.ports[upstream][0]}"
        return env

    def docker_run(self, binary: str, args: list[str], *, detach: bool, name: str) -> subprocess.CompletedProcess:
        cmd = ["docker", "run", "--name", name, "--network", "host",
               # as the Helm chart runs it: restricted, read-only, the image's own user
               "--read-only", "--tmpfs", "/tmp:rw,noexec,nosuid,size=64m",
               "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for key, value in self.env(binary).items():
            cmd += ["-e", f"{key}={value}"]
        cmd += ["-d"] if detach else []
        cmd += [self.tag, f"/usr/local/bin/{binary}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    def container(self, binary: str, role: str) -> str:
        return f"mercato-check-{self.suffix}-{binary}{'-' + role if role else ''}"

    def migrate(self, binary: str) -> None:
        name = self.container(binary, "migrate")
        started = time.monotonic()
        proc = self.docker_run(binary, ["migrate"], detach=False, name=name)
        took = time.monotonic() - started
        logs = docker("logs", name, check=False)
        docker("rm", "-f", name, check=False)
        if proc.returncode != 0:
            raise CheckFailed(f"{binary} migrate exited {proc.returncode}: {(proc.stderr or logs)[-1500:]}")
        self.report.append(f"{binary} migrate: exit 0 in {took:.1f} s")

    def start(self, binary: str) -> None:
        name = self.container(binary, "")
        grpc, admin = self.ports[binary]
        started = time.monotonic()
        proc = self.docker_run(binary, [], detach=True, name=name)
        if proc.returncode != 0:
            raise CheckFailed(f"docker run {binary}: {proc.stderr.strip()}")
        entry = Running(name, binary, grpc, admin)
        self.running.append(entry)
        deadline = started + READY_DEADLINE_S
        while True:
            state = container_state(name)
            if not state.get("Running"):
                raise CheckFailed(f"{binary} exited {state.get('ExitCode')} before ready:\n"
                                  + docker("logs", "--tail", "30", name, check=False))
            try:
                status, _ = http_get(f"http://127.0.0.1:{admin}/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CheckFailed(f"{binary} not ready within {READY_DEADLINE_S} s:\n"
                                  + docker("logs", "--tail", "30", name, check=False))
            time.sleep(0.2)
        entry.ready_s = time.monotonic() - started
        # The chart's startup probe.
        startup, _ = http_get(f"http://127.0.0.1:{admin}/startupz")
        if startup != 200:
            self.problems.append(f"{binary}: /startupz answered {startup} once ready, want 200")
        pid = state["Pid"]
        status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        for line in status_lines:
            if line.startswith("Uid:"):
                entry.uid = line.split()[1]
                if set(line.split()[1:]) != {str(NONROOT)}:
                    self.problems.append(f"{binary} runs with {line.strip()}, want uid {NONROOT} throughout")
            if line.startswith("VmRSS:"):
                entry.rss_kib = int(line.split()[1])
        self.grpc_health(entry)
        self.compose_probe(entry)

    def compose_probe(self, entry: Running) -> None:
        """compose.yaml's healthcheck, exactly: the image's busybox-as-wget against /readyz."""
        def wget(path: str) -> subprocess.CompletedProcess:
            return subprocess.run(["docker", "exec", entry.name, "/usr/local/bin/wget", "-q", "-O",
                                   "/dev/null", f"http://127.0.0.1:{entry.admin}{path}"],
                                  capture_output=True, text=True, timeout=30)

        probe = wget("/readyz")
        if probe.returncode != 0:
            self.problems.append(f"{entry.binary}: the compose healthcheck (wget /readyz in the "
                                 f"container) exited {probe.returncode}: {probe.stderr.strip()}")
        if wget("/no-such-path").returncode == 0:
            self.problems.append(f"{entry.binary}: the compose healthcheck's wget exits 0 on a 404, "
                                 "so it could not fail")

    def grpc_health(self, entry: Running) -> None:
        out = subprocess.run([tool("grpcurl"), "-plaintext", "-max-time", "5", "-d", '{"service": ""}',
                              f"127.0.0.1:{entry.grpc}", "grpc.health.v1.Health/Check"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0 or '"SERVING"' not in out.stdout:
            self.problems.append(f"{entry.binary}: grpc.health.v1.Health/Check answered "
                                 f"{out.stdout.strip()} {out.stderr.strip()}")

    def through_gateway(self) -> None:
        """A shopper's checkout through the gateway container, served by the six others."""
        base = f"http://127.0.0.1:{self.ports['gateway'][0]}"
        email = f"image-check.{os.urandom(4).hex()}@example.com"
        password = "correct horse battery staple"
        started = time.monotonic()
        request(f"{base}/v1/users", {"email": email, "password": password, "displayName": "Ada"})
        tokens = request(f"{base}/v1/sessions", {"email": email, "password": password})["tokens"]
        auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
        products = request(f"{base}/v1/products?pageSize=50")["products"]
        stocked = [p for p in products if int(p.get("stock", {}).get("available", "0")) > 2]
        if not stocked:
            raise CheckFailed(f"the seeded catalog lists no product with stock: {products[:2]}")
        request(f"{base}/v1/cart/items", {"productId": stocked[0]["id"], "quantity": 2}, auth)
        address = {"recipientName": "Ada Lovelace", "addressLines": ["12 St James's Square"],
                   "city": "London", "postalCode": "SW1Y 4JH", "countryCode": "GB"}
        order = request(f"{base}/v1/orders", {"shippingAddress": address, "paymentMethodToken": "tok_visa"},
                        {**auth, "Idempotency-Key": f"image-check-{self.suffix}"})["order"]
        deadline = time.monotonic() + 60
        status = order.get("status", "")
        while not status.endswith("CONFIRMED"):
            if status.endswith("CANCELLED") or time.monotonic() > deadline:
                raise CheckFailed(f"order {order['id']} ended {status!r}, want CONFIRMED")
            time.sleep(0.2)
            status = request(f"{base}/v1/orders/{order['id']}", headers=auth)["order"]["status"]
        confirmed = time.monotonic() - started
        while True:
            code, body = http_call(f"{base}/v1/shipments/{order['id']}", headers=auth)
            if code == 200:
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"no shipment for order {order['id']}: {code} {body[:200]}")
            time.sleep(0.2)
        self.report.append(f"checkout through the gateway container: signed up, carted {stocked[0].get('name')!r}, "
                           f"order {status} {confirmed:.1f} s and its shipment created "
                           f"{time.monotonic() - started:.1f} s after the sign-up")

    def stop_all(self) -> None:
        bound = SHUTDOWN_DELAY_S + SHUTDOWN_TIMEOUT_S + 5
        for entry in reversed(self.running):
            if entry.exit_code is not None:
                continue
            started = time.monotonic()
            docker("kill", "--signal", "SIGTERM", entry.name, check=False)
            deadline = started + bound
            while time.monotonic() < deadline:
                state = container_state(entry.name)
                if not state.get("Running"):
                    entry.exit_code = state.get("ExitCode", -1)
                    break
                time.sleep(0.1)
            entry.stop_s = time.monotonic() - started
            if entry.exit_code is None:
                self.problems.append(f"{entry.binary} still running {bound} s after SIGTERM")
                docker("kill", entry.name, check=False)
            elif entry.exit_code != 0:
                self.problems.append(f"{entry.binary} exited {entry.exit_code} after SIGTERM:\n"
                                     + docker("logs", "--tail", "20", entry.name, check=False))

    def cleanup(self) -> None:
        if not self.keep:
            for entry in self.running:
                docker("rm", "-f", entry.name, check=False)
        for service in DB_SERVICES:
            try:
                psql(f'DROP DATABASE IF EXISTS "{self.database(service)}" WITH (FORCE)')
            except CheckFailed as err:
                log(f"could not drop {self.database(service)}: {err}")


def run_stack(tag: str, keep: bool, report: list[str], problems: list[str]) -> None:
    nats = Nats.start()
    stack = Stack(tag, nats, f"{os.getpid()}", keep, problems, report)
    try:
        for binary in BINARIES:
            stack.ports[binary] = (free_port(), free_port())
        # Fresh secrets per run: a 16+ character secret per service client, identity knows them all.
        stack.secrets = {b: f"{b}-image-check-{os.urandom(8).hex()}" for b in BINARIES if b != "identity"}
        for service in DB_SERVICES:
            psql(f'CREATE DATABASE "{stack.database(service)}"')
        for binary in BINARIES:
            if binary in DB_SERVICES:
                stack.migrate(binary)
            stack.start(binary)
        stack.through_gateway()
        stack.stop_all()
        report.append("per binary (container hardened as in the chart; ready = `docker run` to /readyz 200):")
        report.append(f"  {'binary':<14}{'ready':>8}{'RSS':>11}{'uid':>8}{'SIGTERM→exit':>15}{'code':>6}")
        for entry in stack.running:
            report.append(f"  {entry.binary:<14}{entry.ready_s:>7.1f}s{entry.rss_kib / 1024:>8.1f} MiB"
                          f"{entry.uid:>8}{entry.stop_s:>14.1f}s{str(entry.exit_code):>6}")
    finally:
        try:
            stack.stop_all()
        finally:
            stack.cleanup()
            nats.stop()


def run_chart(tag: str, report: list[str], problems: list[str]) -> None:
    """The Helm chart's own pods from the same image (deploy/check/chart_run.py, its report inline)."""
    python = VENV_BIN / "python"
    if not python.exists():
        raise CheckFailed("no .tools/venv (just deploy-tools installs what chart_run.py needs)")
    log("running the chart's rendered pods from the image (chart_run.py)")
    started = time.monotonic()
    proc = subprocess.run([str(python), str(ROOT / "deploy" / "check" / "chart_run.py"), "--tag", tag],
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        problems.append(f"chart_run.py exited {proc.returncode} (its report above; "
                        f"stderr: {proc.stderr.strip()[-1500:]})")
    else:
        report.append(f"chart_run.py: the chart's migrate Jobs, Deployments and helm test Pod ran from "
                      f"{tag} and passed ({time.monotonic() - started:.0f} s; .tools/chart-run/report.txt)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="mercato:check")
    parser.add_argument("--skip-build", action="store_true", help="check an image already built under --tag")
    parser.add_argument("--rebuild-bases", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the stopped containers")
    parser.add_argument("--no-chart", action="store_true",
                        help="skip chart_run.py (the Helm chart's rendered pods run from the image)")
    args = parser.parse_args()
    report: list[str] = []
    problems: list[str] = []
    try:
        ensure_engine()
        ensure_bases(args.rebuild_bases)
        built_at = None if args.skip_build else revision()
        if built_at is not None:
            build(args.tag, built_at, report)
        inspect_image(args.tag, built_at, report, problems)
        run_stack(args.tag, args.keep, report, problems)
        if not args.no_chart:
            run_chart(args.tag, report, problems)
    except CheckFailed as err:
        problems.append(str(err))
    except KeyboardInterrupt:
        problems.append("interrupted")
    WORK.mkdir(parents=True, exist_ok=True)
    text = "\n".join(report + ([f"PROBLEM: {p}" for p in problems] or ["image-check: all passed"]))
    (WORK / "report.txt").write_text(text + "\n")
    print("\n" + text)
    return 1 if problems else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
