# syntax=docker/dockerfile:1
# One image recipe for every sidefx binary; docker-compose.yml picks a target per service:
#   docker build --target api .   |   --target worker   |   --target provider   |   --target driftq-local
#
# Dependency caching without cargo-chef: the `skeleton` stage keeps only the manifests and
# replaces every source file by a stub. Its output changes only when a manifest does, so the
# expensive "build all dependencies" layer below is reused across source edits.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS skeleton
WORKDIR /src
COPY . .
RUN find . -type f ! -name Cargo.toml ! -name Cargo.lock ! -name '*.rs' -delete \
 && find . -type f -name '*.rs' -exec sh -c 'for f; do echo "fn main() {}" > "$f"; done' sh {} + \
 && find . -type d -empty -delete

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never
COPY --from=skeleton /src .
RUN cargo build --release --locked --bins -p driftq-local -p sidefx-api -p sidefx-worker -p sidefx-provider
COPY . .
# COPY keeps the sources' old modification times; touch them so cargo rebuilds our crates
# instead of trusting the stub builds above.
RUN find crates -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bins -p driftq-local -p sidefx-api -p sidefx-worker -p sidefx-provider

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# An unprivileged user that owns /data; a new named volume mounted there inherits the ownership.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin sidefx \
 && mkdir -p /data/artifacts \
 && chown -R sidefx:sidefx /data
WORKDIR /data
USER sidefx
ENV SIDEFX_DB_PATH=/data/side_effects.sqlite \
    ARTIFACTS_DIR=/data/artifacts

FROM runtime AS driftq-local
COPY --from=build /src/target/release/driftq-local /usr/local/bin/driftq-local
EXPOSE 8080
ENTRYPOINT ["driftq-local", "--addr", "0.0.0.0:8080", "--wal", "/data/driftq.wal"]

FROM runtime AS worker
COPY --from=build /src/target/release/sidefx-worker /usr/local/bin/sidefx-worker
ENTRYPOINT ["sidefx-worker"]

# The payments provider simulator the worker charges in provider mode (WORKER_EFFECT=provider).
FROM runtime AS provider
COPY --from=build /src/target/release/sidefx-provider /usr/local/bin/sidefx-provider
ENV PROVIDER_ADDR=0.0.0.0:8090 \
    PROVIDER_DB_PATH=/data/provider.sqlite
EXPOSE 8090
ENTRYPOINT ["sidefx-provider"]

# Last, so a plain `docker build .` produces the API image.
FROM runtime AS api
COPY --from=build /src/target/release/sidefx-api /usr/local/bin/sidefx-api
# The API binds loopback unless told otherwise; in a container it must listen on all
# interfaces for the published port to reach it.
ENV API_ADDR=0.0.0.0:8000
EXPOSE 8000
ENTRYPOINT ["sidefx-api"]
