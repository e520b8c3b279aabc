//! The model registry and training runs as the admin panel and scripts see them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelView {
    pub id: i64,
    /// "universal" or the one symbol of a per-symbol model.
    pub scope: String,
    pub timeframe: String,
    pub version: i32,
    /// The manifest's identity hash.
    pub sha256: String,
    /// SHA-256 of the downloadable ZIP.
    pub zip_sha256: String,
    pub zip_bytes: i64,
    /// Pooled walk-forward numbers (promotion compares the log loss).
    pub wf_log_loss: Option<f64>,
    pub wf_balanced_accuracy: Option<f64>,
    /// candidate, active, backup, rejected, pruned
    pub status: String,
    /// UTC ms.
    pub created_at: i64,
    pub promoted_at: Option<i64>,
}

/// A registry decision or drift check, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelEventView {
    pub id: i64,
    pub scope: String,
    pub timeframe: String,
    pub model_id: Option<i64>,
    /// registered, promoted, kept_aside, rolled_back, withdrawn, pruned, drift_check
    pub action: String,
    pub detail: serde_json::Value,
    pub at: i64,
}

/// What became of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RegistryDecision {
    pub model: ModelView,
    pub promoted: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RollbackRequest {
    pub scope: String,
    pub timeframe: String,
}

/// Start an evaluation: the walk-forward trained fold by fold, then only
/// the held-out windows traded by the model, the hybrid and the rule
/// beside buy-and-hold and random entries (`traderai evaluate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EvaluateRequest {
    /// Stored symbols; one universal model learns them all.
    pub symbols: Vec<String>,
    pub timeframe: String,
    /// Epoch cap per fit (default 80; early stopping usually ends sooner).
    #[serde(default)]
    pub max_epochs: Option<usize>,
    /// Walk-forward test windows (default 3; at least 1).
    #[serde(default)]
    pub folds: Option<usize>,
    /// libtorch (default) or flex.
    #[serde(default)]
    pub backend: Option<String>,
    /// A shipped universe (`us-stocks`) instead of, or besides, `symbols`.
    #[serde(default)]
    pub universe: Option<String>,
    /// The sequence transformer as a third ensemble member.
    #[serde(default)]
    pub transformer: bool,
    /// Triple-barrier labels instead of direction ones: the upper and
    /// lower barriers in ATR(14) of the entry bar, like `2,1` (the vertical
    /// barrier is the horizon); empty or absent: direction labels.
    #[serde(default)]
    pub barrier: Option<String>,
}

/// Start a training run (walk-forward evaluation, then the final model,
/// registered; promoted per `promote`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TrainRequest {
    /// Stored symbols; one universal model learns them all.
    pub symbols: Vec<String>,
    pub timeframe: String,
    /// Epoch cap per fit (default 80; early stopping usually ends sooner).
    #[serde(default)]
    pub max_epochs: Option<usize>,
    /// Walk-forward test windows (default 3).
    #[serde(default)]
    pub folds: Option<usize>,
    /// libtorch (default) or flex.
    #[serde(default)]
    pub backend: Option<String>,
    /// if_better (default), always or never.
    #[serde(default)]
    pub promote: Option<String>,
    /// A shipped universe (`us-stocks`) instead of, or besides, `symbols`:
    /// its stored series; members with nothing stored are skipped and named.
    #[serde(default)]
    pub universe: Option<String>,
    /// Feature groups beside the technical features: `sentiment`, `macro`
    /// (the stored alternative data), `context` (higher timeframes' trend
    /// and RSI and the regime). The walk-forward also runs without each on
    /// the same folds, and the report shows both.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The sequence transformer as a third ensemble member.
    #[serde(default)]
    pub transformer: bool,
    /// Triple-barrier labels instead of direction ones: the upper and
    /// lower barriers in ATR(14) of the entry bar, like `2,1` (the vertical
    /// barrier is the horizon); empty or absent: direction labels.
    #[serde(default)]
    pub barrier: Option<String>,
}
