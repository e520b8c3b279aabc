//! Alternative data as bar features: news and social sentiment, and macro
//! series, each joined onto bars by when it became known (no look-ahead).

pub mod macro_series;
pub mod sentiment;
