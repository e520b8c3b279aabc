//! Paper accounts and the kill switch for the API: each call checks who may
//! see or change the account (its owner, or an admin).

use super::backend::PgBackend;
use crate::db::paper::{self as db, AccountRow};
use crate::paper::{self, FollowMode, OpenRequest};
use app::types::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn db_err(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "paper: database call failed");
    AppError::unavailable()
}

/// Price P&L of what is still open of `p` at `price`.
fn unrealised(p: &db::PositionRow, price: f64) -> f64 {
    let sign = if p.side == "long" { 1.0 } else { -1.0 };
    sign * p.qty_open * (price - p.entry_price)
}

fn view(
    r: &AccountRow,
    balance: Decimal,
    totals: &[(String, Decimal)],
    positions: &[db::PositionRow],
    closes: &BTreeMap<String, f64>,
) -> PaperAccountView {
    let total = |k: &str| {
        totals
            .iter()
            .find(|(kind, _)| kind == k)
            .map_or(Decimal::ZERO, |t| t.1)
            .to_string()
    };
    let unreal: f64 = positions
        .iter()
        .map(|p| closes.get(&p.symbol).map_or(0.0, |c| unrealised(p, *c)))
        .sum();
    let halt_reason = r.halt.as_ref().and_then(|h| {
        serde_json::from_value::<trading::risk::HaltReason>(h.clone())
            .ok()
            .map(|h| h.describe())
    });
    PaperAccountView {
        id: r.id,
        user_id: r.user_id,
        name: r.name.clone(),
        capital: r.capital.to_string(),
        balance: balance.to_string(),
        equity: trading::ledger::to_f64(balance) + unreal,
        realised_pnl: total("realised_pnl"),
        fees: total("fee"),
        funding: total("funding"),
        risk_profile: r.profile.clone(),
        follow: r.follow_mode.clone(),
        symbols: r.symbols.clone(),
        timeframe: r.timeframe.clone(),
        state: r.state.clone(),
        halt_reason,
        open_positions: positions.len(),
        applied_until: r.applied_until,
    }
}

fn stats(group: String, trades: &[&db::TradeRow]) -> JournalStats {
    let t = engine::backtest::metrics::TradeStats::of(trades.iter().map(|t| (t.pnl, t.tp1_hit)));
    JournalStats {
        group,
        trades: t.trades,
        win_rate: t.win_rate,
        tp1_hit_rate: t.tp1_hit_rate,
        profit_factor: t.profit_factor,
        pnl: t.pnl,
    }
}

fn grouped(trades: &[db::TradeRow], key: impl Fn(&db::TradeRow) -> String) -> Vec<JournalStats> {
    let mut g: BTreeMap<String, Vec<&db::TradeRow>> = BTreeMap::new();
    for t in trades {
        g.entry(key(t)).or_default().push(t);
    }
    g.into_iter().map(|(k, v)| stats(k, &v)).collect()
}

pub fn journal(trades: &[db::TradeRow]) -> PaperJournal {
    PaperJournal {
        all: stats("all".into(), &trades.iter().collect::<Vec<_>>()),
        by_symbol: grouped(trades, |t| t.symbol.clone()),
        by_side: grouped(trades, |t| t.side.clone()),
        by_source: grouped(trades, |t| {
            t.source.clone().unwrap_or_else(|| "unknown".into())
        }),
    }
}

pub fn trade_view(t: &db::TradeRow) -> PaperTradeView {
    PaperTradeView {
        symbol: t.symbol.clone(),
        side: t.side.clone(),
        signal_time: t.signal_time,
        entry_time: t.entry_time,
        exit_time: t.exit_time,
        exit_reason: t.exit_reason.clone(),
        entry_price: t.entry_price,
        qty: t.qty,
        tp1_hit: t.tp1_hit,
        pnl: t.pnl,
        return_pct: t.return_pct,
        source: t.source.clone(),
    }
}

pub fn ledger_view(l: db::LedgerRow) -> LedgerEntryView {
    LedgerEntryView {
        time: l.time,
        kind: l.kind,
        symbol: l.symbol,
        amount: l.amount,
        order: l.client_id,
        trade: l.trade_id,
    }
}

impl PgBackend {
    /// The account if the viewer may see it.
    pub(super) async fn paper_row(&self, v: &Viewer, id: i64) -> Result<AccountRow, AppError> {
        let row = db::get(self.pool(), id)
            .await
            .map_err(db_err)?
            .ok_or_else(|| AppError::not_found(format!("paper account {id}")))?;
        if row.user_id != v.id && !v.is_admin() {
            // Someone else's account does not exist for this viewer.
            return Err(AppError::not_found(format!("paper account {id}")));
        }
        Ok(row)
    }

    async fn closes(&self, r: &AccountRow) -> Result<BTreeMap<String, f64>, AppError> {
        let all = crate::db::candles::list_series(self.pool())
            .await
            .map_err(db_err)?;
        let mut out = BTreeMap::new();
        for s in all.iter().filter(|s| r.series_ids.contains(&s.id)) {
            let last = crate::db::candles::read_last(self.pool(), s.id, 1)
                .await
                .map_err(db_err)?;
            if let Some(c) = last.first() {
                out.insert(s.key.symbol.to_string(), c.close);
            }
        }
        Ok(out)
    }

