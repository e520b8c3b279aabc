//! The admin panel: jobs, backfill, training, evaluation, models, users, system. The server refuses these
//! pages and their server functions to anyone without the admin role.

pub mod backfill;
pub mod evaluate;
pub mod jobs;
pub mod models;
pub mod system;
pub mod training;
pub mod users;
