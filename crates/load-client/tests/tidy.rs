//! Keeps the repository honest: every module says what it holds, and every
//! shell script is strict.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let mut files = Vec::new();
    files_under(&root().join("crates/load-client/src"), "rs", &mut files);
    assert!(files.len() > 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} does not start with a //! comment saying what it holds",
            file.display()
        );
    }
}

#[test]
fn every_script_is_strict_and_has_usage() {
    let mut files = Vec::new();
    files_under(&root().join("scripts"), "sh", &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("#!/usr/bin/env bash"),
            "{}: shebang",
            file.display()
        );
        assert!(
            text.contains("set -euo pipefail"),
            "{}: set -euo pipefail",
            file.display()
        );
        assert!(text.contains("usage"), "{}: usage text", file.display());
    }
}