    async fn paper_view(
        &self,
        r: &AccountRow,
    ) -> Result<
        (
            PaperAccountView,
            Vec<db::PositionRow>,
            BTreeMap<String, f64>,
        ),
        AppError,
    > {
        let pool = self.pool();
        let balance = db::balance(pool, r.id)
            .await
            .map_err(db_err)?
            .unwrap_or(r.capital);
        let totals = db::totals(pool, r.id).await.map_err(db_err)?;
        let positions = db::positions(pool, r.id).await.map_err(db_err)?;
        let closes = self.closes(r).await?;
        Ok((
            view(r, balance, &totals, &positions, &closes),
            positions,
            closes,
        ))
    }

    /// The viewer's accounts (an admin's list holds everyone's).
    pub(super) async fn list_paper(&self, v: &Viewer) -> Result<Vec<PaperAccountView>, AppError> {
        let rows = db::list(self.pool(), (!v.is_admin()).then_some(v.id))
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.paper_view(r).await?.0);
        }
        Ok(out)
    }

    pub(super) async fn open_paper(
        &self,
        v: &Viewer,
        n: NewPaperAccount,
    ) -> Result<PaperAccountView, AppError> {
        let capital: Decimal = n
            .capital
            .trim()
            .parse()
            .map_err(|e| AppError::invalid("capital", format!("{:?}: {e}", n.capital)))?;
        if capital <= Decimal::ZERO || capital > Decimal::from(1_000_000_000_i64) {
            return Err(AppError::invalid(
                "capital",
                "between 0 (exclusive) and 1,000,000,000",
            ));
        }
        if n.name.trim().is_empty() || n.name.len() > 100 {
            return Err(AppError::invalid("name", "1 to 100 characters"));
        }
        let follow = match n.follow.as_str() {
            "all" => FollowMode::All,
            "manual" => FollowMode::Manual,
            "symbols" if !n.symbols.is_empty() => FollowMode::Symbols(n.symbols.clone()),
            "symbols" => {
                return Err(AppError::invalid(
                    "symbols",
                    "name at least one symbol to follow",
                ));
            }
            other => {
                return Err(AppError::invalid(
                    "follow",
                    format!("{other:?}: all, symbols or manual"),
                ));
            }
        };
        let req = OpenRequest {
            user_id: v.id,
            name: n.name.clone(),
            capital,
            profile: n.risk_profile,
            follow,
            series: Vec::new(),
            min_net_profit: None,
        };
        let row = paper::open(self.pool(), self.app_settings(), &req)
            .await
            .map_err(|e| {
                let msg = format!("{e:#}");
                let field = ["symbols", "capital", "name"]
                    .into_iter()
                    .find(|f| msg.starts_with(&format!("{f}:")));
                match field {
                    Some(f) => AppError::invalid(f, msg),
                    None if msg.contains("no followed series") || msg.contains("one timeframe") => {
                        AppError::new(ErrorCode::Conflict, msg)
                    }
                    None => {
                        tracing::error!(error = %msg, "opening a paper account failed");
                        AppError::unavailable()
                    }
                }
            })?;
        tracing::info!(account = row.id, user = %v.username, "paper account opened");
        Ok(self.paper_view(&row).await?.0)
    }

    pub(super) async fn paper_detail(
        &self,
        v: &Viewer,
        id: i64,
    ) -> Result<PaperAccountDetail, AppError> {
        let r = self.paper_row(v, id).await?;
        let pool = self.pool();
        let (account, positions, closes) = self.paper_view(&r).await?;
        let tf_ms = engine::Timeframe::parse(&r.timeframe).map_or(0, |t| t.duration_ms());
        // Accounts run the engine's time stop (paper::config_for keeps its default).
        let time_stop =
            (engine::backtest::BacktestConfig::default().time_stop_hours * 3_600_000.0) as i64;
        let now = r.applied_until + tf_ms;
        let positions = positions
            .into_iter()
            .map(|p| {
                let current = closes.get(&p.symbol).copied();
                PaperPositionView {
                    unrealised_pnl: current.map(|c| unrealised(&p, c)),
                    current_price: current,
                    time_left_ms: (p.entry_time + time_stop - now).max(0),
                    symbol: p.symbol,
                    side: p.side,
                    qty: p.qty,
                    qty_open: p.qty_open,
                    entry_price: p.entry_price,
                    entry_time: p.entry_time,
                    stop: p.stop,
                    take_profit: p.take_profit,
                    targets_hit: p.targets_hit,
                    leverage: p.leverage,
                }
            })
            .collect();
        let orders = db::orders(pool, id, 100).await.map_err(db_err)?;
        let ids: Vec<String> = orders.iter().map(|o| o.client_id.clone()).collect();
        let mut history: BTreeMap<String, Vec<OrderEventView>> = BTreeMap::new();
        for e in db::order_events(pool, id, &ids).await.map_err(db_err)? {
            history
                .entry(e.client_id)
                .or_default()
                .push(OrderEventView {
                    time: e.time,
                    name: e.name,
                    detail: e.detail,
                });
        }
        let orders = orders
            .into_iter()
            .map(|o| PaperOrderView {
                history: history.remove(&o.client_id).unwrap_or_default(),
                client_id: o.client_id,
                symbol: o.symbol,
                side: o.side,
                kind: o.kind,
                purpose: o.purpose,
                qty: o.qty,
                price: o.price,
                reduce_only: o.reduce_only,
                status: o.status,
                filled_qty: o.filled_qty,
                avg_price: o.avg_price,
                fees: o.fees,
            })
            .collect();
        let equity = db::equity(pool, id)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|e| EquityPointView {
                time: e.time,
                equity: e.equity,
                drawdown_pct: e.drawdown_pct,
                open_positions: e.open_positions,
            })
            .collect();
        let trades = db::trades(pool, id).await.map_err(db_err)?;
        Ok(PaperAccountDetail {
            account,
            positions,
            orders,
            equity,
            journal: journal(&trades),
        })
    }

    pub async fn paper_trades(&self, v: &Viewer, id: i64) -> Result<Vec<db::TradeRow>, AppError> {
        self.paper_row(v, id).await?;
        db::trades(self.pool(), id).await.map_err(db_err)
    }

    pub async fn paper_ledger(
        &self,
        v: &Viewer,
        id: i64,
    ) -> Result<Vec<LedgerEntryView>, AppError> {
        self.paper_row(v, id).await?;
        Ok(db::ledger(self.pool(), id)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(ledger_view)
            .collect())
    }

    /// The owner (or an admin) halts one account; `None` resumes it.
    pub(super) async fn halt_paper(
        &self,
        v: &Viewer,
        id: i64,
        halt: Option<HaltRequest>,
    ) -> Result<PaperAccountView, AppError> {
        self.paper_row(v, id).await?;
        if let Some(h) = &halt
            && (h.reason.trim().is_empty() || h.reason.len() > 500)
        {
            return Err(AppError::invalid("reason", "1 to 500 characters"));
        }
        let reason = halt
            .as_ref()
            .map(|h| format!("{} (by {})", h.reason.trim(), v.username));
        paper::halt_account(
            self.pool(),
            id,
            reason.as_deref(),
            halt.as_ref().is_some_and(|h| h.flatten),
        )
        .await
        .map_err(|e| AppError::new(ErrorCode::Conflict, format!("{e:#}")))?;
        tracing::warn!(account = id, by = %v.username, halted = halt.is_some(), "paper account halt changed");
        let r = self.paper_row(v, id).await?;
        Ok(self.paper_view(&r).await?.0)
    }

    pub(super) async fn take(&self, v: &Viewer, r: TakeRequest) -> Result<Vec<TakeView>, AppError> {
        let taken = paper::take(self.pool(), v.id, r.candidate)
            .await
            .map_err(|e| {
                let msg = format!("{e:#}");
                if msg.contains("not found") {
                    AppError::not_found(format!("signal {}", r.candidate))
                } else {
                    AppError::new(ErrorCode::Conflict, msg)
                }
            })?;
        if taken.is_empty() {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "no paper account of yours takes this signal by hand: open one that follows \"none by itself\" (or other symbols) on its series",
            ));
        }
        tracing::info!(candidate = r.candidate, by = %v.username, accounts = taken.len(), "signal taken on paper");
        Ok(taken
            .into_iter()
            .map(|t| TakeView {
                account: t.account,
                accepted: t.accepted,
                reason: t.reason,
            })
            .collect())
    }

    pub(super) async fn kill_state(&self) -> Result<TradingHaltView, AppError> {
        let h = db::active_halt(self.pool()).await.map_err(db_err)?;
        Ok(TradingHaltView {
            halted: h.is_some(),
            flatten: h.as_ref().is_some_and(|h| h.flatten),
            by: h.as_ref().and_then(|h| h.by_user.clone()),
            since: h.as_ref().map(|h| h.created_at.to_rfc3339()),
            reason: h.map(|h| h.reason),
        })
    }

    /// Admin only: the global kill switch on (`Some`) or off.
    pub(super) async fn set_kill(
        &self,
        v: &Viewer,
        halt: Option<HaltRequest>,
    ) -> Result<TradingHaltView, AppError> {
        if !v.is_admin() {
            return Err(AppError::forbidden());
        }
        match halt {
            Some(h) => {
                if h.reason.trim().is_empty() || h.reason.len() > 500 {
                    return Err(AppError::invalid("reason", "1 to 500 characters"));
                }
                paper::kill(self.pool(), h.reason.trim(), h.flatten, Some(&v.username))
                    .await
                    .map_err(db_err)?;
                tracing::warn!(by = %v.username, reason = %h.reason, flatten = h.flatten, "kill switch engaged");
            }
            None => {
                paper::resume(self.pool()).await.map_err(db_err)?;
                tracing::warn!(by = %v.username, "kill switch lifted");
            }
        }
        self.kill_state().await
    }
}
