//! `/paper` — paper accounts: open one with fake money, follow the signals
//! on the backtester's own engine, and read what happened: open positions,
//! every order with its status history, the equity curve and drawdown, the
//! journal, the exact ledger (CSV), and the account's own kill switch.

use crate::chart::{LineChart, price};
use crate::live::use_live;
use crate::types::{
    AppError, JournalStats, PaperAccountDetail, PaperAccountView, format_utc, human_span,
};
use crate::{csrf_token, use_viewer};
use engine::risk::RiskProfile;
use leptos::prelude::*;

#[server]
pub async fn list_paper_accounts() -> Result<Vec<PaperAccountView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.paper_accounts(&v).await
        }
        .await,
    )
}

#[server]
pub async fn open_paper_account(
    csrf: String,
    name: String,
    capital: String,
    risk_profile: RiskProfile,
    follow: String,
    symbols: String,
) -> Result<PaperAccountView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let n = crate::types::NewPaperAccount {
                name,
                capital,
                risk_profile,
                follow,
                symbols: symbols
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            b.open_paper_account(&v, n).await
        }
        .await,
    )
}

#[server]
pub async fn load_paper_account(id: i64) -> Result<PaperAccountDetail, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.paper_account(&v, id).await
        }
        .await,
    )
}

/// Halts the account (an empty reason resumes it).
#[server]
pub async fn halt_paper_account(
    csrf: String,
    id: i64,
    reason: String,
    #[server(default)] flatten: Option<String>,
) -> Result<PaperAccountView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let h = (!reason.trim().is_empty()).then(|| crate::types::HaltRequest {
                reason,
                flatten: flatten.is_some(),
            });
            b.halt_paper_account(&v, id, h).await
        }
        .await,
    )
}

/// The account's broker connection, if it has one.
#[server]
pub async fn load_venue(id: i64) -> Result<Option<crate::types::VenueConnectionView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            match b.venue_connection(&v, id).await {
                Ok(c) => Ok(Some(c)),
                Err(e) if matches!(e.code, crate::types::ErrorCode::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .await,
    )
}

#[server]
pub async fn connect_venue(
    csrf: String,
    id: i64,
    venue: String,
    base_url: String,
    api_key: String,
    api_secret: String,
) -> Result<crate::types::VenueConnectionView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let c = crate::types::NewVenueConnection {
                venue,
                base_url: (!base_url.trim().is_empty()).then_some(base_url),
                api_key,
                api_secret,
            };
            b.connect_venue(&v, id, c).await
        }
        .await,
    )
}

#[server]
pub async fn disconnect_venue(csrf: String, id: i64) -> Result<(), AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.disconnect_venue(&v, id).await
        }
        .await,
    )
}

/// Admin: `live` "true" switches the connection live, anything else back to dry-run.
#[server]
pub async fn set_venue_mode(
    csrf: String,
    id: i64,
    live: String,
) -> Result<crate::types::VenueConnectionView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let m = crate::types::VenueModeRequest {
                live: live == "true",
            };
            b.set_venue_mode(&v, id, m).await
        }
        .await,
    )
}

fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn money(s: &str) -> String {
    s.parse::<f64>()
        .map_or_else(|_| s.to_owned(), |v| format!("${v:.2}"))
}

