//! The learning half of TraderAI: networks, boosted trees, ensemble and
//! calibration over the engine's features. Empty until the models issue:
//! the crate exists so the workspace layout and dependency direction
//! (`models` → `engine`) are fixed from the first commit.
