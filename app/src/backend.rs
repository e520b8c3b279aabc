//! What the pages need from the server, as a trait the server implements.
//! Keeps SQL in the server crate while server functions live in `app`; the
//! REST API calls the same implementation, so both enforce the same rules
//! (each method checks the viewer's role itself).

use crate::types::*;
use futures::future::BoxFuture;
use std::sync::Arc;

pub type Answer<'a, T> = BoxFuture<'a, Result<T, AppError>>;

pub trait Backend: Send + Sync + 'static {
    fn coverage(&self) -> Answer<'_, Vec<SeriesCoverage>>;

    fn settings(&self, v: &Viewer) -> Answer<'_, UserSettings>;
    fn save_settings(&self, v: &Viewer, s: UserSettings) -> Answer<'_, UserSettings>;

    /// A user sees the jobs they started; an admin sees all.
    fn jobs(&self, v: &Viewer, limit: i64) -> Answer<'_, Vec<JobView>>;
    fn job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView>;
    fn cancel_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView>;
    fn resume_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView>;
    /// Admin only.
    fn start_backfill(&self, v: &Viewer, r: BackfillRequest) -> Answer<'_, JobView>;

    /// Admin only.
    fn users(&self, v: &Viewer) -> Answer<'_, Vec<UserView>>;
    fn create_user(&self, v: &Viewer, u: NewUser) -> Answer<'_, UserView>;
    fn update_user(&self, v: &Viewer, id: i64, p: UserPatch) -> Answer<'_, UserView>;

    /// The viewer's own tokens.
    fn tokens(&self, v: &Viewer) -> Answer<'_, Vec<TokenView>>;
    fn create_token(&self, v: &Viewer, name: String) -> Answer<'_, NewToken>;
    fn revoke_token(&self, v: &Viewer, id: i64) -> Answer<'_, TokenView>;

    /// Admin only.
    fn system(&self, v: &Viewer) -> Answer<'_, SystemStatus>;
    /// Admin only: the followed universe, and changing it (followers restart).
    fn follow_config(&self, v: &Viewer) -> Answer<'_, FollowConfigView>;
    fn save_follow_config(&self, v: &Viewer, e: FollowEdit) -> Answer<'_, FollowConfigView>;

    /// Every series' newest candidate judged for `settings` (the viewer's
    /// saved ones when `None`).
    fn signals(&self, v: &Viewer, settings: Option<UserSettings>) -> Answer<'_, SignalBoard>;
    /// Gaps, zero-volume bars and OHLC contradictions of one stored series.
    fn quality(&self, v: &Viewer, q: ChartQuery) -> Answer<'_, QualityView>;
    /// Candles of one series with the viewer's past signals on them.
    fn chart(&self, v: &Viewer, q: ChartQuery) -> Answer<'_, ChartData>;
    /// Queue a backtest job (any signed-in user; they see their own).
    fn start_backtest(&self, v: &Viewer, r: BacktestRequest) -> Answer<'_, JobView>;
    /// Admin only: the model registry, its decisions, and training.
    fn models(&self, v: &Viewer) -> Answer<'_, Vec<ModelView>>;
    fn model_events(&self, v: &Viewer, limit: i64) -> Answer<'_, Vec<ModelEventView>>;
    fn promote_model(&self, v: &Viewer, id: i64) -> Answer<'_, RegistryDecision>;
    fn rollback_model(&self, v: &Viewer, r: RollbackRequest) -> Answer<'_, RegistryDecision>;
    fn start_training(&self, v: &Viewer, r: TrainRequest) -> Answer<'_, JobView>;
    /// Admin only: queue an evaluation (`traderai evaluate` as a job).
    fn start_evaluation(&self, v: &Viewer, r: EvaluateRequest) -> Answer<'_, JobView>;
    /// Admin only: scan every series now.
    fn scan_now(&self, v: &Viewer) -> Answer<'_, ScanView>;

    /// Paper accounts: the viewer's (an admin's list holds everyone's);
    /// opening one; one with its positions, orders, equity and journal; the
    /// owner's halt (`None` resumes). Someone else's account is not found.
    fn paper_accounts(&self, v: &Viewer) -> Answer<'_, Vec<PaperAccountView>>;
    fn open_paper_account(&self, v: &Viewer, n: NewPaperAccount) -> Answer<'_, PaperAccountView>;
    fn paper_account(&self, v: &Viewer, id: i64) -> Answer<'_, PaperAccountDetail>;
    fn halt_paper_account(
        &self,
        v: &Viewer,
        id: i64,
        h: Option<HaltRequest>,
    ) -> Answer<'_, PaperAccountView>;
    /// Takes a board signal on the viewer's accounts that do not follow it by themselves.
    fn take_signal(&self, v: &Viewer, r: TakeRequest) -> Answer<'_, Vec<TakeView>>;
    /// The global kill switch; changing it is for admins.
    fn trading_halt(&self) -> Answer<'_, TradingHaltView>;
    fn set_trading_halt(&self, v: &Viewer, h: Option<HaltRequest>) -> Answer<'_, TradingHaltView>;

    /// An account's broker connection (owner or admin), never its keys.
    fn venue_connection(&self, v: &Viewer, account: i64) -> Answer<'_, VenueConnectionView>;
    /// Connects an account to a broker, in dry-run (owner).
    fn connect_venue(
        &self,
        v: &Viewer,
        account: i64,
        c: NewVenueConnection,
    ) -> Answer<'_, VenueConnectionView>;
    /// Removes it (owner or admin).
    fn disconnect_venue(&self, v: &Viewer, account: i64) -> Answer<'_, ()>;
    /// Admin only: live, or back to dry-run.
    fn set_venue_mode(
        &self,
        v: &Viewer,
        account: i64,
        m: VenueModeRequest,
    ) -> Answer<'_, VenueConnectionView>;

    /// The viewer's notification channels and preferences.
    fn notify_settings(&self, v: &Viewer) -> Answer<'_, NotifySettingsView>;
    fn save_notify_prefs(&self, v: &Viewer, p: NotifyPrefsView) -> Answer<'_, NotifySettingsView>;
    fn add_channel(&self, v: &Viewer, c: NewChannel) -> Answer<'_, ChannelView>;
    fn remove_channel(&self, v: &Viewer, id: i64) -> Answer<'_, ()>;
    /// Queues a test message to one of the viewer's channels.
    fn test_channel(&self, v: &Viewer, id: i64) -> Answer<'_, TestQueued>;
    /// A one-time code to link a Telegram chat.
    fn telegram_code(&self, v: &Viewer) -> Answer<'_, TelegramCode>;
    /// Admin only: failed and retrying deliveries, newest first.
    fn delivery_troubles(&self, v: &Viewer) -> Answer<'_, Vec<DeliveryView>>;
}

