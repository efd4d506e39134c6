# gptgate in a container: built with the Rust toolchain, run as a non-root user on a small
# base with the C runtime and CA certificates only. Build: docker build -t gptgate .
# Run: see docs/deploy.md (it needs PUBLIC_URL and the production settings).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gptgate-http --bin gptgate \
    && strip target/release/gptgate \
    && mkdir /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/gptgate /usr/local/bin/gptgate
# SQLite (DATABASE_URL=sqlite:///data/gptgate.db) and the outbox go here: mount a volume, or use
# PostgreSQL. Owned by the image's user (65532), so a new volume is writable.
COPY --from=build --chown=65532:65532 /data /data
VOLUME /data
WORKDIR /data
ENV BIND=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
# A number, so runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gptgate"]
