import { defineConfig } from "@playwright/test";

// Debian's Chromium: Playwright's own browser download cannot run here.
export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  retries: 0,
  // The JSON report is what scripts/e2e.sh checks (cargo-leptos' exit code is not enough).
  reporter: [["list"], ["json", { outputFile: "playwright-report/results.json" }]],
  outputDir: "test-results",
  // Tests share one server and database; run them one after another.
  workers: 1,
  // The local Binance stand-in the backfill tests fetch from (real BTC candles,
  // 300 ms per request so progress is visible).
  webServer: {
    command: `${process.env.TRADERAI_BIN ?? "../target/debug/traderai"} mock-exchange --addr 127.0.0.1:3100 --latency-ms 300 --serve ../data/btc-usd-15m-yahoo.csv=BTC/USDT@15m`,
    url: "http://127.0.0.1:3100/api/v3/ping",
    reuseExistingServer: false,
    timeout: 30_000,
  },
  use: {
    baseURL: process.env.BASE_URL ?? "http://127.0.0.1:3000",
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
