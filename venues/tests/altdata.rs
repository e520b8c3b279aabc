//! News, Reddit and FRED clients against the local mock that speaks each
//! one's protocol: NewsAPI pages and stops at the developer plan's cap,
//! refuses a bad key by its code; Reddit pages by `after` until posts are
//! older than asked and waits out a 429's `x-ratelimit-reset`; FRED's
//! real-time rows become first releases and revisions, an unknown series is
//! named.

use engine::TimeMs;
use std::time::{Duration, Instant};
use venues::ExchangeError;
use venues::altdata::fred::{Fred, Release};
use venues::altdata::mock::{MockAltData, MockArticle, MockObservation, MockPost};
use venues::altdata::newsapi::NewsApi;
use venues::altdata::reddit::Reddit;
use venues::altdata::{AltDataConfig, TextQuery, TextSource};

const DAY: i64 = 86_400_000;
const T0: TimeMs = 1_709_251_200_000; // 2024-03-01T00:00:00Z

async fn mock() -> (MockAltData, AltDataConfig) {
    let m = MockAltData::new("news-key", "fred-key");
    let (addr, _) = m.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut cfg = AltDataConfig::default().with_base(&format!("http://{addr}"));
    cfg.newsapi.key = Some("news-key".into());
    cfg.fred.key = Some("fred-key".into());
    for p in [&mut cfg.newsapi, &mut cfg.reddit, &mut cfg.fred] {
        p.requests_per_min = 0;
        p.backoff_base_ms = 5;
        p.backoff_max_ms = 20;
    }
    (m, cfg)
}

#[tokio::test]
async fn news_pages_to_the_plans_cap_and_names_a_bad_key() {
    let (m, cfg) = mock().await;
    for i in 0..250 {
        m.add_article(MockArticle {
            url: format!("https://news.example/nvda/{i}"),
            outlet: "Example Wire".into(),
            title: format!("NVDA item {i}: shares surge"),
            description: "Nvidia beats estimates".into(),
            published_ms: T0 + i * 3_600_000,
        });
    }
    m.add_article(MockArticle {
        url: "https://news.example/aapl/1".into(),
        outlet: "Example Wire".into(),
        title: "AAPL slips".into(),
        description: String::new(),
        published_ms: T0 + 5_000,
    });
    let news = NewsApi::new(&cfg.newsapi, 5).unwrap();
    let q = |t: &str| TextQuery {
        ticker: Some(t.into()),
        since: T0,
        until: T0 + 30 * DAY,
    };
    let got = news.fetch(&q("NVDA")).await.unwrap();
    // Newest first, 100 a page; page 2 is past the 100-result cap (426): the first 100 are kept.
    assert_eq!(got.len(), 100);
    assert_eq!(m.requests("newsapi"), 2);
    assert!(
        got.windows(2)
            .all(|w| w[0].published_ms <= w[1].published_ms)
    );
    assert_eq!(got[99].id, "https://news.example/nvda/249");
    assert!(got[0].text.contains("shares surge. Nvidia beats estimates"));
    assert_eq!(got[0].queried.as_deref(), Some("NVDA"));
    let aapl = news.fetch(&q("AAPL")).await.unwrap();
    assert_eq!(aapl.len(), 1);

    let mut bad = cfg.newsapi.clone();
    bad.key = Some("wrong".into());
    let e = NewsApi::new(&bad, 5)
        .unwrap()
        .fetch(&q("NVDA"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ExchangeError::Rejected { status: 401, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("apiKeyInvalid"), "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "the key never prints: {e}"
    );
}

#[tokio::test]
async fn reddit_pages_back_to_since_and_waits_out_a_429() {
    let (m, cfg) = mock().await;
    for i in 0..230 {
        m.add_post(
            "stocks",
            MockPost {
                id: format!("p{i}"),
                title: format!("$NVDA to the moon {i}"),
                selftext: "bullish".into(),
                created_ms: T0 + i * 3_600_000,
            },
        );
    }
    let reddit = Reddit::new(&cfg.reddit, &["stocks".into()], 10).unwrap();
    // Since hour 50: pages of 100 newest first, stopping at the first older post.
    let q = TextQuery {
        ticker: None,
        since: T0 + 50 * 3_600_000,
        until: T0 + 60 * DAY,
    };
    let got = reddit.fetch(&q).await.unwrap();
    assert_eq!(got.len(), 180);
    assert_eq!(got[0].id, "t3_p50");
    assert_eq!(
        m.requests("reddit"),
        2,
        "the second page reaches past since"
    );
    assert_eq!(got[0].channel, "stocks");

    m.set_rate_limited("reddit", Some(1));
    let m2 = m.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        m2.set_rate_limited("reddit", None);
    });
    let started = Instant::now();
    let again = reddit.fetch(&q).await.unwrap();
    assert_eq!(again.len(), 180);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "x-ratelimit-reset is seconds to wait: {:?}",
        started.elapsed()
    );

    let missing = Reddit::new(&cfg.reddit, &["nosuchsub".into()], 2).unwrap();
    let e = missing.fetch(&q).await.unwrap_err();
    assert!(matches!(e, ExchangeError::NoData { .. }), "{e}");
    assert!(e.to_string().contains("r/nosuchsub"), "{e}");
}

fn obs(date: &str, start: &str, end: &str, value: &str) -> MockObservation {
    MockObservation {
        date: date.into(),
        realtime_start: start.into(),
        realtime_end: end.into(),
        value: value.into(),
    }
}

fn ms(date: &str) -> TimeMs {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

#[tokio::test]
async fn fred_vintages_become_releases_and_revisions() {
    let (m, cfg) = mock().await;
    m.set_fred(
        "UNRATE",
        vec![
            obs("2023-12-01", "2024-01-05", "2024-02-01", "3.7"),
            obs("2023-12-01", "2024-02-02", "9999-12-31", "3.7"),
            obs("2023-12-01", "2024-03-08", "9999-12-31", "3.8"),
            obs("2024-01-01", "2024-02-02", "9999-12-31", "3.7"),
            obs("2024-02-01", "2024-03-08", "9999-12-31", "3.9"),
            obs("2024-03-01", "2024-04-05", "9999-12-31", "."),
        ],
    );
    let mut fred = Fred::new(&cfg.fred).unwrap();
    fred.set_page_limit(2);
    let r = fred.releases("UNRATE").await.unwrap();
    assert_eq!(m.requests("fred"), 3, "pages of 2 by offset");
    let rel = |p: &str, d: &str, v: f64| Release {
        period_ms: ms(p),
        released_ms: ms(d) + DAY,
        value: v,
    };
    assert_eq!(
        r,
        vec![
            // December: first out 5 January, unchanged in February, revised in March.
            rel("2023-12-01", "2024-01-05", 3.7),
            rel("2023-12-01", "2024-03-08", 3.8),
            rel("2024-01-01", "2024-02-02", 3.7),
            rel("2024-02-01", "2024-03-08", 3.9),
        ]
    );
    let e = fred.releases("NOSUCH").await.unwrap_err();
    assert!(matches!(e, ExchangeError::NoData { .. }), "{e}");
    assert!(e.to_string().contains("NOSUCH") && e.to_string().contains("does not exist"));
    let mut bad = cfg.fred.clone();
    bad.key = Some("nope".into());
    let e = Fred::new(&bad)
        .unwrap()
        .releases("UNRATE")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("api_key is not registered"), "{e}");
    assert!(!e.to_string().contains("nope"));
}
