# The avupload CLI as a container image: a static binary (CGO_ENABLED=0) on
# distroless static, which has no shell and no package manager, run as the
# non-root user 65532.
#
#   docker build -t registry.example.com/avupload:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT="$(git rev-parse HEAD)" .
#   docker run --rm registry.example.com/avupload:0.1.0 --version
#
# VERSION and COMMIT are stamped as `make release` stamps its binaries;
# without them, --version says the library's version alone.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.releaseVersion=${VERSION} -X main.releaseCommit=${COMMIT}" \
      -o /out/avupload ./cmd/avupload

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/avupload /avupload
USER 65532:65532
ENTRYPOINT ["/avupload"]
