//! The server's implementation of the pages' `Backend`: every rule about who
//! may do what sits here, so server functions and the REST API share it.

use crate::{auth, backfill, db};
use app::backend::{Answer, Backend};
use app::types::*;
use engine::{Market, Symbol, Timeframe};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct PgBackend {
    pool: PgPool,
    pub started: Instant,
    /// WebSocket clients connected now (the hub counts them).
    pub ws_clients: Arc<AtomicU64>,
    sys: Arc<std::sync::Mutex<Option<sysinfo::System>>>,
}

impl PgBackend {
    pub fn new(pool: PgPool) -> Self {
        PgBackend {
            pool,
            started: Instant::now(),
            ws_clients: Arc::new(AtomicU64::new(0)),
            sys: Arc::new(std::sync::Mutex::new(None)),
        }
    }
}

fn db_err(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "database call failed");
    AppError::unavailable()
}

fn admin(v: &Viewer) -> Result<(), AppError> {
    if v.is_admin() {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn job_view(j: db::jobs::Job) -> JobView {
    JobView {
        id: j.id,
        kind: j.kind,
        status: j.status.as_str().to_owned(),
        progress: j.progress,
        params: j.params,
        detail: j.detail,
        error: j.error,
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        created_by: j.created_by,
        created_at: ms(j.created_at),
        started_at: j.started_at.map(ms),
        finished_at: j.finished_at.map(ms),
    }
}

/// Parses a backfill request into job parameters, naming the field at fault.
pub fn backfill_params(r: &BackfillRequest) -> Result<backfill::BackfillParams, AppError> {
    let exchange = engine::market::parse_exchange(&r.exchange)
        .map_err(|e| AppError::invalid("exchange", e.to_string()))?;
    let market =
        Market::parse(r.market.trim()).map_err(|e| AppError::invalid("market", e.to_string()))?;
    let symbols = r
        .symbols
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| Symbol::parse(s).map_err(|e| AppError::invalid("symbols", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let timeframe = Timeframe::parse(r.timeframe.trim())
        .map_err(|e| AppError::invalid("timeframe", e.to_string()))?;
    let from = crate::time::parse_instant(&r.from).map_err(|e| AppError::invalid("from", e))?;
    let to = match r.to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(t) => Some(crate::time::parse_instant(t).map_err(|e| AppError::invalid("to", e))?),
        None => None,
    };
    let base_url = match r
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_owned()),
        Some(_) => {
            return Err(AppError::invalid(
                "base_url",
                "must start with http:// or https://",
            ));
        }
        None => None,
    };
    let params = backfill::BackfillParams {
        exchange,
        market,
        symbols,
        timeframe,
        from,
        to,
        base_url,
        weight_limit: None,
    };
    params.validate().map_err(|e| {
        let field = match &e {
            backfill::BackfillError::UnknownExchange(_) => "exchange",
            backfill::BackfillError::NoSymbols => "symbols",
            backfill::BackfillError::EmptyRange { .. } => "to",
            _ => "timeframe",
        };
        AppError::invalid(field, e.to_string())
    })?;
    Ok(params)
}

impl PgBackend {
    /// The job if the viewer may see it (their own, or any for an admin).
    async fn visible_job(&self, v: &Viewer, id: i64) -> Result<db::jobs::Job, AppError> {
        match db::jobs::get(&self.pool, id).await.map_err(db_err)? {
            Some(j) if v.is_admin() || j.created_by == Some(v.id) => Ok(j),
            _ => Err(AppError::not_found(format!("job {id}"))),
        }
    }
}

/// CPU %, cores, used and total memory, this process's RSS. Blocking (the
/// first call waits for a second CPU sample), so run it off the async workers.
fn sample_system(sys: &std::sync::Mutex<Option<sysinfo::System>>) -> (f32, usize, u64, u64, u64) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let mut guard = sys.lock().unwrap_or_else(|p| p.into_inner());
    let first = guard.is_none();
    let sys = guard.get_or_insert_with(System::new);
    sys.refresh_cpu_usage();
    if first {
        // CPU use is a difference between two samples.
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        sys.refresh_cpu_usage();
    }
    sys.refresh_memory();
    let pid = sysinfo::get_current_pid().ok();
    let mut rss = 0;
    if let Some(pid) = pid {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        rss = sys.process(pid).map(|p| p.memory()).unwrap_or(0);
    }
    (
        sys.global_cpu_usage(),
        sys.cpus().len(),
        sys.used_memory(),
        sys.total_memory(),
        rss,
    )
}