#[component]
pub fn PaperPage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let open = ServerAction::<OpenPaperAccount>::new();
    let accounts = Resource::new(
        move || (open.version().get(), live.resync.get(), live.paper.get()),
        |_| list_paper_accounts(),
    );
    let selected = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(Ok(a)) = open.value().get() {
            selected.set(Some(a.id));
        }
    });
    view! {
        <section class="panel" id="paper">
            <div class="panel-head"><h1>"Paper trading"</h1></div>
            <p class="summary">"Follow the signals with fake money first. Each account runs on the backtester's own engine: entries at the next open with slippage, TP1/TP2/TP3 at 30/40/30 % as maker limits, break-even and ATR trail after TP1, the 48 h time stop, fees and real funding; the circuit breakers and your own halt stop new entries."</p>
            <Transition fallback=|| ()>
            <ActionForm action=open attr:class="grid-form" attr:id="paper-open">
                <input type="hidden" name="csrf" value=csrf />
                <label>"Name"<input name="name" id="pa-name" value="my paper account" required maxlength="100" /></label>
                <label>"Capital (USD)"<input name="capital" id="pa-capital" value="100" inputmode="decimal" required /></label>
                <label>"Profile"
                    <select name="risk_profile" id="pa-profile">
                        {RiskProfile::ALL.into_iter().map(|p| view! { <option value=p.as_str() selected=p == RiskProfile::Medium>{p.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Follows"
                    <select name="follow" id="pa-follow">
                        <option value="all" selected>"every accepted signal"</option>
                        <option value="symbols">"only these symbols"</option>
                        <option value="manual">"none by itself"</option>
                    </select>
                </label>
                <label>"Symbols"<input name="symbols" id="pa-symbols" placeholder="BTC/USDT, ETH/USDT" /></label>
                <button type="submit" id="pa-open" disabled=move || open.pending().get()>"Open account"</button>
            </ActionForm>
            </Transition>
            {move || open.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="pa-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
            })}
            <Transition fallback=|| ()>
                {move || accounts.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty" id="pa-none">"No paper accounts yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="pa-accounts">
                            <thead><tr><th class="num">"#"</th><th>"Name"</th><th>"Profile"</th><th class="num">"Capital"</th><th class="num">"Balance"</th><th class="num">"Equity"</th><th class="num">"Open"</th><th>"State"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|a| {
                                    let id = a.id;
                                    view! {
                                        <tr class="pa-row" data-account=id data-state=a.state.clone() on:click=move |_| selected.set(Some(id))>
                                            <td class="num">{id}</td>
                                            <td>{a.name.clone()}</td>
                                            <td>{a.risk_profile.clone()}</td>
                                            <td class="num">{money(&a.capital)}</td>
                                            <td class="num">{money(&a.balance)}</td>
                                            <td class="num">{format!("${:.2}", a.equity)}</td>
                                            <td class="num">{a.open_positions}</td>
                                            <td class=format!("state state-{}", a.state)>{a.state.clone()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
        {move || selected.get().map(|id| view! { <AccountDetail id /> })}
    }
}

#[component]
fn AccountDetail(id: i64) -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let halt = ServerAction::<HaltPaperAccount>::new();
    // Every step of any account is announced; this one refetches on its own.
    let changed = Memo::new(move |_| live.paper.get().filter(|(a, _)| *a == id));
    let detail = Resource::new(
        move || (id, changed.get(), halt.version().get(), live.resync.get()),
        |(id, _, _, _)| load_paper_account(id),
    );
    view! {
        <section class="panel" id="pa-detail" data-account=id>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || detail.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(d) => view! { <Detail d csrf=csrf() halt /> }.into_any(),
                })}
            </Transition>
            {move || halt.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="pa-halt-error">{e.message}</p>
            })}
        </section>
        <Broker id />
    }
}

