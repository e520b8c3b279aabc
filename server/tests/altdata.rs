//! `traderai altdata` through the real binary: fetch news, Reddit and FRED
//! from the local mock (a missing subreddit and an unknown series named,
//! the rest stored), import sentiment and macro files (bad rows named by
//! line, a re-import storing nothing new), then train NVDA's daily bars with
//! the sentiment and macro groups and predict with the model, which reads
//! the stored alternative data again.

mod common;

use common::{ok, traderai};
use std::path::Path;
use venues::altdata::mock::{MockAltData, MockArticle, MockObservation, MockPost};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z

fn provider(base: &str, key: Option<&str>) -> String {
    format!(
        "base_url = \"{base}\"\n{}requests_per_min = 0\nmax_retries = 1\nbackoff_base_ms = 5\nbackoff_max_ms = 20\nrequest_timeout_ms = 5000\nmax_wait_ms = 2000\n",
        key.map(|k| format!("key = \"{k}\"\n")).unwrap_or_default()
    )
}

fn config(dir: &Path, base: &str) -> String {
    let path = dir.join("traderai.toml");
    let text = format!(
        "[altdata]\nsubreddits = [\"stocks\", \"investing\"]\nmax_pages = 3\n[altdata.newsapi]\n{}[altdata.reddit]\n{}[altdata.fred]\n{}",
        provider(base, Some("news-key")),
        provider(base, None),
        provider(base, Some("fred-key"))
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

async fn run(url: &str, args: Vec<String>) -> std::process::Output {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        traderai(Some(&url), &a)
    })
    .await
    .unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_and_imported_alternative_data_feeds_a_grouped_model() {
    let (pool, url) = common::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let m = MockAltData::new("news-key", "fred-key");
    for i in 0..20 {
        m.add_article(MockArticle {
            url: format!("https://news.example/nvda/{i}"),
            outlet: "Example Wire".into(),
            title: format!("NVDA beats estimates, shares surge ({i})"),
            description: String::new(),
            published_ms: T0 + i * DAY,
        });
    }
    m.add_post(
        "stocks",
        MockPost {
            id: "a1".into(),
            title: "$NVDA and AAPL both look weak".into(),
            selftext: "bearish, selling".into(),
            created_ms: T0 + 3 * DAY,
        },
    );
    m.set_fred(
        "CPIAUCSL",
        vec![
            MockObservation {
                date: "2024-11-01".into(),
                realtime_start: "2024-12-11".into(),
                realtime_end: "2025-01-14".into(),
                value: "316.4".into(),
            },
            MockObservation {
                date: "2024-11-01".into(),
                realtime_start: "2025-01-15".into(),
                realtime_end: "9999-12-31".into(),
                value: "316.5".into(),
            },
        ],
    );
    let (addr, _) = m.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let cfg = config(dir.path(), &format!("http://{addr}"));

    let fetched = run(
        &url,
        args(&[
            "--json",
            "--config",
            &cfg,
            "altdata",
            "fetch",
            "--ticker",
            "NVDA",
            "--series",
            "CPIAUCSL",
            "NOSUCH",
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-01",
        ]),
    )
    .await;
    let outcomes = ok(&fetched);
    let find = |what: &str| {
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["what"] == what)
            .unwrap_or_else(|| panic!("{what} in {outcomes}"))
            .clone()
    };
    assert_eq!(find("NVDA")["stored"], 20);
    assert_eq!(find("r/stocks")["stored"], 2, "one post, two tickers");
    assert!(
        find("r/investing")["error"]
            .as_str()
            .unwrap()
            .contains("r/investing")
    );
    assert_eq!(find("CPIAUCSL")["stored"], 2, "a release and its revision");
    assert!(
        find("NOSUCH")["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );

    // Files: a headline CSV with one bad row, and an ALFRED vintage file.
    let news = dir.path().join("news.csv");
    std::fs::write(
        &news,
        "time,symbol,headline\n2025-01-02 14:30:00,NVDA,Nvidia raises guidance\nyesterday,NVDA,bad time\n2025-01-03 15:00:00,NVDA/USD,NVDA slumps on export curbs\n",
    )
    .unwrap();
    let imported = ok(&run(
        &url,
        args(&[
            "--json",
            "altdata",
            "import",
            "sentiment",
            news.to_str().unwrap(),
        ]),
    )
    .await);
    assert_eq!(imported[0]["stored"], 2);
    assert_eq!(imported[0]["report"]["first_rejections"][0]["line"], 3);
    let again = ok(&run(
        &url,
        args(&[
            "--json",
            "altdata",
            "import",
            "sentiment",
            news.to_str().unwrap(),
        ]),
    )
    .await);
    assert_eq!(again[0]["stored"], 0, "a re-import stores nothing new");
    let vix = dir.path().join("VIXCLS.csv");
    std::fs::write(
        &vix,
        "observation_date,VIXCLS\n2025-01-02,17.93\n2025-01-03,16.13\n",
    )
    .unwrap();
    let macro_out = ok(&run(
        &url,
        args(&[
            "--json",
            "altdata",
            "import",
            "macro",
            vix.to_str().unwrap(),
        ]),
    )
    .await);
    assert_eq!(macro_out[0]["stored"], 2);
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let failed = run(
        &url,
        args(&[
            "altdata",
            "import",
            "sentiment",
            empty.to_str().unwrap(),
            news.to_str().unwrap(),
        ]),
    )
    .await;
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("empty.csv: the file is empty"), "{err}");

    let status = ok(&run(&url, args(&["--json", "altdata", "status"])).await);
    let nvda_news = status["sentiment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ticker"] == "NVDA" && s["source"] == "newsapi")
        .unwrap()
        .clone();
    assert_eq!(nvda_news["items"], 20);
    assert!(nvda_news["mean_score"].as_f64().unwrap() > 0.3);
    let cpi = status["macro_series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == "CPIAUCSL")
        .unwrap()
        .clone();
    assert_eq!(
        (cpi["periods"].clone(), cpi["revisions"].clone()),
        (1.into(), 1.into())
    );

    // Train NVDA with both groups; the report compares each group on the same folds.
    let nvda = common::data("nvda-1d-yahoo.csv");
    ok(&run(
        &url,
        args(&[
            "--json",
            "import",
            nvda.to_str().unwrap(),
            "--symbol",
            "NVDA/USD",
            "--timeframe",
            "1d",
            "--exchange",
            "yahoo",
        ]),
    )
    .await);
    let tiny = dir.path().join("tiny.json");
    std::fs::write(
        &tiny,
        serde_json::json!({
            "train": {"net": {"features": 18, "window": 20, "gru1": 8, "gru2": 8, "attention": 8,
                              "dense1": 8, "dense2": 8, "dropout1": 0.2, "dropout2": 0.15, "classes": 3},
                      "max_epochs": 2},
            "boost": {"lags": [0, 1], "max_rounds": 30, "early_stopping_rounds": 10},
            "folds": 2
        })
        .to_string(),
    )
    .unwrap();
    let out_dir = dir.path().join("models");
    let trained = ok(&run(
        &url,
        args(&[
            "--json",
            "train",
            "--symbol",
            "NVDA/USD",
            "--timeframe",
            "1d",
            "--backend",
            "flex",
            "--pipeline",
            tiny.to_str().unwrap(),
            "--groups",
            "sentiment,macro",
            "--min-net-profit",
            "0.5",
            "-o",
            out_dir.to_str().unwrap(),
        ]),
    )
    .await);
    let eval = &trained[0]["evaluation"];
    let groups = eval["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["group"], "sentiment");
    assert_eq!(groups[1]["group"], "macro");
    assert_eq!(groups[0]["folds_without"].as_array().unwrap().len(), 2);
    let model_dir = trained[0]["dir"].as_str().unwrap().to_string();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&model_dir).join("config.json")).unwrap())
            .unwrap();
    let features: Vec<&str> = config["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(features.len(), 18 + 3 + 10);
    assert!(features.contains(&"sentiment_mean") && features.contains(&"VIXCLS_change"));
    assert_eq!(config["net"]["features"], 31);

    // Predicting reads the stored items again: the bars after them differ from a run without.
    let preds = dir.path().join("preds.csv");
    ok(&run(
        &url,
        args(&[
            "predict",
            "--model",
            &model_dir,
            "--symbol",
            "NVDA/USD",
            "--timeframe",
            "1d",
            "--backend",
            "flex",
            "-o",
            preds.to_str().unwrap(),
        ]),
    )
    .await);
    let text = std::fs::read_to_string(&preds).unwrap();
    assert!(
        text.lines().count() > 1000,
        "{}",
        &text[..200.min(text.len())]
    );
    drop(pool);
}
