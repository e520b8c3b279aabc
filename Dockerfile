# TraderAI server image: the release binary, the compiled site and the
# bundled data. Build: docker build -t traderai .
# Run:   docker run -e DATABASE_URL=postgres://user:pass@db:5432/traderai -p 3000:3000 traderai

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm python3-venv libclang-dev && rm -rf /var/lib/apt/lists/*
# libtorch (PyTorch 2.9.0 from PyPI) for the default `tch` feature, and the
# CMake >= 3.28 LightGBM's build wants; the binary's rpath points here.
ENV TRADERAI_VENV=/opt/torch LIBTORCH_USE_PYTORCH=1 VIRTUAL_ENV=/opt/torch PATH=/opt/torch/bin:$PATH
RUN python3 -m venv /opt/torch && /opt/torch/bin/pip install --no-cache-dir torch==2.9.0 "cmake>=3.28,<4"
RUN rustup target add wasm32-unknown-unknown
WORKDIR /src
COPY end2end/package.json end2end/package-lock.json end2end/
RUN cd end2end && npm ci --no-audit --no-fund
ENV PATH=/src/end2end/node_modules/.bin:$PATH
COPY . .
# The commit reports and models record (.git is not in the build context):
# TRADERAI_GIT_SHA=$(git rev-parse --short=12 HEAD) docker compose build
ARG TRADERAI_GIT_SHA=unknown
# The server, then the browser bundle (xtask: wasm-bindgen as a library, wasm-opt from npm).
RUN cargo build --release -p server --bin traderai && cp target/release/traderai /traderai \
 && cargo run -q -p xtask -- site --release --site-root /src/target/site --target-dir /src/target/front

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libgomp1 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app traderai
# libtorch at the path baked into the binary, with the CUDA libraries its
# CUDA build loads (site-packages/nvidia); no Python is needed at run time.
COPY --from=build /opt/torch/lib/python3.11/site-packages /opt/torch/lib/python3.11/site-packages
WORKDIR /app
COPY --from=build /traderai /usr/local/bin/traderai
COPY --from=build /src/target/site /app/site
COPY data /app/data
RUN mkdir -p /app/var/models /app/var/logs /app/var/backups && chown -R traderai /app/var
USER traderai
ENV LEPTOS_SITE_ROOT=/app/site LEPTOS_SITE_ADDR=0.0.0.0:3000 TRADERAI_SEED_DIR=/app/data RUST_LOG=info \
    TRADERAI_MODEL_DIR=/app/var/models
# Trained models (the registry points at them): mount a volume here.
VOLUME /app/var
# Pass ADMIN_USER / ADMIN_PASS at `docker run -e` for the first admin (else a
# password is generated and printed once); behind HTTPS mount a config with
# [web] secure_cookies = true.
EXPOSE 3000
# The binary asks its own /health/ready (no shell, no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["traderai", "health", "--url", "http://127.0.0.1:3000/health/ready"]
ENTRYPOINT ["traderai"]
CMD ["serve"]
