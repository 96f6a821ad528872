# The build-service: one static binary (SQLite is pure Go) on
# distroless/static, which brings CA certificates and nothing else.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/riptides/build-service --push .
#   docker run -p 8080:8080 -v ./config.yml:/etc/driverbuild/config.yml \
#     -e DATABASE_URL=postgres://... ghcr.io/riptides/build-service
#
# Without DATABASE_URL the embedded store lives in /home/nonroot/data (the
# default data_dir, ./data, under the nonroot user's home): mount a volume
# there to keep it.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" \
      -o /out/build-service ./cmd/build-service

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/build-service /usr/local/bin/build-service
WORKDIR /home/nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/build-service", "-config", "/etc/driverbuild/config.yml", "-log-format", "json"]
