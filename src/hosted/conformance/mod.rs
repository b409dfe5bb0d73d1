//! Conformance: the same HAMMER workloads through the original C
//! `hammer_io.c` and the Rust port, in the same hosted environment, with
//! equal traces.
//!
//! - [`ops`]: the operations of a scenario and the seeded generator;
//! - [`exec`]: runs a scenario deterministically (one thread, I/O
//!   completion in an order the seed decides) and records its trace;
//! - [`tracer`]: the trace (kernel events, calls into the I/O layer with
//!   io state, per-operation state, final device image and mod trees);
//! - [`conc`]: the concurrent mode (real completion thread, buffer daemon
//!   and syncer, several workload threads): invariants and final device
//!   contents instead of traces;
//! - [`runner`]: the parent that runs each scenario through both
//!   implementations in child processes, compares, and explains
//!   divergences (first differing event, shrunk operation list);
//! - [`dynref`]: a C implementation compiled and loaded at run time
//!   (`HAMMER_IO_REFERENCE`, the self-test's altered reference).
//!
//! [`main`] is the `conformance` executable.

// cfg(hammer_port) (the Rust port compiled in) is set by build.rs only
// once the port is complete; until it is declared, allow it.
#![allow(unexpected_cfgs)]

pub mod conc;
pub mod dynref;
pub mod exec;
pub mod ops;
pub mod runner;
pub mod tracer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;
use std::{eprintln, format, print, println, writeln};

use crate::hosted::hammer::ioimpl::IoImpl;
use runner::{Impl, Opts};

/// Default number of deterministic scenarios (`SEEDS`).
pub const DEFAULT_SEEDS: u64 = 2000;
/// Default operations per scenario.
pub const DEFAULT_LEN: usize = 200;
/// Default number of concurrent-mode scenarios.
pub const DEFAULT_CONC: u64 = 20;

fn usage() -> &'static str {
    "usage: conformance [--seeds N | --seed S] [--first S] [--len L] [--conc N]\n\
     \x20                  [--timeout SECS] [--no-shrink] [--diagnose K] [--reference FILE.c]\n\
     \x20                  [--work DIR] [--verbose]\n\
     \x20      conformance --replay FILE.scn\n\
     \x20      conformance --print S [--len L]        (print the scenario of seed S)\n\
     environment: SEEDS=N, SEED=S, CONFORMANCE_LEN=L, CONFORMANCE_CONC=N,\n\
     \x20            CONFORMANCE_TIMEOUT=SECS, HAMMER_IO_REFERENCE=<hammer_io.c>\n\
     Runs each scenario through the Rust port and the C reference in child\n\
     processes and compares their traces. Last line: `conformance: N scenarios, D divergences`."
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The implementation a child runs.
fn child_impl(kind: &str, so: Option<&str>) -> Result<IoImpl, String> {
    match kind {
        "rust" => rust_impl(),
        "c" => reference_impl(),
        "so" => dynref::load(Path::new(so.ok_or("--impl so needs --so FILE")?)),
        other => Err(format!("unknown implementation {other}")),
    }
}

#[cfg(hammer_port)]
fn rust_impl() -> Result<IoImpl, String> {
    Ok(IoImpl::rust())
}

#[cfg(not(hammer_port))]
fn rust_impl() -> Result<IoImpl, String> {
    Err("the Rust port is not compiled in (cfg hammer_port)".into())
}

#[cfg(hammer_reference)]
fn reference_impl() -> Result<IoImpl, String> {
    Ok(IoImpl::reference())
}

#[cfg(not(hammer_reference))]
fn reference_impl() -> Result<IoImpl, String> {
    Err("the C reference was not found at build time (set HAMMER_IO_REFERENCE)".into())
}

fn install_child_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(std::boxed::Box::new(move |info| {
        tracer::flush();
        let op = tracer::current_op().map_or("-".to_string(), |i| i.to_string());
        eprintln!("conformance child: panic during operation {op}");
        default(info);
    }));
}

