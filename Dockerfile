# syntax=docker/dockerfile:1
# The Pingress image: one binary, /usr/local/bin/pingress, run as the non-root user
# 65532 on Debian bookworm-slim.
#
#   docker build -t ghcr.io/pingress/pingress:0.1.0 .
#
# Needs BuildKit (the default builder of Docker 23+; also podman/buildah): the build uses cache
# mounts, and the runtime stage bind-mounts the binary from the builder so that it is stored in
# one layer only. docs/deploy.md has the details.

FROM rust:1.95-bookworm AS builder
# What scripts/install-deps installs: cmake (libz-ng-sys), pkg-config and libssl-dev (OpenSSL).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds; the binary
# is copied out of the target cache (which is not part of the image) to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p pingress --bin pingress \
 && install -D -m 0755 target/release/pingress /out/pingress

FROM debian:bookworm-slim
# ca-certificates: TLS to the API server with --kubeconfig, and to HTTPS upstreams.
# libssl3: today's binary links OpenSSL statically (pingora-openssl builds it, "vendored"), so
#   this is only a safety net should the build ever link the system OpenSSL.
# libcap2-bin: setcap, for the next step only (removed there).
# The user 65532 runs pingress. The setuid/setgid bits of the base image's programs (su,
# passwd, mount, ...) are removed: nothing in this image may gain privileges by exec.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 pingress \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin pingress \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} +
# The file capability cap_net_bind_service=+ep lets the non-root process bind :80 and :443
# although it holds no capability of its own: on exec the kernel grants it NET_BIND_SERVICE, and
# nothing else, as long as the container's capability bounding set has it (the DaemonSet adds
# it after dropping ALL). It is set here, in the stage's own RUN, because COPY does not
# reliably carry the security.capability attribute.
RUN --mount=type=bind,from=builder,source=/out,target=/out \
    install -m 0755 /out/pingress /usr/local/bin/pingress \
 && setcap cap_net_bind_service=+ep /usr/local/bin/pingress \
 && dpkg --purge libcap2-bin
USER 65532:65532
# HTTP, HTTPS, admin (/healthz, /readyz, /metrics).
EXPOSE 80 443 10254
ENTRYPOINT ["/usr/local/bin/pingress"]
CMD ["--help"]
