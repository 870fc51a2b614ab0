# syntax=docker/dockerfile:1
#
# Sluice in a container: a static binary on distroless, as a non-root user,
# able to bind port 22.
#
#   docker build -t sluice --build-arg VERSION=$(git describe --always) .
#   docker run -d --name sluice -p 22:22 -p 127.0.0.1:8080:8080 -v sluice-data:/data sluice
#   docker exec sluice sluice token create --name ops
#
# Port 22 as a non-root user: the binary carries the file capability
# cap_net_bind_service, set in the build stage. BuildKit (the default builder
# since Docker 23) keeps it when COPY --from copies the binary; the legacy
# builder until moby/moby#42934 and kaniko do not, and COPY --link lost it in
# Docker 23.0 (moby/moby#45128), hence no --link below. A COPY from the build
# context drops it too (moby/buildkit#2250), hence setcap in the build stage.
# Docker 20.10 and later also lower net.ipv4.ip_unprivileged_port_start
# to 0 in a container's own network namespace, so port 22 binds either way
# there; other runtimes (CRI-O, host networking) rely on the capability. A
# container run with --cap-drop=ALL must add NET_BIND_SERVICE back
# (--cap-add=NET_BIND_SERVICE), or the kernel refuses to execute a binary
# whose file capability it cannot grant; or set SLUICE_SFTP_LISTEN=:2022.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-trixie AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/sluice ./cmd/sluice \
 && setcap cap_net_bind_service=+ep /out/sluice \
 && getcap /out/sluice | grep -q cap_net_bind_service \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
# The volume's mount point, owned by the runtime user, so that a fresh
# named volume starts out writable by it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SLUICE_DATA_DIR=/data \
    SLUICE_SFTP_LISTEN=:22 \
    SLUICE_ADMIN_LISTEN=:8080 \
    SLUICE_LOG_FORMAT=json
EXPOSE 22 8080
VOLUME /data
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/sluice", "health"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
