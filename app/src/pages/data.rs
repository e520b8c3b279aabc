//! `/data` — what market data the store holds, per series.

use crate::types::{AppError, ChartQuery, QualityView, SeriesCoverage, format_utc};
use leptos::prelude::*;

#[server]
pub async fn load_quality(q: ChartQuery) -> Result<QualityView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.quality(&v, q).await
        }
        .await,
    )
}

#[server]
pub async fn load_coverage() -> Result<Vec<SeriesCoverage>, AppError> {
    crate::backend::answer(
        async move {
            let (b, _) = crate::backend::caller(None)?;
            b.coverage().await
        }
        .await,
    )
}

#[component]
pub fn DataPage() -> impl IntoView {
    let coverage = Resource::new(|| (), |_| load_coverage());
    let (filter, set_filter) = signal(String::new());
    let checked = RwSignal::new(None::<ChartQuery>);
    view! {
        <section class="panel">
            <div class="panel-head">
                <h1>"Market data"</h1>
                <input
                    id="series-filter"
                    type="search"
                    placeholder="Filter by symbol, exchange or timeframe"
                    on:input=move |ev| set_filter.set(event_target_value(&ev))
                    prop:value=filter
                />
            </div>
            <Transition fallback=|| view! { <p class="empty">"Loading coverage…"</p> }>
                <ErrorBoundary fallback=|errors| {
                    view! {
                        <p class="error">
                            "Could not load coverage: "
                            {move || errors.get().into_iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join("; ")}
                        </p>
                    }
                }>
                    {move || coverage.get().map(|r| r.map(|rows| view! { <CoverageTable rows filter checked /> }))}
                </ErrorBoundary>
            </Transition>
        </section>
        {move || checked.get().map(|q| view! { <Quality q /> })}
    }
}

#[component]
fn CoverageTable(
    rows: Vec<SeriesCoverage>,
    filter: ReadSignal<String>,
    checked: RwSignal<Option<ChartQuery>>,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No candles stored yet. Run "<code>"traderai import"</code>" or a backfill."</p> }.into_any();
    }
    let total: i64 = rows.iter().map(|r| r.bars).sum();
    let count = rows.len();
    let visible = move || {
        let needle = filter.get().trim().to_lowercase();
        rows.iter()
            .filter(|r| {
                needle.is_empty()
                    || [&r.symbol, &r.exchange, &r.timeframe, &r.market]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    view! {
        <p class="summary">{format!("{count} series, {total} candles")}</p>
        <table class="grid" id="coverage">
            <thead>
                <tr>
                    <th>"Symbol"</th>
                    <th>"Exchange"</th>
                    <th>"Market"</th>
                    <th>"TF"</th>
                    <th class="num">"Bars"</th>
                    <th>"First (UTC)"</th>
                    <th>"Last (UTC)"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                <For each=visible key=|r| (r.exchange.clone(), r.market.clone(), r.symbol.clone(), r.timeframe.clone()) let:r>
                    <tr class="series-row">
                        <td class="sym">{r.symbol.clone()}</td>
                        <td>{r.exchange.clone()}</td>
                        <td>{r.market.clone()}</td>
                        <td>{r.timeframe.clone()}</td>
                        <td class="num">{r.bars}</td>
                        <td>{format_utc(r.first)}</td>
                        <td>{format_utc(r.last)}</td>
                        <td>
                            <button class="link check-gaps" on:click={
                                let q = ChartQuery {
                                    exchange: r.exchange.clone(),
                                    market: r.market.clone(),
                                    symbol: r.symbol.clone(),
                                    timeframe: r.timeframe.clone(),
                                    bars: None,
                                };
                                move |_| checked.set(Some(q.clone()))
                            }>"Gaps"</button>
                        </td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Quality(q: ChartQuery) -> impl IntoView {
    let title = format!(
        "{} {} {} — gaps and quality",
        q.exchange, q.symbol, q.timeframe
    );
    let report = Resource::new(move || q.clone(), load_quality);
    view! {
        <section class="panel" id="quality">
            <div class="panel-head"><h1>{title}</h1></div>
            <Transition fallback=|| view! { <p class="empty">"Checking…"</p> }>
                {move || report.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(q) => view! {
                        <p class="summary" id="quality-summary">
                            {format!(
                                "{} bars ({} session): {} gaps with {} missing bars, {} zero-volume bars, {} bars with contradictory OHLC.",
                                q.bars, session_label(&q.session), q.gap_count, q.missing_bars, q.zero_volume, q.inconsistencies
                            )}
                        </p>
                        {(!q.sources.is_empty()).then(|| view! {
                            <table class="grid" id="sources-table">
                                <thead><tr><th>"Supplied by"</th><th>"From (UTC)"</th><th>"To (UTC)"</th><th>"Prices"</th></tr></thead>
                                <tbody>
                                    {q.sources.iter().map(|r| view! {
                                        <tr class="source-row"><td>{r.provider.clone()}</td><td>{format_utc(r.from)}</td><td>{format_utc(r.to)}</td><td>{adjustment_label(&r.adjustment)}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <p class="muted small" id="raw-close-note">{
                                if q.raw_closes > 0 {
                                    format!("Research uses the adjusted bars; {} raw closes (as traded) are kept for display.", q.raw_closes)
                                } else {
                                    "Research uses these bars as supplied; no raw closes are kept.".to_string()
                                }
                            }</p>
                        })}
                        {(!q.gaps.is_empty()).then(|| view! {
                            <table class="grid" id="gaps-table">
                                <thead><tr><th>"From (UTC)"</th><th>"To (UTC)"</th><th class="num">"Missing bars"</th></tr></thead>
                                <tbody>
                                    {q.gaps.iter().map(|g| view! {
                                        <tr class="gap-row"><td>{format_utc(g.from)}</td><td>{format_utc(g.to)}</td><td class="num">{g.missing}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <p class="muted small">"The largest 50 gaps."</p>
                        })}
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// What a provider's adjustment means to a reader.
fn adjustment_label(a: &str) -> &'static str {
    match a {
        "all" => "adjusted for splits and dividends",
        "split" => "adjusted for splits",
        _ => "as traded",
    }
}

/// The session a quality report counted gaps against.
fn session_label(s: &str) -> &str {
    match s {
        "xnys" => "NYSE/Nasdaq: weekends, holidays and closed hours are not gaps",
        "weekdays" => "weekdays",
        "continuous" => "around the clock",
        other => other,
    }
}