/// `conformance child ...`: runs scenarios in this process and prints
/// one `ok <seed> <lines> <hash>` line per scenario.
fn child(args: &[String]) -> i32 {
    let mut kind = None;
    let mut so = None;
    let mut batch = None;
    let mut scenario = None;
    let mut dump = None;
    let mut len = DEFAULT_LEN;
    let mut conc = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let v = |k: usize| args.get(i + k).cloned().unwrap_or_default();
        match a {
            "--impl" => {
                kind = Some(v(1));
                i += 1;
            }
            "--so" => {
                so = Some(v(1));
                i += 1;
            }
            "--batch" => {
                batch = Some((
                    v(1).parse::<u64>().unwrap_or(0),
                    v(2).parse::<u64>().unwrap_or(0),
                ));
                i += 2;
            }
            "--scenario" => {
                scenario = Some(v(1));
                i += 1;
            }
            "--dump" => {
                dump = Some(v(1));
                i += 1;
            }
            "--len" => {
                len = v(1).parse().unwrap_or(DEFAULT_LEN);
                i += 1;
            }
            "--conc" => {
                conc = Some(v(1).parse::<u64>().unwrap_or(0));
                i += 1;
            }
            _ => {
                eprintln!("conformance child: unknown argument {a}");
                return 2;
            }
        }
        i += 1;
    }
    let imp = match child_impl(kind.as_deref().unwrap_or("rust"), so.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("conformance child: {e}");
            return 2;
        }
    };
    install_child_panic_hook();
    let out = std::io::stdout();
    if let Some(seed) = conc {
        let r = conc::run(seed, imp);
        if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
            for e in &r.errors {
                eprintln!("conc {seed}: {e}");
            }
        }
        let mut o = out.lock();
        let _ = writeln!(o, "{}", r.to_line());
        let _ = o.flush();
        // The machine's threads may be blocked; leave without shutting
        // it down (the profile aborts on panic, so no unwinding shutdown).
        std::process::exit(0);
    }
    if let Some((first, count)) = batch {
        // CONFORMANCE_DUMP_DIR: also write every batch scenario's trace
        // there (for chasing a difference that only shows in batches).
        let dump_dir = std::env::var_os("CONFORMANCE_DUMP_DIR").map(PathBuf::from);
        for seed in first..first + count {
            let sc = ops::generate(seed, len);
            let f = dump_dir.as_ref().and_then(|d| {
                std::fs::File::create(d.join(format!(
                    "seed-{seed}.{}.trace",
                    kind.as_deref().unwrap_or("rust")
                )))
                .ok()
            });
            let r = exec::run(&sc, imp, f, false);
            let mut o = out.lock();
            let _ = writeln!(o, "ok {seed} {} {:016x}", r.lines, r.hash);
            let _ = o.flush();
        }
        return 0;
    }
    if let Some(p) = scenario {
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("conformance child: {p}: {e}");
                return 2;
            }
        };
        let sc = match ops::Scenario::from_text(&text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("conformance child: {p}: {e}");
                return 2;
            }
        };
        let f = match dump.as_deref().map(std::fs::File::create).transpose() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("conformance child: dump file: {e}");
                return 2;
            }
        };
        let r = exec::run(&sc, imp, f, false);
        let mut o = out.lock();
        let _ = writeln!(o, "ok {} {} {:016x}", sc.seed, r.lines, r.hash);
        let _ = o.flush();
        return 0;
    }
    eprintln!("conformance child: nothing to do");
    2
}

