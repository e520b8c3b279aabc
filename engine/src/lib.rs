//! The quant core of TraderAI: pure, deterministic functions over candles.
//!
//! No I/O, no async, no SQL: the server and the models crate call in here,
//! so backtests, paper trading and live signals share one code path.

pub mod altdata;
pub mod backtest;
pub mod book;
pub mod calendar;
pub mod calibration;
pub mod costs;
pub mod drift;
pub mod features;
pub mod indicators;
pub mod labels;
pub mod market;
pub mod quality;
pub mod resample;
pub mod risk;
pub mod signals;
pub mod walkforward;

pub use market::{Candle, Market, MarketError, SeriesKey, Symbol, TimeMs, Timeframe};
