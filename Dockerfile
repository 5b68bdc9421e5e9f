# The controlhub-operator image: one statically linked binary on an empty base. Nothing is pulled at build
# time, there is no shell, and the process runs as an unprivileged user with a read-only root file system.
#
# Build the binary on the host first, statically linked, then the image:
#
#   rustup target add x86_64-unknown-linux-musl            # once, where the target is available
#   cargo build --release --locked --target x86_64-unknown-linux-musl --bin controlhub-operator
#   docker build -t controlhub-operator:0.1.0 .
#
# Any other static build works too; pass its path, for example a static glibc build:
#
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu --bin controlhub-operator
#   docker build --build-arg BINARY=target/x86_64-unknown-linux-gnu/release/controlhub-operator -t controlhub-operator:0.1.0 .
#
# Without Docker, `make image` builds the static glibc binary and writes the same image (same user, entrypoint,
# cmd and ports, plus version/source/revision labels) as an OCI archive, target/image/controlhub-operator.oci.tar,
# with scripts/image.py; push it with `skopeo copy oci-archive:<archive> docker://REGISTRY/controlhub-operator:TAG`.
#
# Check that it is static before building the image: `file <binary>` must say "statically linked" or
# "static-pie linked" (a dynamically linked binary fails to start on scratch with "no such file or directory").
# A static glibc build resolves names from the pod's /etc/hosts and /etc/resolv.conf without any other
# file in the image (checked with glibc's built-in files and dns lookups in an empty root).
#
# No CA certificates or time-zone files are needed in the image: the HTTP client carries its own root
# certificates (webpki roots; private CAs go in a connection's caBundle), the Kubernetes client uses the
# service account's CA, and time zones are compiled in.
FROM scratch

ARG BINARY=target/x86_64-unknown-linux-musl/release/controlhub-operator

LABEL org.opencontainers.image.title="controlhub-operator" \
      org.opencontainers.image.description="Kubernetes operator for StreamSets Control Hub API credentials" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# The binary keeps the executable mode cargo gave it; it is owned by root so the runtime user cannot change it.
COPY ${BINARY} /controlhub-operator

# 65532 is the conventional "nonroot" user; numeric so Kubernetes can verify runAsNonRoot without /etc/passwd.
USER 65532:65532

# Metrics and health ports (see `controlhub-operator run --help`).
EXPOSE 8080 8081

ENTRYPOINT ["/controlhub-operator"]
CMD ["run"]
