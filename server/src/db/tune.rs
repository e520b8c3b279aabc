//! Hyperparameter studies and their trials (`tune_studies`, `tune_trials`).

use super::DbError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyStatus {
    Running,
    Done,
    Failed,
}

impl StudyStatus {
    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "running" => StudyStatus::Running,
            "done" => StudyStatus::Done,
            "failed" => StudyStatus::Failed,
            other => return Err(DbError::Corrupt(format!("unknown study status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub id: i64,
    pub name: String,
    pub definition_sha256: String,
    pub definition: Value,
    pub status: StudyStatus,
    pub report: Option<Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct StudyRow {
    id: i64,
    name: String,
    definition_sha256: String,
    definition: Value,
    status: String,
    report: Option<Value>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StudyRow> for Study {
    type Error = DbError;
    fn try_from(r: StudyRow) -> Result<Self, DbError> {
        Ok(Study {
            id: r.id,
            status: StudyStatus::parse(&r.status)?,
            name: r.name,
            definition_sha256: r.definition_sha256,
            definition: r.definition,
            report: r.report,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// How a trial ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    Running,
    Complete,
    Pruned,
    Failed,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            other => return Err(DbError::Corrupt(format!("unknown trial state {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub number: i32,
    pub params: Value,
    pub state: TrialState,
    pub objective: Option<f64>,
    pub folds: Option<Value>,
    pub evaluation: Option<Value>,
    pub backtest: Option<Value>,
    #[serde(skip)]
    pub periods: Option<Value>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TrialRow {
    number: i32,
    params: Value,
    state: String,
    objective: Option<f64>,
    folds: Option<Value>,
    evaluation: Option<Value>,
    backtest: Option<Value>,
    periods: Option<Value>,
    error: Option<String>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// What a finished trial leaves.
#[derive(Debug, Clone)]
pub struct TrialEnd {
    pub state: TrialState,
    pub objective: Option<f64>,
    pub folds: Option<Value>,
    pub evaluation: Option<Value>,
    pub backtest: Option<Value>,
    pub periods: Option<Value>,
    pub error: Option<String>,
}

const STUDY: &str =
    "id, name, definition_sha256, definition, status, report, error, created_at, updated_at";

/// The study `name`, created with this definition when new. A failed study
/// runs again (its finished trials are kept); the caller compares the
/// definition's hash.
pub async fn open(
    pool: &PgPool,
    name: &str,
    definition_sha256: &str,
    definition: &Value,
) -> Result<Study, DbError> {
    sqlx::query(
        "INSERT INTO tune_studies (name, definition_sha256, definition) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(definition_sha256)
    .bind(definition)
    .execute(pool)
    .await?;
    let reopened: Option<StudyRow> = sqlx::query_as(&format!(
        "UPDATE tune_studies SET status = 'running', error = NULL, updated_at = now()
         WHERE name = $1 AND status = 'failed' AND definition_sha256 = $2 RETURNING {STUDY}"
    ))
    .bind(name)
    .bind(definition_sha256)
    .fetch_optional(pool)
    .await?;
    let row = match reopened {
        Some(r) => r,
        None => {
            sqlx::query_as(&format!("SELECT {STUDY} FROM tune_studies WHERE name = $1"))
                .bind(name)
                .fetch_one(pool)
                .await?
        }
    };
    row.try_into()
}

pub async fn get(pool: &PgPool, name: &str) -> Result<Option<Study>, DbError> {
    let row: Option<StudyRow> =
        sqlx::query_as(&format!("SELECT {STUDY} FROM tune_studies WHERE name = $1"))
            .bind(name)
            .fetch_optional(pool)
            .await?;
    row.map(Study::try_from).transpose()
}

pub async fn list(pool: &PgPool) -> Result<Vec<Study>, DbError> {
    let rows: Vec<StudyRow> = sqlx::query_as(&format!(
        "SELECT {STUDY} FROM tune_studies ORDER BY created_at DESC"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Study::try_from).collect()
}

impl TryFrom<TrialRow> for Trial {
    type Error = DbError;
    fn try_from(r: TrialRow) -> Result<Self, DbError> {
        Ok(Trial {
            number: r.number,
            params: r.params,
            state: TrialState::parse(&r.state)?,
            objective: r.objective,
            folds: r.folds,
            evaluation: r.evaluation,
            backtest: r.backtest,
            periods: r.periods,
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

const TRIAL: &str = "number, params, state, objective, folds, evaluation, backtest, periods, error,
                     started_at, finished_at";

/// The study's trials by number.
pub async fn trials(pool: &PgPool, study: i64) -> Result<Vec<Trial>, DbError> {
    let rows: Vec<TrialRow> = sqlx::query_as(&format!(
        "SELECT {TRIAL} FROM tune_trials WHERE study_id = $1 ORDER BY number"
    ))
    .bind(study)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Trial::try_from).collect()
}

/// Marks trial `number` running with `params`; a row left running by a
/// killed process is started over.
pub async fn start_trial(
    pool: &PgPool,
    study: i64,
    number: i32,
    params: &Value,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO tune_trials (study_id, number, params, state) VALUES ($1, $2, $3, 'running')
         ON CONFLICT (study_id, number) DO UPDATE
         SET params = EXCLUDED.params, state = 'running', objective = NULL, folds = NULL,
             evaluation = NULL, backtest = NULL, periods = NULL, error = NULL,
             started_at = now(), finished_at = NULL
         WHERE tune_trials.state = 'running'",
    )
    .bind(study)
    .bind(number)
    .bind(params)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how a running trial ended; the stored trial.
pub async fn finish_trial(
    pool: &PgPool,
    study: i64,
    number: i32,
    end: &TrialEnd,
) -> Result<Trial, DbError> {
    let row: Option<TrialRow> = sqlx::query_as(&format!(
        "UPDATE tune_trials SET state = $3, objective = $4, folds = $5, evaluation = $6,
                backtest = $7, periods = $8, error = $9, finished_at = now()
         WHERE study_id = $1 AND number = $2 AND state = 'running' RETURNING {TRIAL}"
    ))
    .bind(study)
    .bind(number)
    .bind(end.state.as_str())
    .bind(end.objective)
    .bind(&end.folds)
    .bind(&end.evaluation)
    .bind(&end.backtest)
    .bind(&end.periods)
    .bind(&end.error)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| DbError::Corrupt(format!("trial {number} of study {study} was not running")))?
        .try_into()
}

/// Replaces a study's stored definition by an equivalent one (the same
/// search written as the current code writes it).
pub async fn redefine(
    pool: &PgPool,
    study: i64,
    definition_sha256: &str,
    definition: &Value,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tune_studies SET definition_sha256 = $2, definition = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(study)
    .bind(definition_sha256)
    .bind(definition)
    .execute(pool)
    .await?;
    Ok(())
}

/// Reopens a done study for more trials; its report is written again when
/// they are done.
pub async fn extend(pool: &PgPool, study: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tune_studies SET status = 'running', report = NULL, updated_at = now()
         WHERE id = $1 AND status = 'done'",
    )
    .bind(study)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn finish(pool: &PgPool, study: i64, report: &Value) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tune_studies SET status = 'done', report = $2, error = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(study)
    .bind(report)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn fail(pool: &PgPool, study: i64, error: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tune_studies SET status = 'failed', error = $2, report = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(study)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