impl Backend for PgBackend {
    fn coverage(&self) -> Answer<'_, Vec<SeriesCoverage>> {
        Box::pin(async move {
            let rows = db::candles::list_series(&self.pool).await.map_err(db_err)?;
            Ok(rows
                .into_iter()
                .filter(|r| r.bars > 0)
                .map(|r| SeriesCoverage {
                    exchange: r.key.exchange,
                    market: r.key.market.to_string(),
                    symbol: r.key.symbol.to_string(),
                    timeframe: r.key.timeframe.to_string(),
                    bars: r.bars,
                    first: r.first_open.unwrap_or_default(),
                    last: r.last_open.unwrap_or_default(),
                })
                .collect())
        })
    }

    fn settings(&self, v: &Viewer) -> Answer<'_, UserSettings> {
        let id = v.id;
        Box::pin(async move {
            db::users::by_id(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(|u| u.view.settings)
                .ok_or_else(|| AppError::not_found("user"))
        })
    }

    fn save_settings(&self, v: &Viewer, s: UserSettings) -> Answer<'_, UserSettings> {
        let id = v.id;
        Box::pin(async move {
            s.validate()?;
            db::users::save_settings(&self.pool, id, &s)
                .await
                .map_err(db_err)?
                .map(|u| u.settings)
                .ok_or_else(|| AppError::not_found("user"))
        })
    }

    fn jobs(&self, v: &Viewer, limit: i64) -> Answer<'_, Vec<JobView>> {
        let v = v.clone();
        Box::pin(async move {
            let limit = limit.clamp(1, 500);
            let jobs = if v.is_admin() {
                db::jobs::list(&self.pool, limit).await
            } else {
                db::jobs::list_by(&self.pool, v.id, limit).await
            }
            .map_err(db_err)?;
            Ok(jobs.into_iter().map(job_view).collect())
        })
    }

    fn job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move { self.visible_job(&v, id).await.map(job_view) })
    }

    fn cancel_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            let job = self.visible_job(&v, id).await?;
            if job.status.is_finished() {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    format!("job {id} has already {}", job.status.as_str()),
                ));
            }
            db::jobs::request_cancel(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(job_view)
                .ok_or_else(|| AppError::not_found(format!("job {id}")))
        })
    }

    fn resume_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            let job = self.visible_job(&v, id).await?;
            db::jobs::requeue(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(job_view)
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::Conflict,
                        format!(
                            "job {id} is {}; only failed or cancelled jobs resume",
                            job.status.as_str()
                        ),
                    )
                })
        })
    }

    fn start_backfill(&self, v: &Viewer, r: BackfillRequest) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let params = backfill_params(&r)?;
            let json = serde_json::to_value(&params)
                .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            let job = db::jobs::enqueue_for(&self.pool, backfill::KIND, &json, Some(v.id))
                .await
                .map_err(db_err)?;
            tracing::info!(job = job.id, by = %v.username, "backfill queued");
            Ok(job_view(job))
        })
    }

    fn users(&self, v: &Viewer) -> Answer<'_, Vec<UserView>> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            db::users::list(&self.pool).await.map_err(db_err)
        })
    }

    fn create_user(&self, v: &Viewer, u: NewUser) -> Answer<'_, UserView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let name = u.username.trim().to_owned();
            validate_username(&name)?;
            validate_password(&u.password)?;
            let hash = auth::hash_password_blocking(u.password)
                .await
                .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            match db::users::create(&self.pool, &name, &hash, u.role).await {
                Ok(rec) => {
                    tracing::info!(user = %name, role = u.role.as_str(), by = %v.username, "user created");
                    Ok(rec.view)
                }
                Err(e) if db::users::is_unique_violation(&e, "users_username_key") => {
                    Err(AppError {
                        code: ErrorCode::Conflict,
                        message: format!("user name {name:?} is taken"),
                        field: Some("username".into()),
                    })
                }
                Err(e) => Err(db_err(e)),
            }
        })
    }

    fn update_user(&self, v: &Viewer, id: i64, p: UserPatch) -> Answer<'_, UserView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let hash = match &p.password {
                Some(pw) => {
                    validate_password(pw)?;
                    Some(
                        auth::hash_password_blocking(pw.clone())
                            .await
                            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?,
                    )
                }
                None => None,
            };
            match db::users::update(&self.pool, id, p.role, p.disabled, hash.as_deref())
                .await
                .map_err(db_err)?
            {
                Ok(Some(u)) => {
                    tracing::info!(user = %u.username, role = u.role.as_str(), disabled = u.disabled, by = %v.username, "user changed");
                    Ok(u)
                }
                Ok(None) => Err(AppError::not_found(format!("user {id}"))),
                Err(db::users::LastAdmin) => Err(AppError::new(
                    ErrorCode::Conflict,
                    "that would leave no enabled admin",
                )),
            }
        })
    }

    fn tokens(&self, v: &Viewer) -> Answer<'_, Vec<TokenView>> {
        let id = v.id;
        Box::pin(async move { db::users::tokens_of(&self.pool, id).await.map_err(db_err) })
    }

    fn create_token(&self, v: &Viewer, name: String) -> Answer<'_, NewToken> {
        let id = v.id;
        Box::pin(async move {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(AppError::invalid("name", "1 to 100 characters"));
            }
            let secret = auth::new_token_secret();
            let token = db::users::create_token(
                &self.pool,
                id,
                &name,
                &auth::token_sha256(&secret),
                &secret[..8],
            )
            .await
            .map_err(db_err)?;
            Ok(NewToken { token, secret })
        })
    }

    fn revoke_token(&self, v: &Viewer, token: i64) -> Answer<'_, TokenView> {
        let id = v.id;
        Box::pin(async move {
            db::users::revoke_token(&self.pool, id, token)
                .await
                .map_err(db_err)?
                .ok_or_else(|| AppError::not_found(format!("token {token}")))
        })
    }

    fn system(&self, v: &Viewer) -> Answer<'_, SystemStatus> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let (database_bytes, candles, series) =
                db::candles::store_stats(&self.pool).await.map_err(db_err)?;
            let queued_jobs = db::jobs::queue_depth(&self.pool).await.map_err(db_err)?;
            let running_jobs = db::jobs::running_count(&self.pool).await.map_err(db_err)?;
            let users = db::users::count(&self.pool).await.map_err(db_err)?;
            let sys = self.sys.clone();
            let (cpu_pct, cpus, memory_used_bytes, memory_total_bytes, process_rss_bytes) =
                tokio::task::spawn_blocking(move || sample_system(&sys))
                    .await
                    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            Ok(SystemStatus {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                uptime_s: self.started.elapsed().as_secs(),
                cpu_pct,
                cpus,
                memory_used_bytes,
                memory_total_bytes,
                process_rss_bytes,
                database_bytes,
                candles,
                series,
                queued_jobs,
                running_jobs,
                users,
                ws_clients: self.ws_clients.load(Ordering::Relaxed),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> BackfillRequest {
        BackfillRequest {
            exchange: "binance".into(),
            market: "spot".into(),
            symbols: vec!["BTC/USDT".into(), " ETH/USDT ".into()],
            timeframe: "15m".into(),
            from: "2024-01-01".into(),
            to: Some("2024-02-01".into()),
            base_url: None,
        }
    }

    #[test]
    fn backfill_requests_parse_or_name_the_field() {
        let p = backfill_params(&req()).unwrap();
        assert_eq!(p.symbols.len(), 2);
        assert_eq!(p.from, 1_704_067_200_000);
        let field = |r: BackfillRequest| backfill_params(&r).unwrap_err().field.unwrap();
        assert_eq!(
            field(BackfillRequest {
                symbols: vec!["BTCUSDT?".into()],
                ..req()
            }),
            "symbols"
        );
        assert_eq!(
            field(BackfillRequest {
                symbols: vec![],
                ..req()
            }),
            "symbols"
        );
        assert_eq!(
            field(BackfillRequest {
                timeframe: "7m".into(),
                ..req()
            }),
            "timeframe"
        );
        assert_eq!(
            field(BackfillRequest {
                from: "yesterday-ish".into(),
                ..req()
            }),
            "from"
        );
        assert_eq!(
            field(BackfillRequest {
                to: Some("2023-01-01".into()),
                ..req()
            }),
            "to"
        );
        assert_eq!(
            field(BackfillRequest {
                market: "options".into(),
                ..req()
            }),
            "market"
        );
        assert_eq!(
            field(BackfillRequest {
                exchange: "kraken".into(),
                ..req()
            }),
            "exchange"
        );
        assert_eq!(
            field(BackfillRequest {
                base_url: Some("ftp://x".into()),
                ..req()
            }),
            "base_url"
        );
    }
}
