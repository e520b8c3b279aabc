//! The dependency direction of DESIGN.md, checked on the source: `cli/` and
//! `web/` sit on top, services below them never reach up. A file outside
//! `server/src/cli/` that imports `crate::cli`, or outside `web/` and `cli/`
//! (whose `serve` starts the web app) that imports `crate::web`, fails this
//! test; so does clap outside `cli/` and `main.rs` (every command-line type
//! lives in `cli/`).

use std::path::{Path, PathBuf};

/// Code with comments and string literals blanked, so a mention in a doc
/// comment or a message is not an import.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Whether `code` names module `module` of this crate: `crate::module`, or
/// `module` inside a `use crate::{…}` group.
fn imports(code: &str, module: &str) -> bool {
    let squashed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let word_after = |rest: &str| {
        rest.strip_prefix(module)
            .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    };
    let mut found = false;
    for (at, _) in squashed.match_indices("crate::") {
        let rest = &squashed[at + "crate::".len()..];
        if word_after(rest) {
            found = true;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The group up to its matching brace.
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(k, _)| k);
            let group = &group[..end];
            let mut depth = 0;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                let starts_item = k == 0 || (depth == 0 && group[..k].ends_with(','));
                if starts_item && word_after(&group[k..]) {
                    found = true;
                }
            }
        }
    }
    found
}

fn uses_clap(code: &str) -> bool {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .any(|w| w == "clap" || w.starts_with("clap::"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn services_never_import_cli_or_web() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 30,
        "read {} files under {}",
        files.len(),
        src.display()
    );
    let mut violations = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        if !rel.starts_with("cli/") && imports(&code, "cli") {
            violations.push(format!("{rel} imports crate::cli"));
        }
        // `traderai serve` (cli/serve.rs) starts the web app: the command
        // line is the one layer above web.
        if !rel.starts_with("web/") && !rel.starts_with("cli/") && imports(&code, "web") {
            violations.push(format!("{rel} imports crate::web"));
        }
        if !rel.starts_with("cli/") && rel != "main.rs" && uses_clap(&code) {
            violations.push(format!("{rel} uses clap (command-line types live in cli/)"));
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_check_catches_each_way_of_writing_an_import() {
    for bad in [
        "use crate::cli::{Cli, connect};",
        "use crate::cli;",
        "fn f() { crate::cli::connect(x) }",
        "use crate::{db, cli::print_json};",
        "use crate::{\n    cli,\n    db,\n};",
        "use crate :: cli :: Cli;",
    ] {
        assert!(imports(&code_only(bad), "cli"), "missed: {bad}");
    }
    for fine in [
        "use crate::client::Thing;",
        "use crate::db::cli_args;",
        "use crate::{db::{self, x}, clip};",
        "// see crate::cli for the flags",
        "let s = \"crate::cli\";",
        "use crate::{db, web_types::X};",
    ] {
        assert!(!imports(&code_only(fine), "cli"), "false alarm: {fine}");
    }
    assert!(imports(&code_only("use crate::{auth, web::serve};"), "web"));
    assert!(uses_clap("#[derive(clap::ValueEnum)]"));
    assert!(uses_clap("use clap::Args;"));
    assert!(!uses_clap(&code_only("let clapper = 1; // clap")));
}
