//! The stock providers against the local mock that speaks each one's
//! protocol, with the real NVDA daily bars of `data/`: each adapter reads
//! its provider's payload and stamps into the same bars; Alpaca pages by
//! token; the chain hands over when the first provider is down and the
//! second rate-limits, and names every provider when none has the ticker.

use engine::{Candle, Symbol, TimeMs, Timeframe};
use venues::stocks::mock::{MockStocks, ProviderFaults};
use venues::stocks::{Alpaca, Chain, Finnhub, Provider, ProviderConfig, Yahoo};
use venues::{Adjustment, Exchange, ExchangeError};

const DAY: i64 = 86_400_000;

/// NVDA's real daily bars of 2024 (keyed 00:00 UTC).
fn nvda_2024() -> Vec<Candle> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/nvda-1d-yahoo.csv"
    ))
    .unwrap();
    // Date, Adj Close, Close, High, Low, Open, Volume
    text.lines()
        .skip(1)
        .filter(|l| l.starts_with("2024-"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let t = chrono::NaiveDate::parse_from_str(f[0], "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            Candle {
                open_time: t,
                open: n(5),
                high: n(3),
                low: n(4),
                close: n(2),
                volume: n(6),
            }
        })
        .collect()
}

fn ms(date: &str) -> TimeMs {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn cfg(base: &str, key: Option<&str>, secret: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        base_url: base.into(),
        key: key.map(str::to_owned),
        secret: secret.map(str::to_owned),
        requests_per_min: 0,
        max_retries: 1,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
        request_timeout_ms: 5_000,
        max_wait_ms: 2_000,
        feed: Some("iex".into()),
    }
}

struct Setup {
    mock: MockStocks,
    alpaca: Alpaca,
    finnhub: Finnhub,
    yahoo: Yahoo,
    bars: Vec<Candle>,
}

async fn setup() -> Setup {
    let mock = MockStocks::new("AKTEST", "alpaca-secret", "finnhub-token");
    let bars = nvda_2024();
    // Adjusted = raw × 0.98 (a dividend history), as the providers would show it.
    mock.list("NVDA", bars.clone(), 1.0 / 0.98);
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");
    let a = cfg(&base, Some("AKTEST"), Some("alpaca-secret"));
    let f = cfg(&base, Some("finnhub-token"), None);
    let y = cfg(&base, None, None);
    Setup {
        alpaca: Alpaca::new(&a, a.budget()).unwrap().unwrap(),
        finnhub: Finnhub::new(&f, f.budget()).unwrap().unwrap(),
        yahoo: Yahoo::new(&y, y.budget()).unwrap(),
        mock,
        bars,
    }
}

fn nvda() -> Symbol {
    Symbol::parse("NVDA/USD").unwrap()
}

fn close_enough(a: &[Candle], b: &[Candle]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.open_time, y.open_time);
        for (p, q) in [
            (x.open, y.open),
            (x.high, y.high),
            (x.low, y.low),
            (x.close, y.close),
        ] {
            assert!((p - q).abs() < 1e-9 * q.abs().max(1.0), "{x:?} vs {y:?}");
        }
        assert_eq!(x.volume, y.volume);
    }
}

