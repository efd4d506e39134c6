# gptgate in a container: built with the Rust toolchain, run as a non-root user on a small
# base with the C runtime and CA certificates only. Build: docker build -t gptgate .
# Run: see docs/deploy.md (it needs PUBLIC_URL and the production settings).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gptgate-http --bin gptgate \
    && strip target/release/gptgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/gptgate /usr/local/bin/gptgate
# SQLite, the outbox and nothing else are written here; mount a volume, or use PostgreSQL.
WORKDIR /home/nonroot
ENV BIND=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/gptgate"]
