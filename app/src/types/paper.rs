//! Paper accounts: what opening one takes, and what its page and the API show.
//! Money is a decimal string (exact, from the ledger); prices and P&L of
//! positions and trades are the engine's floats.

use serde::{Deserialize, Serialize};

/// Open a paper account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewPaperAccount {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// Starting capital in quote currency, a decimal string ("100", "2500.50").
    #[cfg_attr(feature = "ssr", schema(example = "100"))]
    pub capital: String,
    #[cfg_attr(feature = "ssr", schema(value_type = super::RiskProfileName, example = "medium"))]
    pub risk_profile: engine::risk::RiskProfile,
    /// all (every signal the profile accepts), symbols (only `symbols`), manual.
    #[serde(default = "all")]
    pub follow: String,
    #[serde(default)]
    pub symbols: Vec<String>,
}

fn all() -> String {
    "all".into()
}

/// The kill switch of one account, or the global one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HaltRequest {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 500))]
    pub reason: String,
    /// Close open positions at the last price as well.
    #[serde(default)]
    pub flatten: bool,
}

/// The global kill switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TradingHaltView {
    pub halted: bool,
    pub reason: Option<String>,
    pub flatten: bool,
    pub by: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperAccountView {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub capital: String,
    /// Capital plus every ledger entry (exact).
    pub balance: String,
    /// Balance plus the open positions at their last close.
    pub equity: f64,
    pub realised_pnl: String,
    pub fees: String,
    pub funding: String,
    pub risk_profile: String,
    pub follow: String,
    pub symbols: Vec<String>,
    pub timeframe: String,
    /// active, reducing (only closing orders pass), halted.
    pub state: String,
    /// Why it is not active.
    pub halt_reason: Option<String>,
    pub open_positions: usize,
    /// Close time (UTC ms) of the last bar it applied.
    pub applied_until: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperPositionView {
    pub symbol: String,
    pub side: String,
    pub qty: f64,
    pub qty_open: f64,
    pub entry_price: f64,
    pub entry_time: i64,
    pub current_price: Option<f64>,
    pub unrealised_pnl: Option<f64>,
    pub stop: f64,
    pub take_profit: Vec<f64>,
    /// Targets reached (0–3).
    pub targets_hit: i32,
    pub leverage: f64,
    /// Until the time stop closes it, ms.
    pub time_left_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OrderEventView {
    pub time: i64,
    /// OrderSubmitted, OrderAccepted, OrderFilled, OrderCanceled, …
    pub name: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperOrderView {
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    /// entry, tp1, tp2, tp3, stop, exit.
    pub purpose: String,
    pub qty: String,
    pub price: Option<String>,
    pub reduce_only: bool,
    pub status: String,
    pub filled_qty: String,
    pub avg_price: Option<String>,
    pub fees: String,
    pub history: Vec<OrderEventView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperTradeView {
    pub symbol: String,
    pub side: String,
    pub signal_time: i64,
    pub entry_time: i64,
    pub exit_time: i64,
    pub exit_reason: String,
    pub entry_price: f64,
    pub qty: f64,
    pub tp1_hit: bool,
    pub pnl: f64,
    pub return_pct: f64,
    /// The signal's source (model or technical rule).
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerEntryView {
    pub time: i64,
    /// realised_pnl, fee, funding.
    pub kind: String,
    pub symbol: String,
    pub amount: String,
    pub order: Option<String>,
    pub trade: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EquityPointView {
    pub time: i64,
    pub equity: f64,
    pub drawdown_pct: f64,
    pub open_positions: i32,
}

/// Journal figures of a group of closed trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JournalStats {
    /// "all", a symbol, long/short, or a signal source.
    pub group: String,
    pub trades: usize,
    pub win_rate: Option<f64>,
    pub tp1_hit_rate: Option<f64>,
    /// Gross profit over gross loss; none without a loss.
    pub profit_factor: Option<f64>,
    pub pnl: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperJournal {
    pub all: JournalStats,
    pub by_symbol: Vec<JournalStats>,
    pub by_side: Vec<JournalStats>,
    pub by_source: Vec<JournalStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaperAccountDetail {
    pub account: PaperAccountView,
    pub positions: Vec<PaperPositionView>,
    /// Newest first, at most 100, each with its status history.
    pub orders: Vec<PaperOrderView>,
    pub equity: Vec<EquityPointView>,
    pub journal: PaperJournal,
}

/// "Take" a signal from the board on the caller's manual paper accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TakeRequest {
    /// The signal's id on the board.
    pub candidate: i64,
}

/// What a Take did on one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TakeView {
    pub account: i64,
    pub accepted: bool,
    pub reason: Option<String>,
}

/// Connect a paper account to a broker (Binance USDⓈ-M, or Alpaca for US
/// stocks). The keys are checked with the venue, stored encrypted, and
/// never shown again.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewVenueConnection {
    /// binance-usdm or alpaca
    #[cfg_attr(feature = "ssr", schema(example = "binance-usdm"))]
    pub venue: String,
    /// The venue's REST base; default https://fapi.binance.com (Binance) or
    /// https://paper-api.alpaca.markets (Alpaca paper trading).
    #[serde(default)]
    pub base_url: Option<String>,
    #[cfg_attr(feature = "ssr", schema(min_length = 1))]
    pub api_key: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 1, write_only))]
    pub api_secret: String,
}

impl std::fmt::Debug for NewVenueConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewVenueConnection")
            .field("venue", &self.venue)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// One line of a connection's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VenueJournalLine {
    /// ms since the epoch (the account's clock).
    pub time: i64,
    /// validated, refused, trade, divergence, reconciled, answer_lost, mode, error
    pub kind: String,
    /// What happened, as JSON text.
    pub detail: String,
}

/// A paper account's broker connection: never its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VenueConnectionView {
    pub account: i64,
    pub venue: String,
    pub base_url: String,
    /// The API key's first characters.
    pub key_hint: String,
    /// dry_run (orders validated, none placed) or live.
    pub mode: String,
    /// The admin who switched it live, and when.
    pub live_by: Option<String>,
    pub live_at: Option<String>,
    pub created_at: String,
    pub validated: i64,
    pub refused: i64,
    pub trades: i64,
    /// The newest 100 lines, oldest first.
    pub journal: Vec<VenueJournalLine>,
}

/// An admin's switch of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VenueModeRequest {
    /// true: place real orders; false: back to dry-run.
    pub live: bool,
}
