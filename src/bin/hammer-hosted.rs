//! `hammer-hosted`: the main program of `make`. Boots the hosted DragonFly
//! machine (disk thread with latencies, buffer daemon, syncer, a small
//! buffer cache), mounts a two-volume HAMMER file system and runs the
//! self-checking workload of `hammer_io::hosted::workload` through the Rust
//! port, then through the C reference when it is compiled in, and compares
//! what the two left on the devices.
//!
//! Each implementation runs in a child process of its own (the same
//! executable with `--child`): a hosted machine with background threads is
//! not torn down in a release build (it aborts on panic, so its daemons
//! cannot be unwound), and a kernel panic in one implementation must not
//! take the report of the other with it.

use std::io::{IsTerminal, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hammer_io::hosted::hammer::IoImpl;
use hammer_io::hosted::workload::{self, Params, Progress, Report};

const USAGE: &str = "\
usage: hammer-hosted [options]

Runs a HAMMER workload through hammer_io on the hosted DragonFly machine,
checks the I/O layer's invariants and the data on the devices, and
compares the Rust port with the C reference.

options:
  --ops N           operations per implementation (default 60000)
  --seed S          workload and machine seed, decimal or 0x-hex (default 0x5eed)
  --impl WHICH      rust, c (the C reference) or both (default: both when the
                    reference is compiled in, else rust)
  --threads N       front-end worker threads (default 2; 1 with --deterministic)
  --deterministic   no background threads: I/O completes when the workload
                    says so, in a seeded order (device images must match)
  --nbuf N          buffer-cache limit in buffers (default 96)
  --no-spy          do not trace io_checkwrite answers (faster)
  --quiet           no progress line
  -h, --help        this text
";

#[derive(Clone, Debug)]
struct Opts {
    ops: u64,
    seed: u64,
    imps: Vec<String>,
    threads: usize,
    deterministic: bool,
    nbuf: usize,
    spy: bool,
    quiet: bool,
    child: Option<String>,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not a number: {s}"))
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        ops: 60_000,
        seed: 0x5eed,
        imps: Vec::new(),
        threads: 2,
        deterministic: false,
        nbuf: 96,
        spy: true,
        quiet: false,
        child: None,
    };
    let mut threads_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--ops" => o.ops = parse_u64(&val("--ops")?)?,
            "--seed" => o.seed = parse_u64(&val("--seed")?)?,
            "--impl" => {
                o.imps = match val("--impl")?.as_str() {
                    "rust" => vec!["rust".into()],
                    "c" | "reference" | "ref" => vec!["reference".into()],
                    "both" => vec!["rust".into(), "reference".into()],
                    x => return Err(format!("--impl: rust, c or both, not {x}")),
                }
            }
            "--threads" => {
                o.threads = parse_u64(&val("--threads")?)?.clamp(1, 16) as usize;
                threads_given = true;
            }
            "--deterministic" => o.deterministic = true,
            "--nbuf" => o.nbuf = parse_u64(&val("--nbuf")?)?.clamp(48, 4096) as usize,
            "--no-spy" => o.spy = false,
            "--quiet" => o.quiet = true,
            "--child" => o.child = Some(val("--child")?),
            "-h" | "--help" => return Err(String::new()),
            x => return Err(format!("unknown argument {x}")),
        }
    }
    if o.deterministic {
        if threads_given && o.threads > 1 {
            return Err("--deterministic runs one front-end thread".into());
        }
        o.threads = 1;
    }
    if o.ops == 0 {
        return Err("--ops must be at least 1".into());
    }
    Ok(o)
}

fn params(o: &Opts) -> Params {
    let mut p = if o.deterministic {
        Params::deterministic(o.ops, o.seed)
    } else {
        Params::threaded(o.ops, o.seed, o.threads)
    };
    p.nbuf = o.nbuf;
    p.checkwrite_spy = o.spy;
    p
}

fn implementation(name: &str) -> Option<IoImpl> {
    match name {
        "rust" => IoImpl::try_rust(),
        "reference" => IoImpl::try_reference(),
        _ => None,
    }
}

