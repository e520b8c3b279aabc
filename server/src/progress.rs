//! Terminal progress bars. Hidden when stderr is not a terminal or when the
//! command prints JSON, so scripts get clean output.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub fn bar(len: u64, unit: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target(quiet));
    let template = format!(
        "{{spinner}} {{msg:<12}} [{{bar:32}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})"
    );
    pb.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

pub fn bytes(len: u64, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target(quiet));
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:<12} [{bar:32}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}
