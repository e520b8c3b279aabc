//! The admin panel: jobs, backfill, users, system. The server refuses these
//! pages and their server functions to anyone without the admin role.

pub mod backfill;
pub mod jobs;
pub mod system;
pub mod users;