/// A broker connection: in dry-run every order the account places is
/// validated by the venue and none placed; an admin switches it live.
#[component]
fn Broker(id: i64) -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let admin = move || {
        viewer
            .get()
            .and_then(|v| v.ok().flatten())
            .is_some_and(|v| v.is_admin())
    };
    let connect = ServerAction::<ConnectVenue>::new();
    let remove = ServerAction::<DisconnectVenue>::new();
    let mode = ServerAction::<SetVenueMode>::new();
    let changed = Memo::new(move |_| live.paper.get().filter(|(a, _)| *a == id));
    let conn = Resource::new(
        move || {
            (
                id,
                changed.get(),
                connect.version().get(),
                remove.version().get(),
                mode.version().get(),
            )
        },
        |(id, ..)| load_venue(id),
    );
    view! {
        <section class="panel" id="pa-broker">
            <h2>"Broker"</h2>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || conn.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(None) => view! {
                        <p class="summary">"Follow this account's orders at Binance USDⓈ-M, or at Alpaca for US stocks (paper trading unless the URL says otherwise; whole shares, exits as one-cancels-other pairs). The keys are checked with the venue, stored encrypted and never shown again; the connection starts in dry-run (orders validated, none placed) until an admin switches it live."</p>
                        <ActionForm action=connect attr:class="inline-form" attr:id="pa-broker-form">
                            <input type="hidden" name="csrf" value=csrf() />
                            <input type="hidden" name="id" value=id />
                            <select name="venue" id="pa-broker-venue">
                                <option value="binance-usdm" selected>"Binance USDⓈ-M"</option>
                                <option value="alpaca">"Alpaca (US stocks)"</option>
                            </select>
                            <input name="base_url" id="pa-broker-url" placeholder="default: the venue's (Alpaca: paper)" />
                            <input name="api_key" id="pa-broker-key" placeholder="API key" required autocomplete="off" />
                            <input name="api_secret" id="pa-broker-secret" type="password" placeholder="API secret" required autocomplete="off" />
                            <button type="submit" id="pa-broker-connect">"Connect"</button>
                        </ActionForm>
                    }.into_any(),
                    Ok(Some(c)) => {
                        let is_live = c.mode == "live";
                        view! {
                            <p class="summary" id="pa-broker-state" data-mode=c.mode.clone()>
                                {format!("{} at {} with key {} · {}", c.venue, c.base_url, c.key_hint,
                                    if is_live { format!("LIVE since {} (by {})", c.live_at.clone().unwrap_or_default(), c.live_by.clone().unwrap_or_default()) } else { "dry-run: orders validated, none placed".into() })}
                            </p>
                            <div class="cards">
                                <div class="card"><div class="card-label">"Validated"</div><div class="card-value" id="pa-broker-validated">{c.validated}</div></div>
                                <div class="card"><div class="card-label">"Refused"</div><div class="card-value" id="pa-broker-refused">{c.refused}</div></div>
                                <div class="card"><div class="card-label">"Venue trades"</div><div class="card-value">{c.trades}</div></div>
                            </div>
                            <Show when=admin>
                                <ActionForm action=mode attr:class="inline-form" attr:id="pa-broker-mode">
                                    <input type="hidden" name="csrf" value=csrf() />
                                    <input type="hidden" name="id" value=id />
                                    <input type="hidden" name="live" value=if is_live { "false" } else { "true" } />
                                    <button type="submit" class=if is_live { "" } else { "danger" } id="pa-broker-switch">
                                        {if is_live { "Back to dry-run" } else { "Switch live (real orders)" }}
                                    </button>
                                </ActionForm>
                            </Show>
                            {(!is_live).then(|| view! {
                                <ActionForm action=remove attr:class="inline-form">
                                    <input type="hidden" name="csrf" value=csrf() />
                                    <input type="hidden" name="id" value=id />
                                    <button type="submit" id="pa-broker-remove">"Remove the connection"</button>
                                </ActionForm>
                            })}
                            <table class="grid" id="pa-broker-journal">
                                <thead><tr><th>"Time"</th><th>"What"</th><th>"Detail"</th></tr></thead>
                                <tbody>
                                    {c.journal.into_iter().rev().take(30).map(|j| {
                                        let kind = j.kind.clone();
                                        view! {
                                            <tr data-kind=kind><td>{format_utc(j.time)}</td><td>{j.kind}</td><td class="small">{j.detail}</td></tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                })}
            </Transition>
            {move || connect.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="pa-broker-error">{e.message}</p>
            })}
            {move || mode.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error">{e.message}</p>
            })}
            {move || remove.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error">{e.message}</p>
            })}
        </section>
    }
}