/// The `conformance` executable. Returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    if args.first().map(String::as_str) == Some("child") {
        return child(&args[1..]);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance: cannot find my own executable: {e}");
            return 2;
        }
    };
    let mut seeds = env_u64("SEEDS").unwrap_or(DEFAULT_SEEDS);
    let mut first = 1u64;
    if let Some(s) = env_u64("SEED") {
        first = s;
        seeds = 1;
    }
    let mut len = env_u64("CONFORMANCE_LEN").map_or(DEFAULT_LEN, |v| v as usize);
    let mut nconc = env_u64("CONFORMANCE_CONC").unwrap_or(DEFAULT_CONC);
    let mut timeout = Duration::from_secs(env_u64("CONFORMANCE_TIMEOUT").unwrap_or(60));
    let mut shrink = true;
    let mut diagnose = 3usize;
    let mut reference: Option<PathBuf> = std::env::var_os("HAMMER_IO_REFERENCE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut work: Option<PathBuf> = std::env::var_os("CONFORMANCE_DIR").map(PathBuf::from);
    let mut replay = None;
    let mut print = None;
    let mut verbose = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let v = args.get(i + 1).cloned().unwrap_or_default();
        let num = || v.parse::<u64>().ok();
        let mut took = true;
        match a {
            "--seeds" => seeds = num().unwrap_or(seeds),
            "--seed" => {
                first = num().unwrap_or(first);
                seeds = 1;
            }
            "--first" => first = num().unwrap_or(first),
            "--len" => len = num().map_or(len, |n| n as usize),
            "--conc" => nconc = num().unwrap_or(nconc),
            "--timeout" => timeout = Duration::from_secs(num().unwrap_or(60)),
            "--diagnose" => diagnose = num().unwrap_or(3) as usize,
            "--reference" => reference = Some(PathBuf::from(&v)),
            "--work" => work = Some(PathBuf::from(&v)),
            "--replay" => replay = Some(PathBuf::from(&v)),
            "--print" => print = num(),
            "--no-shrink" => {
                shrink = false;
                took = false;
            }
            "--verbose" | "-v" => {
                verbose = true;
                took = false;
            }
            "--help" | "-h" => {
                println!("{}", usage());
                return 0;
            }
            _ => {
                eprintln!("conformance: unknown argument {a}\n{}", usage());
                return 2;
            }
        }
        i += if took { 2 } else { 1 };
    }
    if let Some(s) = print {
        print!("{}", ops::generate(s, len).to_text());
        return 0;
    }
    let work = work.unwrap_or_else(|| {
        exe.parent()
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
            .join("conformance-work")
    });
    let _ = std::fs::create_dir_all(&work);
    let c = match &reference {
        Some(src) => match dynref::build(src, &work.join("so")) {
            Ok(so) => {
                eprintln!(
                    "conformance: C side: {} (compiled to {})",
                    src.display(),
                    so.display()
                );
                Impl::So(so)
            }
            Err(e) => {
                eprintln!("conformance: {e}");
                println!("conformance: 0 scenarios, 1 divergences");
                return 1;
            }
        },
        None => {
            if !IoImpl::reference_available() {
                eprintln!(
                    "conformance: the C reference was not compiled in and HAMMER_IO_REFERENCE is not set; \
                     nothing to compare against"
                );
                println!("conformance: 0 scenarios, 1 divergences");
                return 1;
            }
            Impl::C
        }
    };
    let o = Opts {
        exe,
        first_seed: first,
        seeds,
        len,
        timeout,
        shrink,
        diagnose,
        c,
        work,
        verbose,
        shrink_budget: Duration::from_secs(env_u64("CONFORMANCE_SHRINK_SECS").unwrap_or(120)),
    };
    let summary = if let Some(p) = replay {
        match runner::replay(&o, &p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("conformance: {e}");
                return 2;
            }
        }
    } else {
        let mut s = runner::compare_seeds(&o);
        eprintln!(
            "conformance: deterministic: {} scenarios of {} operations, {} divergences, {:.1}s",
            s.scenarios,
            o.len,
            s.divergences,
            s.elapsed.as_secs_f64()
        );
        if nconc > 0 && seeds > 1 {
            let c = conc::compare(&o, first, nconc);
            eprintln!(
                "conformance: concurrent: {} scenarios, {} divergences, {:.1}s",
                c.scenarios,
                c.divergences,
                c.elapsed.as_secs_f64()
            );
            s.scenarios += c.scenarios;
            s.divergences += c.divergences;
            s.reports.extend(c.reports);
        }
        s
    };
    println!(
        "conformance: {} scenarios, {} divergences",
        summary.scenarios, summary.divergences
    );
    i32::from(summary.divergences > 0)
}
