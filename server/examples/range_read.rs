//! Range-read latency: one year of 15m bars (35,040) of one series, read
//! through the same `db::candles::read_range` the app uses, from whatever
//! the candles table holds (scripts/bench.sh fills it with 50 M rows).
//!
//! cargo run --release -p server --example range_read -- DATABASE_URL [READS]

use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: range_read DATABASE_URL [READS]"))?;
    let reads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let pool = server::db::connect(&url, 2).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM candles")
        .fetch_one(&pool)
        .await?;
    let series: Vec<(i32, i64, i64)> =
        sqlx::query_as("SELECT id, first_open, last_open FROM series WHERE bars > 40000")
            .fetch_all(&pool)
            .await?;
    anyhow::ensure!(
        !series.is_empty(),
        "no series with more than a year of 15m bars"
    );
    const YEAR: i64 = 35_040 * 900_000;
    let mut lat = Vec::with_capacity(reads);
    let mut rows = 0;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..reads + 10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (id, first, last) = series[(seed % series.len() as u64) as usize];
        let span = (last - first - YEAR).max(1) / 900_000;
        let from = first + (seed >> 8) as i64 % span * 900_000;
        let t = Instant::now();
        let got = server::db::candles::read_range(&pool, id, from, from + YEAR).await?;
        let dt = t.elapsed().as_secs_f64() * 1e3;
        if i >= 10 {
            // The first ten warm the connection and the plan cache.
            lat.push(dt);
            rows += got.len();
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{{\"table_rows\": {total}, \"reads\": {reads}, \"rows_per_read\": {}, \"p50_ms\": {:.2}, \"p90_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}}}",
        rows / reads,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        lat[lat.len() - 1]
    );
    Ok(())
}