#[component]
fn Journal(rows: Vec<JournalStats>, id: &'static str) -> impl IntoView {
    view! {
        <table class="grid" id=id>
            <thead><tr><th></th><th class="num">"Trades"</th><th class="num">"Win"</th><th class="num">"TP1 hit"</th><th class="num">"PF"</th><th class="num">"P&L"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|s| view! {
                    <tr>
                        <td>{s.group}</td>
                        <td class="num">{s.trades}</td>
                        <td class="num">{rate(s.win_rate)}</td>
                        <td class="num">{rate(s.tp1_hit_rate)}</td>
                        <td class="num">{s.profit_factor.map_or("–".into(), |v| format!("{v:.2}"))}</td>
                        <td class="num">{format!("${:+.2}", s.pnl)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Detail(
    d: PaperAccountDetail,
    csrf: String,
    halt: ServerAction<HaltPaperAccount>,
) -> impl IntoView {
    let a = d.account;
    let id = a.id;
    let cards = [
        ("Balance", money(&a.balance)),
        ("Equity", format!("${:.2}", a.equity)),
        ("Realised P&L", money(&a.realised_pnl)),
        ("Fees", money(&a.fees)),
        ("Funding", money(&a.funding)),
        ("Open positions", a.open_positions.to_string()),
    ];
    let equity = vec![(
        "equity".to_string(),
        "equity",
        d.equity.iter().map(|p| (p.time, p.equity)).collect(),
    )];
    let drawdown = vec![(
        "drawdown %".to_string(),
        "drawdown",
        d.equity
            .iter()
            .map(|p| (p.time, -p.drawdown_pct.abs()))
            .collect(),
    )];
    let halted = a.state != "active";
    let mut all = vec![d.journal.all.clone()];
    all.extend(d.journal.by_side.clone());
    view! {
        <div class="panel-head">
            <h1>{format!("#{id} {}", a.name)}</h1>
            <span class=format!("state state-{}", a.state) id="pa-state">{a.state.clone()}</span>
        </div>
        <p class="summary">{format!("{} profile, {} capital, {} {}; applied through {}", a.risk_profile, money(&a.capital), a.timeframe,
            match a.follow.as_str() { "symbols" => format!("following {}", a.symbols.join(", ")), "manual" => "taking no signal by itself".into(), _ => "following every accepted signal".into() },
            format_utc(a.applied_until))}</p>
        {a.halt_reason.clone().map(|r| view! { <p class="warn" id="pa-halt-reason">{r}</p> })}
        <ActionForm action=halt attr:class="inline-form" attr:id="pa-halt-form">
            <input type="hidden" name="csrf" value=csrf />
            <input type="hidden" name="id" value=id />
            {if halted {
                view! {
                    <input type="hidden" name="reason" value="" />
                    <button type="submit" id="pa-resume">"Resume trading"</button>
                }.into_any()
            } else {
                view! {
                    <input name="reason" id="pa-reason" placeholder="why (shown on the account)" required maxlength="500" />
                    <label class="check"><input type="checkbox" name="flatten" id="pa-flatten" />"close open positions"</label>
                    <button type="submit" class="danger" id="pa-halt">"Halt this account"</button>
                }.into_any()
            }}
        </ActionForm>
        <div class="cards" id="pa-cards">
            {cards.into_iter().map(|(k, v)| view! {
                <div class="card"><div class="card-label">{k}</div><div class="card-value">{v}</div></div>
            }).collect_view()}
        </div>
        <h2>"Open positions"</h2>
        {if d.positions.is_empty() {
            view! { <p class="empty" id="pa-no-positions">"Flat."</p> }.into_any()
        } else {
            view! {
                <table class="grid" id="pa-positions">
                    <thead><tr><th>"Symbol"</th><th>"Side"</th><th class="num">"Entry"</th><th class="num">"Now"</th><th class="num">"Unrealised"</th><th class="num">"Stop"</th><th>"Targets"</th><th class="num">"Open qty"</th><th>"Time left"</th></tr></thead>
                    <tbody>
                        {d.positions.into_iter().map(|p| view! {
                            <tr>
                                <td>{p.symbol}</td>
                                <td class=format!("side-{}", p.side)>{p.side.clone()}</td>
                                <td class="num">{price(p.entry_price)}</td>
                                <td class="num">{p.current_price.map(price).unwrap_or_default()}</td>
                                <td class="num">{p.unrealised_pnl.map_or(String::new(), |v| format!("${v:+.2}"))}</td>
                                <td class="num">{price(p.stop)}</td>
                                <td>{format!("{}/3 reached ({})", p.targets_hit, p.take_profit.iter().map(|t| price(*t)).collect::<Vec<_>>().join(" · "))}</td>
                                <td class="num">{format!("{:.6}", p.qty_open)}</td>
                                <td>{human_span(p.time_left_ms)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <h2>"Equity"</h2>
        <LineChart series=equity id="pa-equity" />
        <h2>"Drawdown"</h2>
        <LineChart series=drawdown height=120.0 id="pa-drawdown" />
        <h2>"Journal"</h2>
        <Journal rows=all id="pa-journal" />
        <Journal rows=d.journal.by_symbol id="pa-journal-symbols" />
        <Journal rows=d.journal.by_source id="pa-journal-sources" />
        <div class="panel-head">
            <h2>"Orders"</h2>
            <span>
                <a href=format!("/api/v1/paper/accounts/{id}/trades.csv") id="pa-trades-csv" download>"Trades CSV"</a>
                " · "
                <a href=format!("/api/v1/paper/accounts/{id}/ledger.csv") id="pa-ledger-csv" download>"Ledger CSV"</a>
            </span>
        </div>
        <table class="grid" id="pa-orders">
            <thead><tr><th>"Order"</th><th>"Symbol"</th><th>"Purpose"</th><th>"Side"</th><th>"Kind"</th><th class="num">"Qty"</th><th class="num">"Price"</th><th>"Status"</th><th>"History"</th></tr></thead>
            <tbody>
                {d.orders.into_iter().map(|o| {
                    let status = o.status.clone();
                    view! {
                    <tr class="pa-order" data-status=status>
                        <td>{o.client_id}</td>
                        <td>{o.symbol}</td>
                        <td>{o.purpose}</td>
                        <td>{o.side}</td>
                        <td>{o.kind}</td>
                        <td class="num">{o.qty}</td>
                        <td class="num">{o.avg_price.or(o.price).unwrap_or_default()}</td>
                        <td class="status">{o.status}</td>
                        <td class="small">{o.history.iter().map(|e| format!("{} {}", format_utc(e.time), e.name.trim_start_matches("Order"))).collect::<Vec<_>>().join(" → ")}</td>
                    </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
