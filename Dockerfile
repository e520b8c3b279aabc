# TraderAI server image: the release binary, the compiled site and the
# bundled data. Build: docker build -t traderai .
# Run:   docker run -e DATABASE_URL=postgres://user:pass@db:5432/traderai -p 3000:3000 traderai

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
 && cargo install cargo-leptos --locked --version 0.3.10 \
 && cargo install wasm-bindgen-cli --version 0.2.130
WORKDIR /src
COPY end2end/package.json end2end/package-lock.json end2end/
RUN cd end2end && npm ci --no-audit --no-fund
ENV PATH=/src/end2end/node_modules/.bin:$PATH
COPY . .
RUN cargo leptos build --release && cp "$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/traderai" /traderai

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app traderai
WORKDIR /app
COPY --from=build /traderai /usr/local/bin/traderai
COPY --from=build /src/target/site /app/site
COPY data /app/data
USER traderai
ENV LEPTOS_SITE_ROOT=/app/site LEPTOS_SITE_ADDR=0.0.0.0:3000 TRADERAI_SEED_DIR=/app/data RUST_LOG=info
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000"]
ENTRYPOINT ["traderai"]
CMD ["serve"]