#[tokio::test]
async fn each_provider_reads_its_own_protocol_into_the_same_bars() {
    let s = setup().await;
    let (from, to) = (ms("2024-03-01"), ms("2024-07-01"));
    let want: Vec<Candle> = s
        .bars
        .iter()
        .filter(|c| c.open_time >= from && c.open_time < to)
        .copied()
        .collect();
    assert!(want.len() > 80, "{} bars", want.len());

    let a = s
        .alpaca
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    close_enough(&a.candles, &want);
    assert_eq!(
        (a.adjustment, a.next, a.provider.as_str()),
        (Adjustment::All, None, "alpaca")
    );
    assert_eq!(a.raw_close.len(), want.len());
    assert!(
        (a.raw_close[0] - want[0].close / 0.98).abs() < 1e-9,
        "raw close from adjustment=raw"
    );

    let y = s
        .yahoo
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    close_enough(&y.candles, &want);
    assert_eq!(y.adjustment, Adjustment::All);
    assert!(
        (y.raw_close[5] - want[5].close / 0.98).abs() < 1e-9,
        "Yahoo's close, unscaled"
    );

    let f = s
        .finnhub
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    close_enough(&f.candles, &want);
    assert_eq!((f.adjustment, f.raw_close.len()), (Adjustment::Split, 0));

    // Alpaca pages of 15 bars: one fetch follows five page tokens, then says where to go on.
    s.mock.set_alpaca_page(15);
    let before = s.mock.requests("alpaca");
    let p = s
        .alpaca
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    assert_eq!(p.candles.len(), 75);
    assert_eq!(p.candles[..], want[..75]);
    assert_eq!(p.next, Some(want[74].open_time + DAY));
    // Five pages of adjusted bars and five of raw ones.
    assert_eq!(s.mock.requests("alpaca") - before, 10);
    let rest = s
        .alpaca
        .fetch_klines(&nvda(), Timeframe::D1, p.next.unwrap(), to)
        .await
        .unwrap();
    assert_eq!(rest.candles[..], want[75..]);
    assert_eq!(rest.next, None);

    // What each provider cannot do is said, not guessed.
    let h4 = Timeframe::parse("4h").unwrap();
    for e in [
        s.alpaca
            .fetch_klines(&nvda(), h4, from, to)
            .await
            .unwrap_err(),
        s.yahoo
            .fetch_klines(&nvda(), Timeframe::H1, from, to)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(e, ExchangeError::UnsupportedTimeframe { .. }),
            "{e}"
        );
    }
    let btc = Symbol::parse("BTC/USDT").unwrap();
    let e = s
        .yahoo
        .fetch_klines(&btc, Timeframe::D1, from, to)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TICKER/USD"), "{e}");
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_name() {
    let s = setup().await;
    let base = format!(
        "http://{}",
        s.mock
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .0
    );
    let bad = cfg(&base, Some("AKTEST"), Some("wrong"));
    let a = Alpaca::new(&bad, bad.budget()).unwrap().unwrap();
    let e = a
        .fetch_klines(&nvda(), Timeframe::D1, ms("2024-03-01"), ms("2024-04-01"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected { status: 401, venue, .. } if venue == "alpaca"),
        "{e}"
    );
    assert!(!format!("{a:?}").contains("wrong"), "no secret in Debug");
    let bad = cfg(&base, Some("nope"), None);
    let f = Finnhub::new(&bad, bad.budget()).unwrap().unwrap();
    let e = f
        .fetch_klines(&nvda(), Timeframe::D1, ms("2024-03-01"), ms("2024-04-01"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Invalid API key"), "{e}");
}

#[tokio::test]
async fn the_chain_hands_over_past_an_outage_and_a_rate_limit() {
    let s = setup().await;
    s.mock.set_faults(
        "alpaca",
        ProviderFaults {
            outage: Some(503),
            ..Default::default()
        },
    );
    s.mock.set_faults(
        "finnhub",
        ProviderFaults {
            rate_limited_s: Some(30),
            ..Default::default()
        },
    );
    let chain = Chain::new(
        "stocks",
        vec![
            Provider::Alpaca(s.alpaca.clone()),
            Provider::Finnhub(s.finnhub.clone()),
            Provider::Yahoo(s.yahoo.clone()),
        ],
    );
    let (from, to) = (ms("2024-01-01"), ms("2025-01-01"));
    let page = chain
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    assert_eq!(page.provider, "yahoo");
    close_enough(&page.candles, &s.bars);
    assert_eq!(page.candles.len(), 252, "every 2024 NYSE session");
    let h = chain.handovers();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].provider, "alpaca");
    assert!(h[0].why.contains("503"), "{h:?}");
    assert_eq!(h[1].provider, "finnhub");
    assert!(h[1].why.contains("rate-limiting"), "{h:?}");
    // Alpaca was retried once (max_retries 1); Finnhub's 30 s wait was not waited out.
    assert_eq!(s.mock.requests("alpaca"), 2);
    assert_eq!(s.mock.requests("finnhub"), 1);
    // While Finnhub's pause lasts it is skipped without a request.
    chain
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    assert_eq!(s.mock.requests("finnhub"), 1);

    // Alpaca back: it answers first again.
    s.mock.set_faults("alpaca", ProviderFaults::default());
    let page = chain
        .fetch_klines(&nvda(), Timeframe::D1, from, to)
        .await
        .unwrap();
    assert_eq!(page.provider, "alpaca");
}

