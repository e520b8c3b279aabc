//! `/` — live signals sized for the reader's risk profile and capital,
//! the chart behind a signal, and the candidates that were rejected.

use super::settings::{RiskForm, SaveSettings, load_settings};
use crate::chart::{CandleChart, price};
use crate::live::use_live;
use crate::types::{
    AppError, ChartData, ChartQuery, ScanView, SignalBoard, SignalView, format_utc,
};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn load_signals() -> Result<SignalBoard, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.signals(&v, None).await
        }
        .await,
    )
}

#[server]
pub async fn load_chart(q: ChartQuery) -> Result<ChartData, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.chart(&v, q).await
        }
        .await,
    )
}

#[server]
pub async fn scan_signals(csrf: String) -> Result<ScanView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.scan_now(&v).await
        }
        .await,
    )
}

fn pct(v: f64) -> String {
    format!("{v:+.2} %")
}

fn money(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("${v:.0}")
    } else {
        format!("${v:.2}")
    }
}

/// How current the signal's bar is: "closed 2 min ago", "stale: last bar
/// 3 days ago (disconnected …)", and which data it is.
fn bar_age_text(s: &SignalView) -> String {
    let age = crate::types::human_span(s.bar_age_ms);
    let text = match s.data_state.as_deref() {
        Some("stale") => format!(
            "stale: last bar {age} ago{}",
            s.data_reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        Some("catching_up") => format!("catching up: last bar {age} ago"),
        Some(_) => format!("closed {age} ago"),
        None => format!("stored data, not followed: bar closed {age} ago"),
    };
    if s.demo {
        format!("demo replay of bundled data · {text}")
    } else {
        text
    }
}

/// "uptrend · 1h +0.42 % · 4h −0.10 %": the regime and the trends the HTF gate read.
fn context_text(s: &SignalView) -> String {
    let mut parts: Vec<String> = s.regime.iter().cloned().collect();
    for h in &s.htf {
        parts.push(match h.trend_pct {
            Some(v) => format!("{} {v:+.2} %", h.timeframe),
            None => format!("{} –", h.timeframe),
        });
    }
    parts.join(" · ")
}

/// "0.62 · move +0.41 … +3.10 % at 90 %": confidence with the conformal
/// move interval; "uncalibrated (…)" while the rule has too little history.
fn confidence_text(s: &SignalView) -> String {
    let Some(p) = &s.prediction else {
        return "–".into();
    };
    if let Some(why) = &p.uncalibrated {
        return format!("uncalibrated ({why})");
    }
    match (p.move_low, p.move_high, p.coverage_level) {
        (Some(lo), Some(hi), Some(level)) => format!(
            "{:.2} · move {lo:+.2} … {hi:+.2} % at {:.0} %",
            p.confidence,
            level * 100.0
        ),
        _ => format!("{:.2}", p.confidence),
    }
}

fn drivers_text(s: &SignalView) -> String {
    s.drivers
        .iter()
        .take(3)
        .map(|d| format!("{} {:+.2}", d.feature, d.value))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn series_key(exchange: &str, market: &str, symbol: &str, timeframe: &str) -> String {
    format!("{exchange}|{market}|{symbol}|{timeframe}")
}

fn query_of(s: &SignalView) -> ChartQuery {
    ChartQuery {
        exchange: s.exchange.clone(),
        market: s.market.clone(),
        symbol: s.symbol.clone(),
        timeframe: s.timeframe.clone(),
        bars: Some(150),
    }
}

#[component]
pub fn SignalsPage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let is_admin = move || {
        viewer
            .get()
            .and_then(|v| v.ok().flatten())
            .is_some_and(|v| v.is_admin())
    };
    let save = ServerAction::<SaveSettings>::new();
    let scan = ServerAction::<ScanSignals>::new();
    let settings = Resource::new(move || save.version().get(), |_| load_settings());
    // Sized for the saved settings: refetch after saving them, after a scan,
    // when the server announces new candidates, and after a reconnect.
    let board = Resource::new(
        move || {
            (
                save.version().get(),
                scan.version().get(),
                live.signals.get(),
                live.resync.get(),
            )
        },
        |_| load_signals(),
    );
    Effect::new(move |_| {
        if let Some(Ok(b)) = board.get() {
            live.data.set(Some(b.data.clone()));
        }
    });
    let selected = RwSignal::new(None::<SignalView>);
    let show_rejected = RwSignal::new(false);
    // Newest close per series from the WebSocket's price ticks.
    let ticks = RwSignal::new(std::collections::HashMap::<String, f64>::new());
    Effect::new(move |_| {
        if let Some(t) = live.tick.get() {
            ticks.update(|m| {
                m.insert(
                    series_key(&t.exchange, &t.market, &t.symbol, &t.timeframe),
                    t.close,
                );
            });
        }
    });
    view! {
        <section class="panel" id="signals">
            <div class="panel-head">
                <h1>"Signals"</h1>
                <Transition fallback=|| ()>
                    {move || settings.get().map(|r| match r {
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        Ok(s) => view! {
                            <RiskForm action=save s csrf=csrf() ids=["dash-settings", "dash-profile", "dash-capital", "dash-apply"] button="Apply" />
                        }.into_any(),
                    })}
                </Transition>
            </div>
            {move || save.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="dash-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
            })}
            <Transition fallback=|| view! { <p class="empty">"Loading signals…"</p> }>
                {move || board.get().map(|r| match r {
                    Err(e) => view! { <p class="error">"Could not load signals: "{e.message}</p> }.into_any(),
                    Ok(b) => view! { <Board board=b selected show_rejected ticks /> }.into_any(),
                })}
            </Transition>
            <Transition fallback=|| ()>
            <Show when=is_admin>
                <div class="row-form">
                    <button class="link" id="scan-now" on:click=move |_| { scan.dispatch(ScanSignals { csrf: csrf() }); } disabled=move || scan.pending().get()>
                        "Scan now"
                    </button>
                    {move || scan.value().get().map(|r| match r {
                        Ok(s) => view! { <span class="muted small" id="scan-result">{format!("{} series scanned, {} new, {} up to date", s.series, s.new, s.up_to_date)}</span> }.into_any(),
                        Err(e) => view! { <span class="error small">{e.message}</span> }.into_any(),
                    })}
                </div>
            </Show>
            </Transition>
        </section>
        {move || selected.get().map(|s| view! { <SignalChart signal=s /> })}
    }
}

