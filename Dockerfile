# parley in a container: a static binary on a distroless base (no shell,
# no libc), run as a non-root user, its data in the /data volume.
#
#   docker build -t parley --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(git log -1 --format=%cI) .
#   docker run -d --name parley --network host -v parley-data:/data parley
#
# --network host is the simplest: WebRTC tells browsers the addresses the
# server sees, and with host networking those are the host's. Without it,
# publish every port below and set media.public_ip in your own config
# (mounted at /etc/parley/parley.toml; see packaging/docker.toml):
#
#   docker run -d -p 8080:8080 -p 7882:7882/udp -p 7881:7881 \
#     -p 3478:3478/udp -p 3478:3478 -p 50000-50199:50000-50199/udp \
#     -v parley-data:/data -v /srv/parley/parley.toml:/etc/parley/parley.toml:ro parley
#
# The build command is make release's (RELEASE_BUILD in the Makefile);
# packaging/packaging_test.go checks that they agree.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${DATE}" -o /out/parley ./cmd/parley
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/parley /usr/local/bin/parley
COPY packaging/docker.toml /etc/parley/parley.toml
# The volume's folder belongs to the image's user (nonroot, 65532), so
# that a new named volume starts writable by it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
# HTTP; media UDP and its TCP fallback; TURN (UDP and TCP) and its relays.
EXPOSE 8080/tcp 7882/udp 7881/tcp 3478/udp 3478/tcp 50000-50199/udp
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["-config", "/etc/parley/parley.toml"]
