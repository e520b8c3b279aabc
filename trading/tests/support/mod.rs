//! What the trading tests share (and the venues' tests borrow by path).
#![allow(dead_code)]

pub mod follow;
pub mod inputs;
