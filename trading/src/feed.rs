//! `MarketFeed`: closed bars of the followed universe as a venue publishes
//! them (a kline stream, REST polling, or a replay of stored bars), with
//! the gap since the newest stored bar repaired on every (re)connect, so a
//! consumer sees every bar once and in order.
