//! The layering ARCHITECTURE.md describes is the code's: every module of `src/` is listed in
//! its "Layers" block, and imports only from modules listed before it (so there is no loop).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module order from ARCHITECTURE.md's first ```text block under "## Layers".
fn layers() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md exists");
    let after = doc.split("## Layers").nth(1).expect("a Layers section");
    let block = after
        .split("```text")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block of layers");
    block
        .lines()
        .flat_map(|l| {
            let l = l.split_once(':').map_or(l, |(_, rest)| rest);
            let l = l.split("--").next().unwrap_or("");
            l.split_whitespace().map(String::from).collect::<Vec<_>>()
        })
        .collect()
}

/// The top-level module a source file belongs to (`main.rs` and `cli/` are the binary).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    match name.as_str() {
        "main" | "cli" => "main".into(),
        _ => name,
    }
}

/// Top-level modules a file names through `crate::` (or, in the binary, `throng::`), outside
/// comments.
fn imports(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b}`: the names at the group's top level.
                let mut depth = 0;
                let mut word = String::new();
                for ch in group.chars() {
                    match ch {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            if word.chars().all(|c| c.is_lowercase() || c == '_')
                                && !word.is_empty()
                            {
                                out.insert(std::mem::take(&mut word));
                            }
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            if word.chars().all(|c| c.is_lowercase() || c == '_')
                                && !word.is_empty()
                            {
                                out.insert(std::mem::take(&mut word));
                            }
                            word.clear();
                        }
                        c if depth == 0 && (c.is_alphanumeric() || c == '_') => word.push(c),
                        ':' if depth == 0 && !word.is_empty() => {
                            out.insert(std::mem::take(&mut word));
                        }
                        _ => {}
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if rest[name.len()..].starts_with("::")
                && name
                    .chars()
                    .all(|c| c.is_lowercase() || c == '_' || c.is_ascii_digit())
            {
                out.insert(name);
            }
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_import_only_from_earlier_layers() {
    let order = layers();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        if rel == Path::new("lib.rs") {
            continue;
        }
        let module = module_of(rel);
        let Some(&mine) = rank.get(module.as_str()) else {
            bad.push(format!(
                "{} (module `{module}`) is not in ARCHITECTURE.md's layers",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let prefix = if module == "main" {
            "throng::"
        } else {
            "crate::"
        };
        for m in imports(&text, prefix) {
            match rank.get(m.as_str()) {
                Some(&r) if r <= mine => {}
                Some(_) => bad.push(format!(
                    "{}: `{module}` imports `{m}`, a later layer",
                    rel.display()
                )),
                None => bad.push(format!(
                    "{}: imports `{m}`, which is not in the layers",
                    rel.display()
                )),
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_import_scanner_sees_grouped_and_path_imports() {
    let text = "use crate::{plan::{Buf, Plan}, error::Result, rng};\nlet x = crate::kernel::f(); // crate::cli::x\n";
    let got: Vec<String> = imports(text, "crate::").into_iter().collect();
    assert_eq!(got, ["error", "kernel", "plan", "rng"]);
}
