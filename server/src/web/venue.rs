//! Broker connections of paper accounts, for the API and the pages.

use super::backend::PgBackend;
use crate::db::venue as db;
use crate::venue::{self, Connect};
use app::types::*;

fn db_err(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "venue: database call failed");
    AppError::unavailable()
}

impl PgBackend {
    async fn row(&self, v: &Viewer, account: i64) -> Result<db::ConnectionRow, AppError> {
        self.paper_row(v, account).await?;
        db::of_account(self.pool(), account)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                AppError::not_found(format!("a venue connection of paper account {account}"))
            })
    }

    pub(super) async fn venue_view(
        &self,
        v: &Viewer,
        account: i64,
    ) -> Result<VenueConnectionView, AppError> {
        let r = self.row(v, account).await?;
        let count = |kind: &'static str| async move {
            db::journal_count(self.pool(), r.id, kind)
                .await
                .map_err(db_err)
        };
        let journal = db::journal_list(self.pool(), r.id, 100)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|j| VenueJournalLine {
                time: j.time,
                kind: j.kind,
                detail: j.detail.to_string(),
            })
            .collect();
        Ok(VenueConnectionView {
            account,
            validated: count("validated").await?,
            refused: count("refused").await?,
            trades: count("trade").await?,
            venue: r.venue,
            base_url: r.base_url,
            key_hint: r.key_hint,
            mode: r.mode,
            live_by: r.live_by,
            live_at: r.live_at.map(|t| t.to_rfc3339()),
            created_at: r.created_at.to_rfc3339(),
            journal,
        })
    }

    pub(super) async fn connect(
        &self,
        v: &Viewer,
        account: i64,
        c: NewVenueConnection,
    ) -> Result<VenueConnectionView, AppError> {
        let row = self.paper_row(v, account).await?;
        if row.user_id != v.id {
            // Keys are the owner's to give.
            return Err(AppError::forbidden());
        }
        if c.api_key.trim().is_empty() {
            return Err(AppError::invalid("api_key", "required"));
        }
        if c.api_secret.trim().is_empty() {
            return Err(AppError::invalid("api_secret", "required"));
        }
        if !venue::VENUES.contains(&c.venue.as_str()) {
            return Err(AppError::invalid(
                "venue",
                format!("expected one of {}", venue::VENUES.join(", ")),
            ));
        }
        let req = Connect {
            venue: c.venue,
            base_url: c.base_url.filter(|b| !b.trim().is_empty()),
            api_key: c.api_key,
            api_secret: c.api_secret,
        };
        venue::connect(self.pool(), account, &req)
            .await
            .map_err(|e| {
                let msg = format!("{e:#}");
                if msg.contains(crate::secrets::KEY_VAR) {
                    AppError::new(ErrorCode::Unavailable, msg)
                } else if msg.contains("base_url") {
                    AppError::invalid("base_url", msg)
                } else {
                    AppError::new(ErrorCode::Conflict, msg)
                }
            })?;
        self.venue_view(v, account).await
    }

    pub(super) async fn disconnect(&self, v: &Viewer, account: i64) -> Result<(), AppError> {
        let r = self.row(v, account).await?;
        if r.mode == "live" {
            // Its positions and orders at the venue would go unwatched.
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the connection is live: an admin switches it back to dry-run first",
            ));
        }
        db::delete(self.pool(), account).await.map_err(db_err)?;
        tracing::warn!(account, by = %v.username, "venue connection removed");
        Ok(())
    }

    pub(super) async fn venue_mode(
        &self,
        v: &Viewer,
        account: i64,
        m: VenueModeRequest,
    ) -> Result<VenueConnectionView, AppError> {
        if !v.is_admin() {
            return Err(AppError::forbidden());
        }
        self.row(v, account).await?;
        let by = m.live.then_some(v.username.as_str());
        venue::set_mode(self.pool(), account, by)
            .await
            .map_err(db_err)?;
        self.venue_view(v, account).await
    }
}
