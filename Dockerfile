# syntax=docker/dockerfile:1
#
# ordersvc container images. Two targets share one build stage:
#
#   docker build -t ordersvc .                        # the service (default, last stage)
#   docker build --target loadgen -t ordersvc-loadgen .
#
# Both binaries are static (CGO_ENABLED=0: the SQLite store is pure Go), so
# the runtime images are distroless: no shell, no package manager, non-root.
# deploy/dockerfile_test.go checks this file statically.

# Keep in step with the go directive of go.mod.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Shown by app_build_info and as the Sentry release; empty means "read the Go
# build information" (the .git directory is not in the build context).
ARG VERSION=""
ARG REVISION=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/server ./cmd/server && \
    go build -ldflags="-s -w" -o /out/loadgen ./cmd/loadgen && \
    mkdir -p /out/data

# Traffic generator for demos and load runs (docker compose --profile loadgen).
FROM gcr.io/distroless/static-debian12:nonroot AS loadgen
COPY --from=build /out/loadgen /loadgen
USER 65532:65532
ENTRYPOINT ["/loadgen"]

# The service. Last stage, so a plain `docker build .` produces it.
FROM gcr.io/distroless/static-debian12:nonroot AS server
COPY --from=build /out/server /server
# The database lives on a volume owned by the non-root user (uid 65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV HTTP_ADDR=:8080 \
    DATABASE_URL=sqlite:///data/ordersvc.db \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/server"]
