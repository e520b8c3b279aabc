//! Endpoints and published limits of each venue market (defaults that
//! settings files override).

use serde::Deserialize;

/// Limits and endpoints of one venue market.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    pub base_url: String,
    /// Kline stream endpoint (`wss://…`); unset: `base_url` with a ws scheme
    /// (what the mock exchange and a local proxy serve).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Request weight allowed per minute per IP; 0 = no limit (mock benchmarks).
    pub weight_limit_per_min: u32,
    /// Request weight of one klines call by page size: `[max_limit, weight]`
    /// tiers, ascending. The backfill picks the page size with the most
    /// candles per unit of weight.
    pub kline_weight_tiers: Vec<(u32, u32)>,
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub request_timeout_ms: u64,
}

impl VenueConfig {
    /// Binance spot `/api/v3/klines`: weight 2 for any limit up to 1000; 6000 weight/min.
    pub fn binance_spot() -> Self {
        VenueConfig {
            base_url: "https://api.binance.com".into(),
            ws_url: Some("wss://stream.binance.com:9443".into()),
            weight_limit_per_min: 6000,
            kline_weight_tiers: vec![(1000, 2)],
            max_retries: 8,
            backoff_base_ms: 250,
            backoff_max_ms: 30_000,
            request_timeout_ms: 10_000,
        }
    }

    /// Binance USDⓈ-M `/fapi/v1/klines`: weight 1 below 100, 2 below 500,
    /// 5 up to 1000, 10 up to 1500; 2400 weight/min.
    pub fn binance_futures() -> Self {
        VenueConfig {
            base_url: "https://fapi.binance.com".into(),
            ws_url: Some("wss://fstream.binance.com".into()),
            weight_limit_per_min: 2400,
            kline_weight_tiers: vec![(99, 1), (499, 2), (1000, 5), (1500, 10)],
            ..Self::binance_spot()
        }
    }

    /// Where the kline streams of this venue market are served.
    pub fn stream_base(&self) -> String {
        match &self.ws_url {
            Some(u) => u.clone(),
            None => self
                .base_url
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1),
        }
    }

    /// `(limit, weight)` with the most candles per unit of weight; ties go
    /// to the larger page (fewer round trips).
    pub fn best_page(&self) -> (u32, u32) {
        self.kline_weight_tiers
            .iter()
            .copied()
            .filter(|(l, w)| *l > 0 && *w > 0)
            .max_by(|a, b| {
                (u64::from(a.0) * u64::from(b.1))
                    .cmp(&(u64::from(b.0) * u64::from(a.1)))
                    .then(a.0.cmp(&b.0))
            })
            .unwrap_or((500, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_maximises_candles_per_weight() {
        assert_eq!(VenueConfig::binance_spot().best_page(), (1000, 2));
        // 499/2 = 249.5 candles per weight beats 1000/5 = 200 and 1500/10 = 150.
        assert_eq!(VenueConfig::binance_futures().best_page(), (499, 2));
    }

    #[test]
    fn streams_default_to_the_rest_host_with_a_ws_scheme() {
        let mut c = VenueConfig::binance_futures();
        assert_eq!(c.stream_base(), "wss://fstream.binance.com");
        c.ws_url = None;
        c.base_url = "http://127.0.0.1:4000".into();
        assert_eq!(c.stream_base(), "ws://127.0.0.1:4000");
    }
}
