//! Notifications end to end against local servers speaking each protocol:
//! every event kind reaches every channel once with the right content,
//! throttled and failing channels are retried, Telegram commands answer
//! linked chats only, and an event whose process died before sending is
//! delivered exactly once by another — with no secret in any log line.

mod common;

use common::channels::{self, Channels, DISCORD_PATH, HOOK_SECRET};
use server::notify::channels::Target;
use server::notify::outbox;
use sqlx::PgPool;
use std::time::Duration;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

async fn user(pool: &PgPool, name: &str, role: &str, profile: &str, capital: f64) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, risk_profile, capital) VALUES ($1, 'x', $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(role)
    .bind(profile)
    .bind(capital)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A $1000 medium-risk paper account "main" of `user` on every followed series.
async fn open_main(
    pool: &PgPool,
    s: &server::config::Settings,
    user: i64,
) -> server::db::paper::AccountRow {
    server::paper::open(
        pool,
        s,
        &server::paper::OpenRequest {
            user_id: user,
            name: "main".into(),
            capital: rust_decimal::Decimal::from(1000),
            profile: engine::risk::RiskProfile::Medium,
            follow: server::paper::FollowMode::All,
            series: Vec::new(),
            min_net_profit: None,
        },
    )
    .await
    .unwrap()
}

/// Fans out and delivers until nothing is pending (retries included).
async fn drain(pool: &PgPool, s: &server::config::Settings) {
    let sender = server::notify::channels::Sender::new(&s.notify).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        while outbox::fan_out(pool, s).await.unwrap() > 0 {}
        while outbox::deliver_next(pool, &sender, &s.notify)
            .await
            .unwrap()
            .is_some()
        {}
        let (events, pending): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM notify_events WHERE fanned_out_at IS NULL),
                    (SELECT count(*) FROM notify_deliveries WHERE status = 'pending')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if events == 0 && pending == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Links a Telegram chat to `user` through the bot, as a person would.
async fn link_telegram(pool: &PgPool, s: &server::config::Settings, user: i64, chat: i64) {
    let (code, _) = server::notify::telegram::new_code(pool, user)
        .await
        .unwrap();
    let reply = server::notify::telegram::respond(pool, s, chat, &format!("/link {code}"))
        .await
        .unwrap();
    assert!(reply.starts_with("Linked to "), "{reply}");
}

async fn all_channels(
    pool: &PgPool,
    s: &server::config::Settings,
    user: i64,
    chat: i64,
    base: &str,
) {
    link_telegram(pool, s, user, chat).await;
    for t in [
        Target::Discord {
            webhook_url: format!("{base}{DISCORD_PATH}"),
        },
        Target::Webhook {
            url: format!("{base}/hook"),
            secret: HOOK_SECRET.into(),
        },
        Target::Sms {
            to: format!("+1415555{:04}", user),
        },
        Target::Email {
            to: format!("user{user}@example.com"),
        },
    ] {
        t.validate().unwrap();
        outbox::add_channel(pool, user, &t).await.unwrap();
    }
}

/// A candidate the technical rule would store, strong enough to pass the
/// gates: 6 % expected, confidence 0.7, ATR 2 % of the price (targets at
/// 1, 2 and 3 ATR: 4 % gross).
async fn strong_signal(pool: &PgPool) -> i64 {
    let candles = common::btc_15m();
    let series = common::followed_series(pool, &candles[..400], engine::Timeframe::M15).await;
    let c = candles[399];
    let p = engine::signals::Prediction {
        p_up: 0.7,
        p_neutral: 0.2,
        p_down: 0.1,
        expected_move_pct: 6.0,
        confidence: 0.7,
    };
    // As the scanner stores it: the candidate and its event in one transaction.
    let mut tx = pool.begin().await.unwrap();
    let id = server::db::signals::insert(
        &mut tx,
        &server::db::signals::NewCandidate {
            series_id: series,
            bar_time: c.open_time,
            price: c.close,
            atr: Some(c.close * 0.02),
            source: server::db::signals::Source::Technical,
            model_id: None,
            model_label: "technical rule".into(),
            prediction: Some(p),
            move_interval: None,
            coverage_level: None,
            prediction_set: None,
            uncalibrated: None,
            drivers: vec![server::db::signals::Driver {
                feature: "rsi_14".into(),
                value: 0.42,
            }],
            blocked: None,
            regime: Some("uptrend".into()),
            htf: Vec::new(),
        },
    )
    .await
    .unwrap()
    .unwrap();
    server::notify::emit(&mut tx, &server::notify::compose::signal_event(id))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_reaches_each_channel_once_with_its_content() {
    server::secrets::install(KEY).unwrap();
    let (pool, _) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    let root = user(&pool, "root", "admin", "low", 100.0).await;
    all_channels(&pool, &s, ann, 7001, &base).await;
    all_channels(&pool, &s, root, 7002, &base).await;

    // A signal both can act on, each sized for their own profile and capital.
    strong_signal(&pool).await;
    // A job failure and stale data: admins only.
    let job = server::db::jobs::enqueue(&pool, "backfill", &serde_json::json!({}))
        .await
        .unwrap();
    let owner = "test:1:0";
    server::db::jobs::claim(&pool, job.id, owner, None)
        .await
        .unwrap();
    server::db::jobs::finish(
        &pool,
        job.id,
        owner,
        server::db::jobs::JobStatus::Failed,
        None,
        Some("binance: HTTP 418 I'm a teapot (banned until 12:00)"),
    )
    .await
    .unwrap();
    // The kill switch: everyone.
    server::paper::kill(&pool, "exchange outage", false, Some("root"))
        .await
        .unwrap();
    // Recording the same cause twice is one event.
    let again = server::notify::compose::signal_event(
        sqlx::query_scalar::<_, i64>("SELECT id FROM signal_candidates")
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
    assert!(
        !server::notify::events::emit_now(&pool, &again)
            .await
            .unwrap()
    );

    drain(&pool, &s).await;

    let hooks = mock.received("webhook");
    let mut kinds: Vec<String> = hooks
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    // Two users × (signal, kill switch) + the admin's job failure (the
    // followed series is live: nothing stale).
    assert_eq!(
        kinds,
        vec![
            "job_failed",
            "kill_switch",
            "kill_switch",
            "signal",
            "signal"
        ],
        "{hooks:#?}"
    );
    // Each channel got the same five messages, exactly once each.
    for ch in ["telegram", "discord", "twilio", "email"] {
        assert_eq!(mock.received(ch).len(), 5, "{ch}: {:#?}", mock.received(ch));
    }
    let signals: Vec<_> = hooks.iter().filter(|h| h["kind"] == "signal").collect();
    let sizes: Vec<&str> = signals.iter().map(|h| field(h, "Size")).collect();
    assert_ne!(sizes[0], sizes[1], "each reader's own size: {sizes:?}");
    for h in &signals {
        assert!(
            h["title"].as_str().unwrap().contains("BTC/USDT 15m LONG"),
            "{h}"
        );
        for f in [
            "Entry",
            "TP1",
            "TP2",
            "TP3",
            "Stop",
            "Leverage",
            "Confidence",
            "Expected",
        ] {
            assert!(!field(h, f).is_empty());
        }
        assert_eq!(field(h, "Confidence"), "70%");
        assert!(
            h["lines"][0].as_str().unwrap().contains("rsi_14"),
            "why: {h}"
        );
        assert_eq!(
            h["_event_header"],
            h["id"].to_string(),
            "the event id travels in a header"
        );
    }
    let failed = hooks.iter().find(|h| h["kind"] == "job_failed").unwrap();
    assert!(failed["lines"][0].as_str().unwrap().contains("teapot"));
    // Telegram's MarkdownV2 was accepted (the mock refuses bad escaping) and
    // the linked chats got their own messages.
    assert_eq!(mock.telegram_to(7001).len(), 2);
    assert_eq!(mock.telegram_to(7002).len(), 3);
    assert!(mock.telegram_to(7002).iter().any(|t| t.contains("teapot")));
    let sms = mock.received("twilio");
    assert!(sms.iter().all(|m| m["From"] == "+15005550006"));
    assert_eq!(
        sms.iter()
            .filter(|m| m["To"] == format!("+1415555{:04}", ann))
            .count(),
        2
    );
    let mails = mock.received("email");
    assert!(
        mails
            .iter()
            .all(|m| m["message-id"].as_str().unwrap().starts_with("<delivery-"))
    );
    assert!(mails.iter().any(|m| {
        m["subject"]
            .as_str()
            .unwrap()
            .contains("KILL SWITCH ENGAGED")
    }));
    let discord = mock.received("discord");
    assert!(discord.iter().all(|d| d["embeds"][0]["title"].is_string()));

    // Delivered is delivered: another pass sends nothing more.
    drain(&pool, &s).await;
    assert_eq!(mock.received("webhook").len(), 5);
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notify_deliveries WHERE status = 'sent'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sent, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_and_failing_channels_are_retried_and_permanent_failures_shown() {
    server::secrets::install(KEY).unwrap();
    let (pool, _) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    all_channels(&pool, &s, ann, 7001, &base).await;
    mock.fail_first("discord", &[429, 502]);
    mock.fail_first("telegram", &[429]);
    mock.fail_first("twilio", &[503]);
    mock.fail_first("email", &[451]);
    // A receiver whose endpoint is gone: no retry can help.
    mock.fail_first("webhook", &[404]);
    server::paper::kill(&pool, "drill", false, None)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    drain(&pool, &s).await;
    for ch in ["discord", "telegram", "twilio", "email"] {
        assert_eq!(
            mock.received(ch).len(),
            1,
            "{ch} delivered once after its refusals"
        );
    }
    assert_eq!(mock.refused("discord"), 2);
    // Telegram asked for 1 s: that wait was kept, not the 50 ms backoff.
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    let rows: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
        "SELECT c.kind, d.status, d.attempts, d.last_error FROM notify_deliveries d
         JOIN notify_channels c ON c.id = d.channel_id ORDER BY c.kind",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let row = |k: &str| rows.iter().find(|r| r.0 == k).unwrap().clone();
    assert_eq!((row("discord").1.as_str(), row("discord").2), ("sent", 3));
    assert_eq!((row("telegram").1.as_str(), row("telegram").2), ("sent", 2));
    assert_eq!((row("email").1.as_str(), row("email").2), ("sent", 2));
    let hook = row("webhook");
    assert_eq!((hook.1.as_str(), hook.2), ("failed", 1));
    assert!(hook.3.unwrap().contains("HTTP 404"));
    // Admins see it (and only admins).
    let troubles = outbox::troubles(&pool, 10).await.unwrap();
    assert_eq!(troubles.len(), 1);
    assert_eq!(
        (
            troubles[0].channel_kind.as_str(),
            troubles[0].username.as_str()
        ),
        ("webhook", "ann")
    );

    // A channel that keeps failing gives up after max_attempts.
    mock.fail_first("discord", &[500, 500, 500, 500, 500]);
    server::paper::resume(&pool).await.unwrap();
    drain(&pool, &s).await;
    let (status, attempts): (String, i32) = sqlx::query_as(
        "SELECT d.status, d.attempts FROM notify_deliveries d JOIN notify_channels c ON c.id = d.channel_id
         JOIN notify_events e ON e.id = d.event_id WHERE c.kind = 'discord' AND e.dedupe LIKE 'resume:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("failed", 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_quiet_hours_hold_messages_back() {
    server::secrets::install(KEY).unwrap();
    let (pool, _) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    outbox::add_channel(
        &pool,
        ann,
        &Target::Discord {
            webhook_url: format!("{base}{DISCORD_PATH}"),
        },
    )
    .await
    .unwrap();
    let mut p = server::notify::prefs::Prefs::default_for(false);
    p.rate_per_hour = 2;
    server::notify::prefs::save(&pool, ann, &p).await.unwrap();
    for i in 0..3 {
        let e = server::notify::compose::Draft::new(format!("fill {i}"))
            .event(server::notify::EventKind::PaperFill, format!("t:{i}"))
            .for_user(ann);
        server::notify::events::emit_now(&pool, &e).await.unwrap();
    }
    let sender = server::notify::channels::Sender::new(&s.notify).unwrap();
    outbox::fan_out(&pool, &s).await.unwrap();
    let mut outcomes = Vec::new();
    while let Some((_, o)) = outbox::deliver_next(&pool, &sender, &s.notify)
        .await
        .unwrap()
    {
        outcomes.push(o);
    }
    assert_eq!(mock.received("discord").len(), 2, "two an hour");
    match outcomes.last() {
        Some(outbox::Outcome::Deferred(at)) => {
            let wait = *at - chrono::Utc::now();
            assert!(
                wait > chrono::Duration::minutes(59),
                "held for the window: {wait}"
            );
        }
        o => panic!("the third is held back, not {o:?}"),
    }
    // Quiet hours all day long (00:00–23:59) hold a fill, not the kill switch.
    p.rate_per_hour = 100;
    p.quiet = Some((0, 1439));
    server::notify::prefs::save(&pool, ann, &p).await.unwrap();
    let e = server::notify::compose::Draft::new("quiet fill")
        .event(server::notify::EventKind::PaperFill, "t:quiet")
        .for_user(ann);
    server::notify::events::emit_now(&pool, &e).await.unwrap();
    server::paper::kill(&pool, "urgent", false, None)
        .await
        .unwrap();
    outbox::fan_out(&pool, &s).await.unwrap();
    while outbox::deliver_next(&pool, &sender, &s.notify)
        .await
        .unwrap()
        .is_some()
    {}
    let titles: Vec<String> = mock
        .received("discord")
        .iter()
        .map(|d| d["embeds"][0]["title"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("KILL SWITCH")),
        "{titles:?}"
    );
    assert!(
        !titles.iter().any(|t| t.contains("quiet fill")),
        "{titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_commands_answer_linked_chats_and_refuse_others() {
    server::secrets::install(KEY).unwrap();
    let (pool, _) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    let root = user(&pool, "root", "admin", "low", 100.0).await;
    let candles = common::btc_15m();
    common::followed_series(&pool, &candles[..400], engine::Timeframe::M15).await;
    let acct = open_main(&pool, &s, ann).await;
    let (code, _) = server::notify::telegram::new_code(&pool, ann)
        .await
        .unwrap();
    let (root_code, _) = server::notify::telegram::new_code(&pool, root)
        .await
        .unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(server::notify::telegram::poll(
        pool.clone(),
        s.clone(),
        s.notify.clone(),
        stop,
    ));
    let stranger = 9999;
    let say = |chat: i64, text: &str| mock.telegram_says(chat, text);
    async fn replies(mock: &Channels, chat: i64, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let r = mock.telegram_to(chat);
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chat {chat}: {:?}", mock.telegram_to(chat));
    }
    say(stranger, "/status");
    say(stranger, "/halt");
    say(7001, "/link WRONG123");
    say(7001, &format!("/link {code}"));
    say(7001, "/status");
    say(7001, "/positions");
    say(7001, "/profit 3");
    say(7001, "/profit lots");
    say(7001, "/signals");
    say(7001, "/halt taking a break");
    let r = replies(&mock, 7001, 8).await;
    let s_ = replies(&mock, stranger, 2).await;
    assert!(s_.iter().all(|t| t.contains("not linked")), "{s_:?}");
    assert!(r[0].contains("not valid or has expired"), "{}", r[0]);
    assert_eq!(
        r[1],
        "Linked to ann. Notifications will arrive here; /help lists the commands."
    );
    assert!(
        r[2].starts_with("System: 1 series live") && r[2].contains("main (#"),
        "{}",
        r[2]
    );
    assert_eq!(r[3], "No open positions.");
    assert!(
        r[4].starts_with("P&L over the last 3 days:\nmain: +0.00"),
        "{}",
        r[4]
    );
    assert!(r[5].starts_with("Usage: /profit"), "{}", r[5]);
    assert!(r[6].contains("No signal passes the gates"), "{}", r[6]);
    assert!(r[7].starts_with("1 paper account(s) halted"), "{}", r[7]);
    let state: String = sqlx::query_scalar("SELECT state FROM paper_accounts WHERE id = $1")
        .bind(acct.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "halted");
    // The stranger's /halt did nothing; a user cannot lift the kill switch;
    // an admin's /halt is the kill switch.
    say(7002, &format!("/start {root_code}"));
    say(7002, "/halt");
    let a = replies(&mock, 7002, 2).await;
    assert!(a[1].starts_with("Kill switch engaged"), "{}", a[1]);
    say(7001, "/resume");
    let r = replies(&mock, 7001, 9).await;
    assert!(r[8].contains("only an admin can lift it"), "{}", r[8]);
    say(7002, "/resume");
    let a = replies(&mock, 7002, 3).await;
    assert!(a[2].starts_with("Kill switch lifted."), "{}", a[2]);
    say(7001, "/resume");
    let r = replies(&mock, 7001, 10).await;
    assert_eq!(r[9], "1 paper account(s) resumed.");
    // Each update was answered once: the offset moved past them all.
    let offset: i64 = sqlx::query_scalar(
        "SELECT (value->>'offset')::bigint FROM notify_state WHERE key = 'telegram'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(offset, 1000 + 15 + 1);
    assert_eq!(mock.telegram_to(7001).len(), 10);
    let _ = stop_tx.send(true);
    poller.await.unwrap();
}

/// Runs `traderai worker` (the notifier inside) with the test's config.
fn worker(db: &str, config: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .args(["--config", config.to_str().unwrap(), "worker"])
        .env("DATABASE_URL", db)
        .env("TRADERAI_SECRET_KEY", KEY)
        .env("TRADERAI_LOG_FORMAT", "json")
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=warn,h2=warn,rustls=warn,reqwest=debug",
        )
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_process_died_before_sending_is_delivered_once() {
    server::secrets::install(KEY).unwrap();
    let (pool, url) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    all_channels(&pool, &s, ann, 7001, &base).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("traderai.toml");
    std::fs::write(&config, channels::settings_toml(&base, smtp)).unwrap();
    // `traderai kill` commits the kill switch and its event, then exits: it
    // has no notifier, so it "dies" between the commit and any send.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "kill",
            "--reason",
            "venue down",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mock.received("webhook").is_empty());
    // Two workers start at once; one of them is killed -9 as soon as the
    // message is out; a third starts after.
    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("w{i}.log")))
        .collect();
    let mut a = worker(&url, &config, &logs[0]);
    let mut b = worker(&url, &config, &logs[1]);
    for _ in 0..300 {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notify_deliveries WHERE status = 'sent'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if sent == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill().unwrap();
    let _ = a.wait();
    let mut c = worker(&url, &config, &logs[2]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for p in [&mut b, &mut c] {
        // SIGTERM: a clean stop.
        let _ = std::process::Command::new("kill")
            .arg(p.id().to_string())
            .status();
        let _ = p.wait();
    }
    for ch in ["telegram", "discord", "webhook", "twilio", "email"] {
        assert_eq!(mock.received(ch).len(), 1, "{ch}: exactly once");
    }
    // No secret the test used appears in any log line of any worker.
    let text: String = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    assert!(
        text.contains("notifier started"),
        "the workers logged: {text}"
    );
    for line in text.lines().filter(|l| !l.is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    for secret in [
        channels::BOT_TOKEN,
        channels::TWILIO_TOKEN,
        HOOK_SECRET,
        "discord-token-not-for-logs",
        KEY,
        "user1@example.com",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halts_stale_data_drift_registry_and_the_daily_summary_arrive_with_their_content() {
    server::secrets::install(KEY).unwrap();
    let (pool, _) = common::fresh_db().await;
    let (mock, base, smtp) = channels::start().await;
    let s = channels::settings(&base, smtp);
    let ann = user(&pool, "ann", "user", "medium", 1000.0).await;
    let root = user(&pool, "root", "admin", "low", 100.0).await;
    for u in [ann, root] {
        outbox::add_channel(
            &pool,
            u,
            &Target::Webhook {
                url: format!("{base}/hook"),
                secret: HOOK_SECRET.into(),
            },
        )
        .await
        .unwrap();
    }
    let mut p = server::notify::prefs::Prefs::default_for(false);
    p.daily_at = Some(0);
    server::notify::prefs::save(&pool, ann, &p).await.unwrap();

    let candles = common::btc_15m();
    let series = common::followed_series(&pool, &candles[..400], engine::Timeframe::M15).await;
    let acct = open_main(&pool, &s, ann).await;
    server::paper::halt_account(&pool, acct.id, Some("lunch break"), false)
        .await
        .unwrap();
    let since = candles[399].open_time + 900_000;
    let stale = |at: i64| server::db::follow::StateUpdate {
        series_id: series,
        universe: "default",
        role: "base",
        state: "stale",
        stale: Some(("no_bars", "no bar for 3 closes".into(), since)),
        clock_now: at,
        clock_speed: 1.0,
        demo: false,
        wall: chrono::Utc::now(),
    };
    // The follower rewrites a stale row now and then: one spell, one event.
    server::db::follow::upsert_state(&pool, &stale(since + 2_700_000))
        .await
        .unwrap();
    server::db::follow::upsert_state(&pool, &stale(since + 3_600_000))
        .await
        .unwrap();
    use server::db::models::log;
    log(
        &pool,
        "universal",
        "15m",
        None,
        "drift_check",
        &serde_json::json!({"drifted": true, "columns": ["rsi_14", "atr_pct"], "retrain_job": 7}),
    )
    .await
    .unwrap();
    log(
        &pool,
        "universal",
        "15m",
        None,
        "drift_check",
        &serde_json::json!({"drifted": false, "columns": []}),
    )
    .await
    .unwrap();
    log(&pool, "universal", "15m", None, "kept_aside", &serde_json::json!({"reason": "walk-forward log loss 0.9100 > active v2's 0.8800: kept aside"})).await.unwrap();
    assert_eq!(
        server::notify::daily::emit_due(&pool, chrono::Utc::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        server::notify::daily::emit_due(&pool, chrono::Utc::now())
            .await
            .unwrap(),
        0,
        "once a day"
    );
    drain(&pool, &s).await;

    let got = mock.received("webhook");
    let of = |kind: &str| -> Vec<serde_json::Value> {
        got.iter().filter(|h| h["kind"] == kind).cloned().collect()
    };
    let (halt, daily, stale, drift, registry) = (
        of("halt"),
        of("daily"),
        of("stale"),
        of("drift"),
        of("registry"),
    );
    assert_eq!(
        (
            halt.len(),
            daily.len(),
            stale.len(),
            drift.len(),
            registry.len()
        ),
        (1, 1, 1, 1, 1),
        "{got:#?}"
    );
    assert_eq!(got.len(), 5, "a clean drift check tells no one: {got:#?}");
    assert_eq!(halt[0]["title"], "main: trading halted");
    assert_eq!(halt[0]["lines"][0], "lunch break");
    assert!(
        daily[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Daily summary ")
            && daily[0]["title"].as_str().unwrap().ends_with("— ann")
    );
    assert!(
        field(&daily[0], "main")
            .starts_with("today +0.00, week +0.00, total +0.00; 0 open; halted"),
        "{}",
        daily[0]
    );
    assert!(
        field(&daily[0], "System").contains("0 series live, 0 catching up, 1 stale"),
        "{}",
        daily[0]
    );
    assert_eq!(
        stale[0]["title"],
        "Stale data: binance futures BTC/USDT 15m"
    );
    assert_eq!(field(&stale[0], "Reason"), "no_bars");
    assert_eq!(field(&drift[0], "Drifted columns"), "rsi_14, atr_pct");
    assert_eq!(field(&drift[0], "Retraining"), "job 7 queued");
    assert!(
        registry[0]["title"]
            .as_str()
            .unwrap()
            .contains("kept aside")
    );
    assert!(
        registry[0]["lines"][0]
            .as_str()
            .unwrap()
            .contains("0.9100 > active v2")
    );
    // Who got what: the admin's kinds went to the admin only, the account's to its owner.
    let by_user: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.kind, c.user_id FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
         JOIN notify_channels c ON c.id = d.channel_id ORDER BY e.kind",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (kind, u) in by_user {
        let want = if ["halt", "daily"].contains(&kind.as_str()) {
            ann
        } else {
            root
        };
        assert_eq!(u, want, "{kind}");
    }
}
