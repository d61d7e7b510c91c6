# The try-on proxy with the built widget, as a small non-root image (issue 7).
#
#   docker build -t tryon-proxy .
#   docker run -p 8080:8080 -v tryon-data:/data tryon-proxy
#
# Stage 1 builds the widget (wasm) and the proxy; stage 2 is distroless: glibc, CA
# certificates and nothing else (no shell, no package manager), running as uid 65532.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-unknown-unknown \
 && cargo xtask dist \
 && cargo build --release -p tryon-proxy \
 && mkdir -p /out/data \
 && cp target/release/tryon-proxy /out/tryon-proxy \
 && cp -r target/dist /out/dist \
 && cp -r www /out/www

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/tryon-proxy /usr/local/bin/tryon-proxy
COPY --from=build /out/dist /app/dist
COPY --from=build /out/www /app/www
# The embedded store lives here; mount a volume so tasks survive a new container.
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV TRYON_LISTEN=0.0.0.0:8080 \
    TRYON_DATA_DIR=/data \
    TRYON_ASSETS_DIR=/app/dist \
    TRYON_WWW_DIR=/app/www
USER nonroot
EXPOSE 8080
VOLUME ["/data"]
# SIGTERM drains: no new creates, event streams told to reconnect, state flushed, exit < 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tryon-proxy"]
