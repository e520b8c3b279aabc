//! Messages on the `/ws` WebSocket. The client subscribes to topics after
//! every (re)connect; the server pushes what changed.

use super::JobEvent;
use serde::{Deserialize, Serialize};

/// What a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Changes to the jobs the viewer may see.
    Jobs,
    /// New signals after each scan.
    Signals,
    /// Latest prices.
    Ticks,
    /// Steps of the viewer's paper accounts (an admin's: all).
    Paper,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Subscribe { topics: Vec<Topic> },
    Unsubscribe { topics: Vec<Topic> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The topics now subscribed (the answer to every Subscribe/Unsubscribe).
    Subscribed {
        topics: Vec<Topic>,
    },
    Job(JobEvent),
    /// A scan stored new signal candidates: refetch the board (each reader's
    /// plans are sized for them, so the board is not pushed as is).
    Signals {
        new: u64,
        bar_time: i64,
    },
    /// A series' newest stored bar (after a backfill page or an import).
    Tick(Tick),
    /// A paper account changed (a bar applied, an order filled, a halt): refetch it.
    Paper {
        account: i64,
    },
    /// Events were dropped for this client (it was too slow): refetch state.
    Lagged {
        missed: u64,
    },
    Error {
        message: String,
    },
}

/// The newest stored bar of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Tick {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    /// Open time of the bar, UTC ms.
    pub t: i64,
    pub close: f64,
}
