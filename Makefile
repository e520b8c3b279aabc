# The two commands of README.md, and a few for developers.
.PHONY: run test lint bench

run:  ## install what is missing, start PostgreSQL, import bundled data, serve on :3000
	./scripts/run.sh

test: ## every test: unit, integration (PostgreSQL), end-to-end (Chromium)
	./scripts/test.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

bench:
	./scripts/bench.sh
