# Build: make docker-build (needs a Docker engine; none runs on the dev machines).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /gamehall ./cmd/gamehall

FROM gcr.io/distroless/static:nonroot
COPY --from=build /gamehall /gamehall
USER 65532:65532
ENTRYPOINT ["/gamehall"]