#[tokio::test]
async fn a_ticker_nobody_has_is_named_with_every_answer() {
    let s = setup().await;
    let chain = Chain::new(
        "stocks",
        vec![
            Provider::Alpaca(s.alpaca.clone()),
            Provider::Finnhub(s.finnhub.clone()),
            Provider::Yahoo(s.yahoo.clone()),
        ],
    );
    let gone = Symbol::parse("ZZZQ/USD").unwrap();
    let (from, to) = (ms("2024-01-01"), ms("2024-02-01"));
    // Alpaca answers `bars: null`, Finnhub `no_data`, Yahoo 404 "may be delisted".
    let e = chain
        .fetch_klines(&gone, Timeframe::D1, from, to)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ExchangeError::NoData { .. }), "{msg}");
    assert!(
        msg.contains("ZZZQ/USD")
            && msg.contains("alpaca: no bars")
            && msg.contains("finnhub: no bars")
            && msg.contains("may be delisted"),
        "{msg}"
    );
    let h = chain.handovers();
    assert_eq!(
        h.iter().map(|h| h.provider).collect::<Vec<_>>(),
        vec!["alpaca", "finnhub", "yahoo"]
    );

    // A chain of Yahoo alone: the 404 is the error, naming the ticker.
    let y = Chain::new("stocks", vec![Provider::Yahoo(s.yahoo.clone())]);
    let e = y
        .fetch_klines(&gone, Timeframe::D1, from, to)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ExchangeError::NoData { .. }) && e.to_string().contains("ZZZQ/USD"),
        "{e}"
    );
    // A range with no session (a weekend) is no reason to hand over.
    let sat = ms("2024-01-06");
    let p = chain
        .fetch_klines(&nvda(), Timeframe::D1, sat, sat + 2 * DAY)
        .await
        .unwrap();
    assert!(p.candles.is_empty());
    assert_eq!(p.provider, "alpaca");
    assert_eq!(chain.handovers().len(), 3, "no new handover");
}

/// Latest prices along the chain, from the cache within the TTL, a universe
/// collected with at most `concurrency` requests in flight, and a ticker
/// nobody has named in its own row while the rest are priced.
#[tokio::test]
async fn prices_are_cached_and_a_universe_is_collected_in_parallel() {
    use std::time::Duration;
    use venues::stocks::quote::QuoteCache;
    let s = setup().await;
    // Forty made-up tickers (letters only, as Alpaca wants), each with NVDA's bars.
    let tickers: Vec<String> = (0..40u8)
        .map(|i| format!("T{}{}", (b'A' + i / 26) as char, (b'A' + i % 26) as char))
        .collect();
    for t in &tickers {
        s.mock.list(t, s.bars.clone(), 1.0);
    }
    s.mock.set_latency(Duration::from_millis(30));
    let chain = Chain::new(
        "stocks",
        vec![
            Provider::Alpaca(s.alpaca.clone()),
            Provider::Finnhub(s.finnhub.clone()),
            Provider::Yahoo(s.yahoo.clone()),
        ],
    );
    let cache = QuoteCache::new(chain, Duration::from_millis(400), 8);
    let mut symbols: Vec<Symbol> = tickers
        .iter()
        .map(|t| Symbol::parse(&format!("{t}/USD")).unwrap())
        .collect();
    symbols.push(Symbol::parse("ZZZQ/USD").unwrap());
    let (first, _) = cache.prices(&symbols).await;
    assert_eq!(first.len(), 41);
    let last_close = s.bars.last().unwrap().close;
    for p in &first[..40] {
        let q = p.quote.as_ref().unwrap_or_else(|| panic!("{p:?}"));
        assert_eq!(
            (q.price, q.provider.as_str(), p.cached),
            (last_close, "alpaca", false)
        );
    }
    let gone = &first[40];
    assert!(gone.quote.is_none());
    let why = gone.error.as_deref().unwrap();
    assert!(
        why.contains("ZZZQ/USD") && why.contains("alpaca") && why.contains("yahoo"),
        "{why}"
    );
    let peak = s.mock.peak_in_flight();
    assert!(
        (2..=8).contains(&peak),
        "bounded parallel collection: {peak} at once"
    );

    // Within the TTL: no request at all for the priced ones.
    let before = s.mock.requests("alpaca");
    let (again, _) = cache.prices(&symbols[..40]).await;
    assert!(again.iter().all(|p| p.cached));
    assert_eq!(s.mock.requests("alpaca"), before);
    // After it: asked again.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (fresh, _) = cache.prices(&symbols[..1]).await;
    assert!(!fresh[0].cached);
    assert_eq!(s.mock.requests("alpaca"), before + 1);

    // Alpaca down: Finnhub prices it; Finnhub's zeros for an unknown symbol hand over to Yahoo.
    s.mock.set_faults(
        "alpaca",
        ProviderFaults {
            outage: Some(502),
            ..Default::default()
        },
    );
    let q = Provider::Finnhub(s.finnhub.clone())
        .latest(&nvda())
        .await
        .unwrap();
    assert_eq!(q.price, last_close / 0.98);
    let e = Provider::Finnhub(s.finnhub.clone())
        .latest(&Symbol::parse("ZZZQ/USD").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, ExchangeError::NoData { .. }), "{e}");
    let y = Provider::Yahoo(s.yahoo.clone())
        .latest(&nvda())
        .await
        .unwrap();
    assert_eq!((y.price, y.provider.as_str()), (last_close / 0.98, "yahoo"));
}
