//! Prometheus metrics: counters and histograms recorded where things happen
//! (`metrics` macros), gauges read from the database at scrape time, the
//! text format rendered by `metrics-exporter-prometheus`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Seconds buckets for request, job, scan and send durations.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1800.0, 7200.0,
];

/// The process-wide recorder, installed on first use (`None` when another
/// recorder was installed first, e.g. by an embedding program).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// A route label with bounded cardinality: ids become `{id}`, pages and
/// static files are grouped, anything unmatched is `unmatched`.
pub fn route_label(path: &str, status: u16) -> String {
    if status == 404 {
        return "unmatched".into();
    }
    if path.starts_with("/pkg/") || path.ends_with(".svg") || path == "/robots.txt" {
        return "static".into();
    }
    if !(path.starts_with("/api/")
        || path.starts_with("/health")
        || path == "/metrics"
        || path == "/ws")
    {
        // Leptos pages: the first segment names the page.
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        return format!("page:/{first}");
    }
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Records one answered HTTP request.
pub fn http_request(method: &str, path: &str, status: u16, seconds: f64) {
    let route = route_label(path, status);
    metrics::counter!("traderai_http_requests_total", "method" => method.to_owned(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("traderai_http_request_duration_seconds", "method" => method.to_owned(), "route" => route).record(seconds);
}

/// Sets the gauges that are read from the store, then renders everything.
pub async fn render(pool: &PgPool, ws_clients: u64) -> String {
    if let Err(e) = gauges(pool, ws_clients).await {
        tracing::warn!(error = %e, "metrics: database gauges not read");
        metrics::gauge!("traderai_metrics_database_up").set(0.0);
    } else {
        metrics::gauge!("traderai_metrics_database_up").set(1.0);
    }
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

async fn gauges(pool: &PgPool, ws_clients: u64) -> Result<(), sqlx::Error> {
    metrics::gauge!("traderai_websocket_clients").set(ws_clients as f64);
    metrics::gauge!("traderai_db_pool_connections").set(f64::from(pool.size()));
    metrics::gauge!("traderai_db_pool_idle_connections").set(pool.num_idle() as f64);
    let jobs: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status")
            .fetch_all(pool)
            .await?;
    for (kind, status, n) in jobs {
        metrics::gauge!("traderai_jobs", "kind" => kind, "state" => status).set(n as f64);
    }
    // Follower lag: how far the newest stored bar's close is behind the
    // follower's clock, per followed series.
    let follow: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT s.symbol || ' ' || s.timeframe, f.role, f.state,
                GREATEST(0, f.clock_now - COALESCE(s.last_open + s.tf_ms, f.clock_now))
         FROM follow_state f JOIN series s ON s.id = f.series_id",
    )
    .fetch_all(pool)
    .await?;
    let mut by_state = std::collections::HashMap::<String, f64>::new();
    for (series, role, state, lag_ms) in follow {
        metrics::gauge!("traderai_follower_lag_seconds", "series" => series, "role" => role)
            .set(lag_ms as f64 / 1000.0);
        *by_state.entry(state).or_default() += 1.0;
    }
    for state in ["live", "catching_up", "stale"] {
        metrics::gauge!("traderai_followed_series", "state" => state)
            .set(by_state.get(state).copied().unwrap_or(0.0));
    }
    let deliveries: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM notify_deliveries GROUP BY status")
            .fetch_all(pool)
            .await?;
    for (status, n) in deliveries {
        metrics::gauge!("traderai_notification_deliveries", "status" => status).set(n as f64);
    }
    let equity: Vec<(i64, String, f64)> = sqlx::query_as(
        "SELECT DISTINCT ON (e.account_id) e.account_id, a.name, e.equity
         FROM paper_equity e JOIN paper_accounts a ON a.id = e.account_id
         ORDER BY e.account_id, e.time DESC",
    )
    .fetch_all(pool)
    .await?;
    for (id, name, eq) in equity {
        metrics::gauge!("traderai_paper_equity", "account" => id.to_string(), "name" => name)
            .set(eq);
    }
    process_gauges();
    Ok(())
}

/// CPU seconds and resident memory of this process (Linux /proc).
fn process_gauges() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
    {
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // CLK_TCK is 100 on every Linux this runs on.
        metrics::gauge!("process_cpu_seconds_total").set((ticks(11) + ticks(12)) / 100.0);
        if let Some(rss_pages) = f.get(21).and_then(|v| v.parse::<f64>().ok()) {
            metrics::gauge!("process_resident_memory_bytes").set(rss_pages * 4096.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_keep_cardinality_bounded() {
        assert_eq!(route_label("/api/v1/jobs/42", 200), "/api/v1/jobs/{id}");
        assert_eq!(
            route_label("/api/v1/paper/accounts/7/venue", 200),
            "/api/v1/paper/accounts/{id}/venue"
        );
        assert_eq!(route_label("/api/v1/nonsense/1", 404), "unmatched");
        assert_eq!(route_label("/pkg/traderai.wasm", 200), "static");
        assert_eq!(route_label("/paper", 200), "page:/paper");
        assert_eq!(route_label("/admin/system", 200), "page:/admin");
        assert_eq!(route_label("/metrics", 200), "/metrics");
    }
}