#[component]
fn Board(
    board: SignalBoard,
    selected: RwSignal<Option<SignalView>>,
    show_rejected: RwSignal<bool>,
    ticks: RwSignal<std::collections::HashMap<String, f64>>,
) -> impl IntoView {
    let SignalBoard {
        risk_profile,
        capital,
        signals,
        rejected,
        min_net_profit_pct,
        min_confidence,
        data: board_data,
    } = board;
    let n_rejected = rejected.len();
    let limits = risk_profile.limits();
    let summary = format!(
        "Sized for the {} profile ({} % risk per trade, leverage ≤ {}×) and {} capital. Gates: expected net profit after costs ≥ {} %, confidence ≥ {}.",
        risk_profile.as_str(),
        limits.risk_per_trade_pct,
        limits.max_leverage,
        money(capital),
        min_net_profit_pct,
        min_confidence
    );
    let table = if signals.is_empty() {
        view! {
            <p class="empty" id="no-signals">
                {if n_rejected == 0 {
                    "No candidates yet: the scanner runs after every bar close (admins can scan now)."
                } else {
                    "No candidate passes the gates for this profile and capital right now."
                }}
            </p>
        }
        .into_any()
    } else {
        view! {
            <div class="table-wrap"><table class="grid" id="signals-table">
                <thead><tr>
                    <th>"Pair"</th><th>"TF"</th><th>"Side"</th><th class="num">"Entry"</th><th class="num">"Last"</th>
                    <th class="num">"TP1 · TP2 · TP3"</th><th class="num">"Stop"</th>
                    <th class="num">"Lev."</th><th class="num">"Size"</th><th class="num">"Margin"</th>
                    <th class="num">"Net after costs"</th><th>"Confidence"</th><th>"Model"</th><th>"Why"</th>
                </tr></thead>
                <tbody>
                    {signals.into_iter().filter_map(|s| {
                        let p = s.plan.clone()?;
                        let row = s.clone();
                        let side_class = format!("side {}", p.side);
                        let key = series_key(&s.exchange, &s.market, &s.symbol, &s.timeframe);
                        let signal_close = s.price;
                        Some(view! {
                            <tr class="signal-row" data-symbol=s.symbol.clone() data-timeframe=s.timeframe.clone() data-exchange=s.exchange.clone() data-bar=s.bar_time.to_string() data-data=s.data_state.clone().unwrap_or_default()
                                on:click=move |_| selected.set(Some(row.clone()))>
                                <td class="sym" data-label="Pair">{s.symbol.clone()}<div class="muted small">{s.exchange.clone()}" · "<span class="bar-age" title=format_utc(s.bar_time)>{bar_age_text(&s)}</span></div></td>
                                <td data-label="TF">{s.timeframe.clone()}</td>
                                <td class=side_class data-label="Side">{p.side.clone()}</td>
                                <td class="num entry" data-label="Entry">{price(p.entry)}</td>
                                <td class="num last" data-label="Last">{move || price(ticks.read().get(&key).copied().unwrap_or(signal_close))}</td>
                                <td class="num tps" data-label="TP1 · TP2 · TP3">{price(p.take_profit[0])}<br/>{price(p.take_profit[1])}<br/>{price(p.take_profit[2])}</td>
                                <td class="num stop" data-label="Stop">{price(p.stop_loss)}</td>
                                <td class="num leverage" data-label="Leverage">{format!("{:.1}×", p.leverage)}</td>
                                <td class="num size" data-label="Size">{money(p.notional)}<div class="muted small qty">{format!("{:.6}", p.qty)}</div></td>
                                <td class="num margin" data-label="Margin">{money(p.margin)}</td>
                                <td class="num net" data-label="Net after costs">{pct(p.expected_net_pct)}<div class="muted small">{money(p.expected_net)}</div></td>
                                <td class="small confidence" data-label="Confidence">{confidence_text(&s)}</td>
                                <td class="small model" data-label="Model">{s.model.clone()}</td>
                                <td class="small why" data-label="Why">{drivers_text(&s)}<div class="muted small context">{context_text(&s)}</div></td>
                            </tr>
                        })
                    }).collect_view()}
                </tbody>
            </table></div>
        }
        .into_any()
    };
    let d = board_data.clone();
    let mut notes = Vec::new();
    if d.demo {
        notes.push("Demo replay: the followed bars are stored bars replayed on a local mock exchange faster than real time (the bundled BTC 15m bars when the venue cannot be reached at first start). Not market data.".to_owned());
    }
    if d.stale > 0 {
        notes.push(format!(
            "{} followed series are stale: they make no signals until they are live again.",
            d.stale
        ));
    } else if d.catching_up > 0 {
        notes.push(format!(
            "{} followed series are catching up on missed bars.",
            d.catching_up
        ));
    }
    let state = if d.demo { "demo" } else { d.state() };
    let banner = (!notes.is_empty()).then(|| (state, notes.join(" ")));
    view! {
        {banner.map(|(state, text)| view! { <p class="banner" id="data-banner" data-state=state>{text}</p> })}
        <p class="summary" id="signals-summary">{summary}</p>
        {table}
        <div class="row-form">
            <button class="link" id="toggle-rejected" on:click=move |_| show_rejected.update(|v| *v = !*v)>
                {move || if show_rejected.get() { format!("Hide rejected ({n_rejected})") } else { format!("Show rejected ({n_rejected})") }}
            </button>
        </div>
        <Show when=move || show_rejected.get()>
            <table class="grid" id="rejected-table">
                <thead><tr><th>"Pair"</th><th>"TF"</th><th>"Bar (UTC)"</th><th>"Data"</th><th>"Reason"</th><th>"Expected move"</th><th>"Confidence"</th><th>"Model"</th></tr></thead>
                <tbody>
                    {rejected.iter().map(|s| {
                        let row = s.clone();
                        view! {
                            <tr class="rejected-row" data-reason=s.rejection.clone().unwrap_or_default() data-symbol=s.symbol.clone() data-timeframe=s.timeframe.clone() data-exchange=s.exchange.clone() data-bar=s.bar_time.to_string() data-data=s.data_state.clone().unwrap_or_default()
                                on:click=move |_| selected.set(Some(row.clone()))>
                                <td class="sym">{s.symbol.clone()}</td>
                                <td>{s.timeframe.clone()}</td>
                                <td>{format_utc(s.bar_time)}</td>
                                <td class="small bar-age">{bar_age_text(s)}</td>
                                <td class="reason">{s.rejection_reason.clone().unwrap_or_default()}</td>
                                <td class="num">{s.prediction.as_ref().map(|p| pct(p.expected_move_pct)).unwrap_or_else(|| "–".into())}</td>
                                <td class="small">{confidence_text(s)}</td>
                                <td class="small">{s.model.clone()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </Show>
    }
}

/// Takes a signal on the viewer's paper accounts that do not follow it by themselves.
#[server]
pub async fn take_signal(
    csrf: String,
    candidate: i64,
) -> Result<Vec<crate::types::TakeView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.take_signal(&v, crate::types::TakeRequest { candidate })
                .await
        }
        .await,
    )
}

#[component]
fn SignalChart(signal: SignalView) -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let take = ServerAction::<TakeSignal>::new();
    let candidate = signal.id;
    let takeable = signal.plan.is_some();
    let q = query_of(&signal);
    let plan = signal.plan.clone();
    let chart = Resource::new(move || q.clone(), load_chart);
    let heading = format!(
        "{} {} — {}",
        signal.symbol, signal.timeframe, signal.exchange
    );
    view! {
        <section class="panel" id="signal-chart">
            <div class="panel-head">
                <h1>{heading}</h1>
                <Show when=move || takeable>
                    <Transition fallback=|| ()>
                        <ActionForm action=take attr:class="inline-form" attr:id="take-form">
                            <input type="hidden" name="csrf" value=csrf />
                            <input type="hidden" name="candidate" value=candidate />
                            <button type="submit" id="take-signal" title="Enter this plan on your paper accounts that take signals by hand">"Take on paper"</button>
                        </ActionForm>
                    </Transition>
                </Show>
            </div>
            {move || take.value().get().map(|r| match r {
                Err(e) => view! { <p class="error" id="take-result">{e.message}</p> }.into_any(),
                Ok(list) => view! {
                    <p class="muted" id="take-result">{list.iter().map(|t| match (&t.accepted, &t.reason) {
                        (true, _) => format!("#{}: entry placed for the next open", t.account),
                        (false, r) => format!("#{}: refused ({})", t.account, r.clone().unwrap_or_default()),
                    }).collect::<Vec<_>>().join(" · ")}</p>
                }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="empty">"Loading candles…"</p> }>
                {move || {
                    let plan = plan.clone();
                    chart.get().map(|r| match r {
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        Ok(d) => {
                            let hours = d.hours.as_ref().map(|h| view! {
                                <p class="muted" id="market-hours">{h.describe()}</p>
                            });
                            let chart = match plan {
                                Some(p) => view! { <CandleChart data=d plan=p /> }.into_any(),
                                None => view! { <CandleChart data=d /> }.into_any(),
                            };
                            view! { {hours} {chart} }.into_any()
                        }
                    })
                }}
            </Transition>
        </section>
    }
}
