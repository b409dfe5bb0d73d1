//! Conformance of the Rust port with the original C hammer_io.c, through
//! the `conformance` executable (each scenario runs in child processes;
//! see src/hosted/conformance).
//!
//! - the default run (the `make test` one): at least 2,000 seeded
//!   scenarios of at least 200 operations, no divergence;
//! - the self-test: a copy of the reference with one branch of
//!   hammer_io_release altered, made here at run time, compiled and loaded
//!   by the executable, must be reported divergent; an unaltered copy
//!   loaded the same way must not.
#![cfg(feature = "hosted")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_conformance"))
}

fn reference() -> Option<PathBuf> {
    let p = std::env::var_os("HAMMER_IO_REFERENCE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/hammer_io.c")
        });
    p.is_file().then_some(p)
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the executable; returns (exit code, stdout, stderr, parsed final
/// line (scenarios, divergences)).
fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String, Option<(u64, u64)>) {
    let mut c = Command::new(exe());
    c.args(args);
    // The environment of the test run must not leak into the child's
    // choice of seeds or reference unless asked.
    for v in ["SEEDS", "SEED", "HAMMER_IO_REFERENCE", "CONFORMANCE_LEN"] {
        c.env_remove(v);
    }
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("running conformance");
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    let se = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = so.lines().last().unwrap_or("").to_string();
    let parsed = last.strip_prefix("conformance: ").and_then(|r| {
        let (n, rest) = r.split_once(" scenarios, ")?;
        let d = rest.strip_suffix(" divergences")?;
        Some((n.parse().ok()?, d.parse().ok()?))
    });
    (out.status.code().unwrap_or(-1), so, se, parsed)
}

#[test]
fn default_run_has_no_divergence() {
    // `make test` runs the default comparison through `make conformance`
    // (release build) and may skip this copy of it.
    if std::env::var_os("CONFORMANCE_SKIP_DEFAULT_RUN").is_some() {
        eprintln!("SKIPPED: CONFORMANCE_SKIP_DEFAULT_RUN is set");
        return;
    }
    if reference().is_none() {
        eprintln!("SKIPPED: no reference hammer_io.c (set HAMMER_IO_REFERENCE)");
        return;
    }
    let work = scratch("default");
    let (code, so, se, parsed) = run(&["--work", work.to_str().unwrap()], &[]);
    let (n, d) = parsed.unwrap_or_else(|| panic!("no final line\nstdout:\n{so}\nstderr:\n{se}"));
    assert!(
        n >= 2000,
        "the default run must do at least 2,000 scenarios (did {n})"
    );
    assert!(se.contains("scenarios of 200 operations"), "stderr:\n{se}");
    assert_eq!(d, 0, "divergences:\n{se}");
    assert_eq!(code, 0);
}

/// The self-test's alteration: in hammer_io_release, a modified data or
/// undo buffer given back to the kernel loses B_CLUSTEROK.
const ALTER_FROM: &str = "bp->b_flags |= B_CLUSTEROK;";
const ALTER_TO: &str = "bp->b_flags &= ~B_CLUSTEROK; /* altered by the conformance self-test */";

#[test]
fn altered_reference_is_reported_divergent() {
    let Some(src) = reference() else {
        eprintln!("SKIPPED: no reference hammer_io.c (set HAMMER_IO_REFERENCE)");
        return;
    };
    let text = std::fs::read_to_string(&src).unwrap();
    // The alteration must land in hammer_io_release (exactly once).
    let rel = text
        .find("hammer_io_release(struct hammer_io *io, int flush)")
        .expect("hammer_io_release");
    let at = text[rel..]
        .find(ALTER_FROM)
        .expect("the B_CLUSTEROK line of hammer_io_release")
        + rel;
    assert_eq!(text.matches(ALTER_FROM).count(), 1);
    let altered = format!(
        "{}{}{}",
        &text[..at],
        ALTER_TO,
        &text[at + ALTER_FROM.len()..]
    );
    let work = scratch("altered");
    let alt = work.join("hammer_io_altered.c");
    std::fs::write(&alt, altered).unwrap();
    let (code, so, se, parsed) = run(
        &[
            "--seeds",
            "30",
            "--conc",
            "0",
            "--diagnose",
            "1",
            "--work",
            work.to_str().unwrap(),
            "--reference",
            alt.to_str().unwrap(),
        ],
        &[("CONFORMANCE_SHRINK_SECS", "60")],
    );
    let (n, d) = parsed.unwrap_or_else(|| panic!("no final line\nstdout:\n{so}\nstderr:\n{se}"));
    assert_eq!(n, 30);
    assert!(
        d > 0,
        "the altered reference was not detected\nstderr:\n{se}"
    );
    assert_ne!(code, 0, "divergences must give a non-zero exit status");
    assert!(se.contains("DIVERGENCE seed"), "stderr:\n{se}");
    assert!(
        se.contains("first difference at trace line"),
        "stderr:\n{se}"
    );
    assert!(se.contains("shrunk to"), "stderr:\n{se}");
}

#[test]
fn unaltered_reference_loaded_at_run_time_agrees() {
    let Some(src) = reference() else {
        eprintln!("SKIPPED: no reference hammer_io.c (set HAMMER_IO_REFERENCE)");
        return;
    };
    let work = scratch("unaltered");
    let copy = work.join("hammer_io_copy.c");
    std::fs::copy(&src, &copy).unwrap();
    let (code, so, se, parsed) = run(
        &[
            "--seeds",
            "30",
            "--conc",
            "1",
            "--work",
            work.to_str().unwrap(),
            "--reference",
            copy.to_str().unwrap(),
        ],
        &[],
    );
    let (n, d) = parsed.unwrap_or_else(|| panic!("no final line\nstdout:\n{so}\nstderr:\n{se}"));
    assert_eq!((n, d), (31, 0), "stderr:\n{se}");
    assert_eq!(code, 0);
}
