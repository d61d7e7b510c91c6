# The try-on proxy with the built widget, as a small non-root image (issue 7).
#
#   docker build -t tryon-proxy .
#   docker run -p 8080:8080 -v tryon-data:/data tryon-proxy
#
# Stage 1 builds the widget (wasm) and the proxy; stage 2 is distroless: glibc, CA
# certificates and nothing else (no shell, no package manager), running as uid 65532.
# proxy/tests/dockerfile.rs checks this file against the code it packages.

FROM rust:1-bookworm AS build
# `cargo xtask dist` shrinks the wasm with wasm-opt (npm package binaryen, a Node script) and
# minifies the JS and CSS with esbuild, both from node_modules; without them it would ship
# unoptimised files. Debian's Node (18) runs both.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# The toolchain rust-toolchain.toml names, with its wasm target and the std sources
# `cargo xtask dist` rebuilds std from (-Z build-std).
RUN rustup toolchain install stable --profile minimal --target wasm32-unknown-unknown \
    --component rust-src
WORKDIR /src
# The npm packages first, from the lockfile, so a change to the sources reuses this layer.
# (.dockerignore keeps the host's node_modules out, so `COPY . .` cannot replace them.)
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN cargo xtask dist \
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
# SIGTERM drains: no new creates, event streams told to reconnect, state flushed (with Redis,
# leases given back for another instance to take over), exit < 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tryon-proxy"]
