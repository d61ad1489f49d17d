# syntax=docker/dockerfile:1
#
# One image per example service, chosen by build argument:
#
#   docker build --build-arg SERVICE=user_service --build-arg PORT=8808 -t portcullis/user_service .
#   docker build --build-arg SERVICE=movie_service --build-arg PORT=8809 -t portcullis/movie_service .
#   docker build --build-arg SERVICE=recommendation_client -t portcullis/recommendation_client .
#
# Stage 1 builds the example with cargo; stage 2 is distroless (glibc, CA certificates, no
# shell, no package manager) and runs it as a non-root numeric user. Docs:
# docs/deploy/README.md. Checked by scripts/check-deploy (hadolint).
#
# Probes: the runtime image has no shell and no curl, so there is no HEALTHCHECK here (it
# could only run a program inside the image). Probe from outside instead:
#   liveness   GET /healthz  200 while the process runs
#   readiness  GET /readyz   200 when the store (MongoDB) answers, else 503
# (Kubernetes: docs/deploy/kubernetes/; Compose: Traefik health-checks /healthz.)

ARG RUST_VERSION=1.95
ARG SERVICE=movie_service
# Extra cargo features, e.g. portcullis-resource-guard/rustls for JWKS over HTTPS.
ARG FEATURES=""

FROM rust:${RUST_VERSION}-slim-trixie AS build
ARG SERVICE
ARG FEATURES
WORKDIR /src
COPY . .
# The registry and target caches make rebuilds incremental (BuildKit cache mounts);
# the binary is copied out of the cached target directory in the same step.
# The example's config/<service>.json (if it has one) goes with it: the services look for
# config/<service>.json in their working directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --example "${SERVICE}" --features "${FEATURES}" \
 && install -D -m 0555 "target/release/examples/${SERVICE}" /out/service \
 && mkdir -p /out/config \
 && if [ -f "config/${SERVICE}.json" ]; then install -m 0444 "config/${SERVICE}.json" /out/config/; fi

# distroless/cc: glibc and libgcc for the Rust binary, CA certificates for outgoing HTTPS
# (rustls-platform-verifier reads them), /etc/passwd with `nonroot` (65532). The `nonroot`
# tag is set here; pin a digest (`@sha256:...`) in your own registry for reproducible builds.
FROM gcr.io/distroless/cc-debian13:nonroot
ARG SERVICE
# The port this service listens on: 8808 user_service, 8809 movie_service (unused by
# recommendation_client, which only calls out).
ARG PORT=8809
WORKDIR /app
COPY --from=build /out/ /app/
# Listen on all interfaces of the container (the services' own default is loopback, which
# no other container could reach); `port` accepts `0.0.0.0:<port>`. A service bound to
# every interface must be told what others should call it, so `docker run` needs
# `-e PORTCULLIS_ADVERTISE_URL=http://<name>:<port>` (compose.yaml and the Kubernetes
# manifests set it); without it the service refuses to start and says so. Logs as JSON
# lines on the console, the container convention.
ENV PORTCULLIS_PORT="0.0.0.0:${PORT}" \
    PORTCULLIS_CONSOLE_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE ${PORT}
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532
# The services finish in-flight requests on SIGTERM (each bounded by requestTimeoutSecs).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/service"]