// ---------------------------------------------------------------------
// Child: one implementation
// ---------------------------------------------------------------------

/// Progress on stderr: one line rewritten in place on a terminal, a plain
/// line every few seconds (and at each phase) otherwise.
struct Meter {
    tty: bool,
    quiet: bool,
    last: Option<Instant>,
    last_phase: &'static str,
    width: usize,
}

impl Meter {
    fn show(&mut self, p: &Progress) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(3)
        };
        // On a terminal every phase shows; in a log only the periodic
        // lines and the end (rounds alternate workload and settle phases).
        let due = self.last.is_none_or(|t| now - t >= every);
        let show = if self.tty {
            due || p.phase != self.last_phase
        } else {
            due || p.phase == "done"
        };
        if !show {
            return;
        }
        self.last = Some(now);
        self.last_phase = p.phase;
        let secs = p.elapsed.as_secs_f64().max(1e-3);
        let pct = if p.total == 0 {
            100.0
        } else {
            100.0 * p.done as f64 / p.total as f64
        };
        let line = format!(
            "[{:<9}] {:<8} {:>7}/{} ops {:>5.1}%  {:>6.0} ops/s  disk r/w {}/{}  checks {}  {:>5.1}s",
            p.imp,
            p.phase,
            p.done,
            p.total,
            pct,
            p.done as f64 / secs,
            p.disk_reads,
            p.disk_writes,
            p.checks,
            secs
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let pad = self.width.saturating_sub(line.len());
            let _ = write!(err, "\r{line}{:pad$}", "");
            self.width = line.len();
            if p.phase == "done" {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

fn child(o: &Opts, name: &str) -> ExitCode {
    let Some(imp) = implementation(name) else {
        eprintln!("hammer-hosted: implementation {name} is not compiled in");
        return ExitCode::from(2);
    };
    let mut meter = Meter {
        tty: std::io::stderr().is_terminal(),
        quiet: o.quiet,
        last: None,
        last_phase: "",
        width: 0,
    };
    let report = workload::run(imp, &params(o), &mut |p| meter.show(p));
    let mut out = std::io::stdout().lock();
    for l in report.to_lines() {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
    // The machine keeps running: its daemons cannot be unwound in a
    // release build, so the process just ends.
    std::process::exit(0)
}

// ---------------------------------------------------------------------
// Parent: run the children, summarise, compare
// ---------------------------------------------------------------------

fn child_args(o: &Opts, name: &str) -> Vec<String> {
    let mut a = vec![
        "--child".to_string(),
        name.to_string(),
        "--ops".into(),
        o.ops.to_string(),
        "--seed".into(),
        o.seed.to_string(),
        "--threads".into(),
        o.threads.to_string(),
        "--nbuf".into(),
        o.nbuf.to_string(),
    ];
    if o.deterministic {
        a.push("--deterministic".into());
    }
    if !o.spy {
        a.push("--no-spy".into());
    }
    if o.quiet {
        a.push("--quiet".into());
    }
    a
}

fn run_child(o: &Opts, name: &str) -> Report {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Report {
                imp: name.into(),
                failures: vec![format!("cannot find my own executable: {e}")],
                ..Report::default()
            }
        }
    };
    let spawned = Command::new(exe)
        .args(child_args(o, name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut ch = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Report {
                imp: name.into(),
                failures: vec![format!("cannot start the {name} run: {e}")],
                ..Report::default()
            }
        }
    };
    let mut text = String::new();
    if let Some(mut so) = ch.stdout.take() {
        let _ = so.read_to_string(&mut text);
    }
    let status = ch.wait();
    let mut r = Report::parse(text.lines());
    if r.imp.is_empty() {
        r.imp = name.into();
    }
    match status {
        Ok(s) if s.success() => {
            if r.stats.is_empty() {
                r.failures.push(format!("the {name} run printed no report"));
            }
        }
        Ok(s) => r.failures.push(format!(
            "the {name} run died ({s}); a kernel panic or assertion message is above"
        )),
        Err(e) => r.failures.push(format!("waiting for the {name} run: {e}")),
    }
    r
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn summary(r: &Report) {
    let ops = r.get("ops");
    let work = r.get("work_us") as f64 / 1e6;
    let wall = r.get("wall_us") as f64 / 1e6;
    println!("== {} ==", r.imp);
    if r.stats.is_empty() {
        for f in &r.failures {
            println!("  FAILED      {f}");
        }
        return;
    }
    println!(
        "  operations    {ops} in {work:.2} s of workload ({:.0} ops/s); {wall:.2} s wall with verification",
        ops as f64 / work.max(1e-6)
    );
    let mut mix: Vec<(String, u64)> = r
        .stats
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("op.").map(|n| (n.to_string(), *v)))
        .collect();
    mix.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut line = String::new();
    for (i, (n, v)) in mix.iter().enumerate() {
        if i > 0 {
            line.push_str(if i % 6 == 0 {
                ",\n                "
            } else {
                ", "
            });
        }
        line.push_str(&format!("{n} {v}"));
    }
    println!("  op mix        {line}");
    println!(
        "  flusher       {} cycles ({} forced by dirty-buffer or UNDO limits)",
        r.get("flush_cycles"),
        r.get("pressure_flushes")
    );
    println!(
        "  buffers       read {} ({}), written {} ({}); hammer_stats_disk_read {} / _write {}",
        r.get("dev.reads"),
        mib(r.get("dev.bytes_read")),
        r.get("dev.writes"),
        mib(r.get("dev.bytes_written")),
        mib(r.get("hammer_disk_read_bytes")),
        mib(r.get("hammer_disk_write_bytes")),
    );
    println!(
        "  buffer cache  getblk {} (hits {}), recycled {}, getnewbuf sleeps {}, cluster reads {}, device flushes {}",
        r.get("kern.getblk"),
        r.get("kern.getblk_hits"),
        r.get("kern.recycled"),
        r.get("kern.getnewbuf_sleeps"),
        r.get("kern.cluster_reads"),
        r.get("kern.disk_flushes"),
    );
    println!(
        "  kernel calls  io_checkwrite {} (vetoed {}), io_deallocate {}, io_complete {}, io_start {}; \
         buf daemon {} / syncer {} writes",
        r.get("kern.io_checkwrite"),
        r.get("kern.io_checkwrite_vetoes"),
        r.get("kern.io_deallocate"),
        r.get("kern.io_complete"),
        r.get("kern.io_start"),
        r.get("kern.daemon_flushes"),
        r.get("kern.syncer_writes"),
    );
    println!(
        "  I/O errors    read: {} injected, {} handled (retried); write: {} injected, {} handled \
         (critical error, read-only mount)",
        r.get("read_faults_injected"),
        r.get("read_errors_handled"),
        r.get("write_faults_injected"),
        r.get("write_errors_handled"),
    );
    println!(
        "  checks        {} invariant checks passed; {} device comparisons ({} buffer compares); \
         at the end {} buffers ({}) committed on the devices, {} re-read after remount",
        r.get("invariant_checks"),
        r.get("device_compares"),
        r.get("compared_buffers"),
        r.get("verified_buffers"),
        mib(r.get("verified_bytes")),
        r.get("remount_buffers"),
    );
    println!(
        "  digests       committed data {:#018x}, device image {:#018x}",
        r.get("committed_digest"),
        r.get("image_digest")
    );
    for n in &r.notes {
        println!("  note          {n}");
    }
    if r.failures.is_empty() {
        println!("  result        PASS");
    } else {
        println!("  result        FAIL ({} problem(s)):", r.failures.len());
        for f in &r.failures {
            println!("    - {f}");
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = match parse(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hammer-hosted: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(name) = o.child.clone() {
        return child(&o, &name);
    }
    let have_ref = IoImpl::try_reference().is_some();
    if o.imps.is_empty() {
        o.imps = if have_ref {
            vec!["rust".into(), "reference".into()]
        } else {
            vec!["rust".into()]
        };
    }
    for i in &o.imps {
        if implementation(i).is_none() {
            eprintln!(
                "hammer-hosted: the {i} implementation is not compiled in{}",
                if i == "reference" {
                    " (build.rs did not find hammer_io.c: set HAMMER_IO_REFERENCE)"
                } else {
                    ""
                }
            );
            return ExitCode::from(2);
        }
    }
    o.quiet |= std::env::var_os("HAMMER_HOSTED_QUIET").is_some();

    let p = params(&o);
    println!("hammer-hosted: HAMMER's hammer_io on the hosted DragonFly machine");
    println!(
        "  machine       {}, {} buffers, 2 volumes, seed {:#x}",
        if o.deterministic {
            "deterministic (no background threads; seeded completion order)".to_string()
        } else {
            format!(
                "threaded: disk thread with 0-150us latency, buffer daemon, syncer; {} front-end thread(s)",
                o.threads
            )
        },
        o.nbuf,
        o.seed
    );
    println!(
        "  workload      {} operations per implementation, invariant check every {} ops per thread, \
         device comparison every {} checks",
        o.ops, p.round, p.sync_every
    );
    println!("  running       {}", o.imps.join(", "));
    if !have_ref {
        println!("  note          the C reference is not compiled in: no comparison");
    }
    let _ = std::io::stdout().flush();

    let reports: Vec<Report> = o.imps.iter().map(|i| run_child(&o, i)).collect();
    println!();
    for r in &reports {
        summary(r);
    }

    let mut ok = reports.iter().all(Report::ok);
    let mut verdict = Vec::new();
    if let [a, b] = reports.as_slice() {
        if a.ok() && b.ok() {
            let (ca, cb) = (a.get("committed_digest"), b.get("committed_digest"));
            let (ia, ib) = (a.get("image_digest"), b.get("image_digest"));
            let rate = |r: &Report| r.get("ops") as f64 / (r.get("work_us") as f64 / 1e6).max(1e-6);
            println!("== comparison ==");
            println!(
                "  committed     {} {ca:#018x}, {} {cb:#018x}: {}",
                a.imp,
                b.imp,
                if ca == cb { "identical" } else { "DIFFERENT" }
            );
            println!(
                "  device image  {} {ia:#018x}, {} {ib:#018x}: {}",
                a.imp,
                b.imp,
                if ia == ib {
                    "identical"
                } else if o.deterministic {
                    "DIFFERENT"
                } else {
                    "different (expected when threaded: the UNDO FIFO and flush timing follow the scheduling)"
                }
            );
            println!(
                "  throughput    {} {:.0} ops/s, {} {:.0} ops/s ({} / {} = {:.2})",
                a.imp,
                rate(a),
                b.imp,
                rate(b),
                a.imp,
                b.imp,
                rate(a) / rate(b).max(1e-9)
            );
            for (k, what) in [
                ("write_errors_handled", "handled write errors"),
                ("critical_errors", "critical errors"),
                ("read_errors_handled", "handled read errors"),
            ] {
                if a.get(k) != b.get(k) {
                    println!(
                        "  mismatch      {what}: {} {}, {} {}",
                        a.imp,
                        a.get(k),
                        b.imp,
                        b.get(k)
                    );
                    verdict.push(format!("{what} differ"));
                    ok = false;
                }
            }
            if ca != cb {
                verdict.push("committed data differs between the implementations".into());
                ok = false;
            }
            if o.deterministic && ia != ib {
                verdict.push("device images differ in a deterministic run".into());
                ok = false;
            }
        }
    }
    for r in &reports {
        if !r.ok() {
            verdict.push(format!("{}: {} problem(s)", r.imp, r.failures.len()));
        }
    }
    println!();
    if ok {
        println!(
            "VERDICT: PASS - {} ran {} operations each with every invariant holding and every committed byte on the device{}",
            o.imps.join(" and "),
            o.ops,
            if reports.len() == 2 { "; committed data identical" } else { "" }
        );
        ExitCode::SUCCESS
    } else {
        println!("VERDICT: FAIL - {}", verdict.join("; "));
        ExitCode::from(1)
    }
}
