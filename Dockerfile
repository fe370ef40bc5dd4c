# syntax=docker/dockerfile:1
# Axon in a container: a release build in a Rust image, then only the binary (and the shipped
# mediation/ folder) in a small Debian runtime, run as an unprivileged user.
#
#   docker build -t axon .
#   docker run --rm -p 8290:8290 axon                                # the shipped mediation/
#   docker run --rm -p 8290:8290 -v "$PWD/mediation:/etc/axon/mediation:ro" axon   # your own
#
# The management API (9164) binds loopback unless given a token: see docs/operations.md.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The toolchain is the image's (the same version as rust-toolchain.toml, which is left out so
# that rustup downloads nothing more). build.rs compiles the test protos with a vendored protoc,
# and the manifest names the benches and tests: they come along, though only the binary is built.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY benches benches
COPY tests tests
RUN cargo build --release --locked --bin axon \
    && cp target/release/axon /axon

FROM debian:bookworm-slim AS runtime
# CA roots for HTTPS backends; nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin axon
COPY --from=build /axon /usr/local/bin/axon
# Baked in as the default; mount a folder (or a Kubernetes ConfigMap) over it to replace it.
COPY mediation /etc/axon/mediation
USER 10001:10001
WORKDIR /etc/axon
EXPOSE 8290 8295 9164
ENV AXON_LOG=info
# Kubernetes sends SIGTERM: readiness turns 503 at once, then the drain (docs/operations.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/axon"]
CMD ["serve", "--mediation", "/etc/axon/mediation"]
