# The codeexec service image: the codeexec binary, ctr, and the sandbox images
# as OCI archives, for nodes that have containerd and nothing else (a
# Kubernetes DaemonSet, see deploy/kubernetes/ and docs/deploy.md).
#
# Build it with scripts/build-service-image.sh, which assembles the build
# context this file expects and runs buildah:
#
#   <context>/Dockerfile          this file
#   <context>/src/                the repository (without .git, bin/, bench
#                                 results), with vendor/ from `go mod vendor`,
#                                 so the Go build needs no network
#   <context>/images/<lang>.tar   the sandbox images, OCI archives made by
#                                 scripts/images.sh from sandbox/<lang>/
#
# The service image runs as root: it talks to the node's containerd socket
# and hands job directories to the sandbox user (docs/deploy.md says why
# and with which capabilities).

# --- the binary ---------------------------------------------------------------
FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY src/ ./
ARG VERSION=dev
# Static, so the runtime stage needs no libc of a particular version;
# -mod=vendor, so nothing is downloaded here.
RUN CGO_ENABLED=0 go build -mod=vendor -trimpath \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/codeexec ./cmd/codeexec \
    && /out/codeexec version \
    && CGO_ENABLED=0 go build -mod=vendor -trimpath -ldflags "-s -w" \
        -o /out/codeexec-shim ./cmd/codeexec-shim \
    && cc -O2 -static -Wall -Wextra -o /out/codeexec-lane sandbox/lane/lane.c

# --- ctr, for importing the sandbox images --------------------------------------
# Debian's containerd package is the only packaged source of ctr; only the ctr
# binary leaves this stage (it links nothing but libc, which the runtime
# stage's Debian has too).
FROM docker.io/library/debian:bookworm-slim AS ctr
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd \
    && cp /usr/bin/ctr /ctr \
    && /ctr --version

# --- the service image ------------------------------------------------------
FROM docker.io/library/debian:bookworm-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="codeexec" \
      org.opencontainers.image.description="Runs untrusted Python and C++ in containerd sandboxes behind an HTTP API" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=ctr /ctr /usr/local/bin/ctr
COPY --from=build /out/codeexec /usr/local/bin/codeexec
# The lane agent, next to the service, where it looks for it; the service
# copies it into its state directory, which containerd sees.
COPY --from=build /out/codeexec-lane /usr/local/bin/codeexec-lane
# The shim wrapper, likewise: containerd runs the state directory's copy.
COPY --from=build /out/codeexec-shim /usr/local/bin/codeexec-shim
COPY src/deploy/import-images.sh /usr/local/bin/codeexec-import-images
# One OCI archive per language; codeexec-import-images imports each as
# localhost/codeexec/<lang>:latest into the service's containerd namespace.
COPY images/ /opt/codeexec/images/

ENV CODEEXEC_NAMESPACE=codeexec \
    CODEEXEC_CONTAINERD_SOCKET=/run/containerd/containerd.sock \
    CODEEXEC_STATE_DIR=/var/lib/codeexec \
    CODEEXEC_IMAGES_DIR=/opt/codeexec/images

RUN chmod 0755 /usr/local/bin/codeexec-import-images \
    && ls /opt/codeexec/images/*.tar >/dev/null \
    && codeexec version

# Root, but not privileged: the deployment drops every capability except
# CHOWN and DAC_OVERRIDE (docs/deploy.md).
USER 0:0
EXPOSE 3000
# SIGTERM drains in-flight runs (--shutdown-timeout) before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/codeexec"]
CMD ["serve"]