/// The handle server functions find in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend, or an error saying the server was set up without one.
pub fn backend() -> Result<SharedBackend, AppError> {
    leptos::prelude::use_context::<SharedBackend>()
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "server backend missing from context"))
}

/// Who is signed in: the server's auth layer puts the viewer in the request's
/// extensions, and leptos_axum hands server functions the request parts.
pub fn viewer() -> Option<Viewer> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Viewer>().cloned())
}

pub fn require_viewer() -> Result<Viewer, AppError> {
    viewer().ok_or_else(AppError::unauthenticated)
}

/// What every server function starts with: the backend and the signed-in
/// viewer, and for one that changes something (`csrf` given) the token check.
pub fn caller(csrf: Option<&str>) -> Result<(SharedBackend, Viewer), AppError> {
    let v = require_viewer()?;
    if let Some(sent) = csrf {
        require_csrf(&v, sent)?;
    }
    Ok((backend()?, v))
}

/// For server functions that change something: the form's CSRF token must
/// equal the session's (token-authenticated callers have none to forge).
pub fn require_csrf(v: &Viewer, sent: &str) -> Result<(), AppError> {
    match &v.csrf {
        Some(expected) if !constant_time_eq(expected.as_bytes(), sent.as_bytes()) => {
            Err(AppError::new(
                ErrorCode::Csrf,
                "the form is stale or forged; reload the page",
            ))
        }
        _ => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A server function's result, with the HTTP status set from the error code
/// (a validation error is a 422, not a 500).
pub fn answer<T>(r: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &r
        && let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(e.code.http_status())
    {
        opts.set_status(status);
    }
    r
}
