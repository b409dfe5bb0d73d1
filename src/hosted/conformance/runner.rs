//! The parent side: runs the same scenarios through the Rust port and the
//! C reference in separate child processes, compares their traces, and
//! explains each divergence (first differing trace line with context, and
//! a shrunk operation sequence that still diverges).
//!
//! Children are the conformance executable itself in `child` mode. A batch
//! child runs a range of seeds and prints `ok <seed> <lines> <hash>` per
//! scenario; a panic (the executable aborts on panic) or a hang (no line
//! within the timeout: the child is killed) ends the batch, the seed is
//! recorded as crashed / timed out with the child's message, and a new
//! child continues with the next seed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::string::{String, ToString};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::vec::Vec;
use std::{eprintln, format, vec};

use super::ops::{generate, Scenario};

/// Which implementation a child runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Impl {
    /// The Rust port.
    Rust,
    /// The statically linked C reference (`ref_*`).
    C,
    /// A C file compiled at run time into this shared object.
    So(PathBuf),
}

impl Impl {
    fn args(&self) -> Vec<String> {
        match self {
            Impl::Rust => vec!["--impl".into(), "rust".into()],
            Impl::C => vec!["--impl".into(), "c".into()],
            Impl::So(p) => vec![
                "--impl".into(),
                "so".into(),
                "--so".into(),
                p.display().to_string(),
            ],
        }
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Impl::Rust => "rust",
            Impl::C => "c",
            Impl::So(_) => "c(dlopen)",
        }
    }
}

/// What one child said about one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    Ok {
        lines: u64,
        hash: u64,
    },
    /// The child died (panic, assertion, signal); its stderr tail.
    Crash(String),
    /// No answer within the timeout.
    Timeout,
}

impl Res {
    fn short(&self) -> String {
        match self {
            Res::Ok { lines, hash } => format!("ok ({lines} lines, hash {hash:016x})"),
            Res::Crash(m) => format!("CRASH: {}", first_line(m)),
            Res::Timeout => "TIMEOUT".into(),
        }
    }

    /// Equivalence class used while shrinking: the same kind of outcome.
    fn kind(&self) -> u8 {
        match self {
            Res::Ok { .. } => 0,
            Res::Crash(_) => 1,
            Res::Timeout => 2,
        }
    }
}

fn first_line(m: &str) -> String {
    // The most useful line of a crash report is the panic message: the
    // kernel's ("panic: ...") or else the one after Rust's "panicked at".
    let lines: Vec<&str> = m.lines().collect();
    let msg = lines
        .iter()
        .find(|l| l.starts_with("panic: "))
        .copied()
        .or_else(|| {
            let i = lines.iter().position(|l| l.contains("panicked at"))?;
            lines.get(i + 1).copied()
        })
        .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()).copied())
        .unwrap_or("");
    let op = lines
        .iter()
        .find_map(|l| l.strip_prefix("conformance child: panic during operation "));
    match op {
        Some(op) => format!("{} (operation {op})", msg.trim()),
        None => msg.trim().to_string(),
    }
}

/// Options of a comparison run.
#[derive(Clone, Debug)]
pub struct Opts {
    /// The conformance executable (children are spawned from it).
    pub exe: PathBuf,
    pub first_seed: u64,
    pub seeds: u64,
    pub len: usize,
    pub timeout: Duration,
    pub shrink: bool,
    /// How many divergences get a full diagnosis (diff + shrink).
    pub diagnose: usize,
    /// The C side.
    pub c: Impl,
    /// Directory for scenario files, dumps and shared objects.
    pub work: PathBuf,
    pub verbose: bool,
    /// Time budget for shrinking one divergence.
    pub shrink_budget: Duration,
}

struct Running {
    child: Child,
    rx: mpsc::Receiver<Option<String>>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
}

fn spawn(exe: &Path, args: &[String]) -> std::io::Result<Running> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().expect("piped stdout");
    let mut errp = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            match l {
                Ok(l) => {
                    if tx.send(Some(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(None);
    });
    let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let err2 = err.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match errp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut e = err2.lock().unwrap_or_else(|e| e.into_inner());
                    e.push_str(&String::from_utf8_lossy(&buf[..n]));
                    // Keep the tail only.
                    if e.len() > 64 * 1024 {
                        let cut = e.len() - 32 * 1024;
                        let cut = (cut..e.len())
                            .find(|&i| e.is_char_boundary(i))
                            .unwrap_or(e.len());
                        e.replace_range(..cut, "");
                    }
                }
            }
        }
    });
    Ok(Running { child, rx, err })
}

fn finish_child(mut r: Running) -> String {
    let _ = r.child.kill();
    let status = r.child.wait().ok();
    // Give the stderr reader a moment to drain.
    std::thread::sleep(Duration::from_millis(20));
    let e = r.err.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match status {
        Some(s) if !s.success() => format!("{e}\n(exit status: {s})"),
        _ => e,
    }
}

fn parse_ok(l: &str) -> Option<(u64, u64, u64)> {
    let mut w = l.split_whitespace();
    if w.next()? != "ok" {
        return None;
    }
    let seed = w.next()?.parse().ok()?;
    let lines = w.next()?.parse().ok()?;
    let hash = u64::from_str_radix(w.next()?, 16).ok()?;
    Some((seed, lines, hash))
}

/// Runs seeds `first..first+count` through `imp` in batch children.
pub fn run_batch(o: &Opts, imp: &Impl, first: u64, count: u64) -> BTreeMap<u64, Res> {
    let mut res = BTreeMap::new();
    let mut next = first;
    let end = first + count;
    // A long run says how far it got every tenth of the way, so that a
    // 100,000-seed run does not sit silent for half an hour; the Rust
    // batch speaks for both, which run side by side at the same pace.
    let progress_step = (count >= 10_000 && matches!(imp, Impl::Rust)).then_some(count / 10);
    let started = Instant::now();
    while next < end {
        let mut args = vec!["child".to_string()];
        args.extend(imp.args());
        args.extend([
            "--batch".into(),
            next.to_string(),
            (end - next).to_string(),
            "--len".into(),
            o.len.to_string(),
        ]);
        let r = match spawn(&o.exe, &args) {
            Ok(r) => r,
            Err(e) => {
                res.insert(
                    next,
                    Res::Crash(format!("cannot spawn {}: {e}", o.exe.display())),
                );
                next += 1;
                continue;
            }
        };
        let mut deadline = Instant::now() + o.timeout;
        loop {
            let now = Instant::now();
            match r.rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(Some(l)) => {
                    if let Some((seed, lines, hash)) = parse_ok(&l) {
                        if seed == next {
                            res.insert(seed, Res::Ok { lines, hash });
                            next += 1;
                            deadline = Instant::now() + o.timeout;
                            if o.verbose && next.is_multiple_of(100) {
                                eprintln!("conformance: {} seed {next}", imp.name());
                            } else if let Some(step) = progress_step {
                                let done = next - first;
                                if done.is_multiple_of(step) {
                                    eprintln!(
                                        "conformance: {} {done}/{count} scenarios run, {:.0}s",
                                        imp.name(),
                                        started.elapsed().as_secs_f64()
                                    );
                                }
                            }
                        }
                    }
                    if next >= end {
                        break;
                    }
                }
                Ok(None) => {
                    // The child ended before answering for `next`.
                    let msg = finish_child(r);
                    res.insert(next, Res::Crash(msg));
                    next += 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = finish_child(r);
                    res.insert(next, Res::Timeout);
                    next += 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let msg = finish_child(r);
                    res.insert(next, Res::Crash(msg));
                    next += 1;
                    break;
                }
            }
            if next >= end {
                break;
            }
        }
        if next >= end {
            // Normal end: reap the child if it is still around.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    res
}

/// Runs one scenario file through `imp` (optionally dumping its trace).
pub fn run_one(o: &Opts, imp: &Impl, scenario: &Path, dump: Option<&Path>) -> Res {
    let mut args = vec!["child".to_string()];
    args.extend(imp.args());
    args.extend(["--scenario".into(), scenario.display().to_string()]);
    if let Some(d) = dump {
        args.extend(["--dump".into(), d.display().to_string()]);
    }
    let r = match spawn(&o.exe, &args) {
        Ok(r) => r,
        Err(e) => return Res::Crash(format!("cannot spawn {}: {e}", o.exe.display())),
    };
    let deadline = Instant::now() + o.timeout;
    loop {
        match r
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(Some(l)) => {
                if let Some((_, lines, hash)) = parse_ok(&l) {
                    let _ = finish_child(r);
                    return Res::Ok { lines, hash };
                }
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Res::Crash(finish_child(r))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = finish_child(r);
                return Res::Timeout;
            }
        }
    }
}

fn both(o: &Opts, sc_path: &Path, dumps: Option<(&Path, &Path)>) -> (Res, Res) {
    std::thread::scope(|s| {
        let a = s.spawn(|| run_one(o, &Impl::Rust, sc_path, dumps.map(|d| d.0)));
        let b = s.spawn(|| run_one(o, &o.c, sc_path, dumps.map(|d| d.1)));
        (
            a.join().expect("runner thread"),
            b.join().expect("runner thread"),
        )
    })
}

fn diverges(a: &Res, b: &Res) -> bool {
    !matches!((a, b), (Res::Ok { lines: l1, hash: h1 }, Res::Ok { lines: l2, hash: h2 }) if l1 == l2 && h1 == h2)
}

/// The first differing line of two traces with context, as a report.
pub fn first_difference(a: &[String], b: &[String], an: &str, bn: &str) -> String {
    let n = a.len().min(b.len());
    let i = (0..n).find(|&i| a[i] != b[i]).unwrap_or(n);
    if i == n && a.len() == b.len() {
        return "  traces are identical (the same behaviour in both: a crash or hang here comes from the \
                environment or the workload, not from a difference between the implementations)\n"
            .into();
    }
    let mut s = String::new();
    let op = a[..i.min(a.len())]
        .iter()
        .rev()
        .find(|l| l.starts_with("OP "));
    if let Some(op) = op {
        s.push_str(&format!("  during: {op}\n"));
    }
    s.push_str(&format!(
        "  first difference at trace line {} (of {} / {}):\n",
        i + 1,
        a.len(),
        b.len()
    ));
    let from = i.saturating_sub(8);
    for l in &a[from..i] {
        s.push_str(&format!("      {l}\n"));
    }
    for (name, t) in [(an, a), (bn, b)] {
        let to = (i + 4).min(t.len());
        if i >= t.len() {
            s.push_str(&format!("  {name:>6}> <end of trace>\n"));
        }
        for (k, l) in t[i.min(t.len())..to].iter().enumerate() {
            let mark = if k == 0 { '>' } else { ' ' };
            s.push_str(&format!("  {name:>6}{mark} {l}\n"));
        }
    }
    s
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// Delta debugging (ddmin) over the operations of `sc`, keeping the
/// outcome kinds `(ka, kb)` and a divergence.
fn shrink(o: &Opts, sc: &Scenario, ka: u8, kb: u8) -> (Scenario, usize) {
    let start = Instant::now();
    let path = o
        .work
        .join(format!("shrink-{}-{}.scn", sc.seed, std::process::id()));
    let mut tests = 0usize;
    let mut test = |ops: &[super::ops::Op]| -> bool {
        let cand = Scenario {
            seed: sc.seed,
            setup: sc.setup.clone(),
            ops: ops.to_vec(),
        };
        if std::fs::write(&path, cand.to_text()).is_err() {
            return false;
        }
        tests += 1;
        let (a, b) = both(o, &path, None);
        diverges(&a, &b) && a.kind() == ka && b.kind() == kb
    };
    let mut ops = sc.ops.clone();
    let mut n = 2usize;
    while ops.len() >= 2 && start.elapsed() < o.shrink_budget {
        let chunk = ops.len().div_ceil(n);
        let mut reduced = false;
        // Try removing each chunk (complement test).
        let mut i = 0;
        while i < n && start.elapsed() < o.shrink_budget {
            let lo = i * chunk;
            if lo >= ops.len() {
                break;
            }
            let hi = (lo + chunk).min(ops.len());
            let mut cand = ops[..lo].to_vec();
            cand.extend_from_slice(&ops[hi..]);
            if !cand.is_empty() && test(&cand) {
                ops = cand;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            i += 1;
        }
        if !reduced {
            if n >= ops.len() {
                break;
            }
            n = (n * 2).min(ops.len());
        }
    }
    // Final pass: single operations.
    let mut i = 0;
    while i < ops.len() && start.elapsed() < o.shrink_budget {
        let mut cand = ops.clone();
        cand.remove(i);
        if !cand.is_empty() && test(&cand) {
            ops = cand;
        } else {
            i += 1;
        }
    }
    let _ = std::fs::remove_file(&path);
    (
        Scenario {
            seed: sc.seed,
            setup: sc.setup.clone(),
            ops,
        },
        tests,
    )
}

/// Full diagnosis of a diverging scenario: both outcomes, the first
/// differing trace line, and (optionally) a shrunk scenario. Returns the
/// report text.
pub fn diagnose(o: &Opts, sc: &Scenario, ra: &Res, rb: &Res) -> String {
    let mut rep = String::new();
    let cn = o.c.name();
    rep.push_str(&format!(
        "DIVERGENCE seed {} ({} ops, {})\n",
        sc.seed,
        sc.ops.len(),
        sc.setup
    ));
    rep.push_str(&format!(
        "  rust: {}\n  {cn:>4}: {}\n",
        ra.short(),
        rb.short()
    ));
    for (name, r) in [("rust", ra), (cn, rb)] {
        if let Res::Crash(m) = r {
            let tail: Vec<&str> = m.lines().rev().take(12).collect();
            rep.push_str(&format!("  {name} stderr (tail):\n"));
            for l in tail.into_iter().rev() {
                rep.push_str(&format!("    | {l}\n"));
            }
        }
    }
    let _ = std::fs::create_dir_all(&o.work);
    let scp = o.work.join(format!("seed-{}.scn", sc.seed));
    let _ = std::fs::write(&scp, sc.to_text());
    let da = o.work.join(format!("seed-{}.rust.trace", sc.seed));
    let db = o.work.join(format!(
        "seed-{}.{}.trace",
        sc.seed,
        if matches!(o.c, Impl::Rust) {
            "rust2"
        } else {
            "c"
        }
    ));
    let (a2, b2) = both(o, &scp, Some((&da, &db)));
    if a2 != *ra || b2 != *rb {
        rep.push_str(&format!(
            "  (single-scenario rerun: rust {} / {cn} {})\n",
            a2.short(),
            b2.short()
        ));
    }
    let (ta, tb) = (read_lines(&da), read_lines(&db));
    rep.push_str(&first_difference(&ta, &tb, "rust", cn));
    rep.push_str(&format!(
        "  traces: {} and {}\n  scenario: {}\n",
        da.display(),
        db.display(),
        scp.display()
    ));
    if o.shrink && diverges(&a2, &b2) {
        let (small, tests) = shrink(o, sc, a2.kind(), b2.kind());
        let sp = o.work.join(format!("seed-{}.shrunk.scn", sc.seed));
        let _ = std::fs::write(&sp, small.to_text());
        rep.push_str(&format!(
            "  shrunk to {} of {} operations ({tests} runs); replay with: conformance --replay {}\n",
            small.ops.len(),
            sc.ops.len(),
            sp.display()
        ));
        for op in &small.ops {
            rep.push_str(&format!("    {op}\n"));
        }
        // The difference in the shrunk scenario.
        let sa = o.work.join(format!("seed-{}.shrunk.rust.trace", sc.seed));
        let sb = o.work.join(format!("seed-{}.shrunk.c.trace", sc.seed));
        let (x, y) = both(o, &sp, Some((&sa, &sb)));
        rep.push_str(&format!(
            "  shrunk: rust {} / {cn} {}\n",
            x.short(),
            y.short()
        ));
        rep.push_str(&first_difference(
            &read_lines(&sa),
            &read_lines(&sb),
            "rust",
            cn,
        ));
    }
    rep
}

/// Summary of a run.
pub struct Summary {
    pub scenarios: u64,
    pub divergences: u64,
    pub reports: Vec<String>,
    pub elapsed: Duration,
}

/// Runs `o.seeds` deterministic scenarios through both implementations
/// and compares them.
pub fn compare_seeds(o: &Opts) -> Summary {
    let start = Instant::now();
    let (ra, rb) = std::thread::scope(|s| {
        let a = s.spawn(|| run_batch(o, &Impl::Rust, o.first_seed, o.seeds));
        let b = s.spawn(|| run_batch(o, &o.c, o.first_seed, o.seeds));
        (
            a.join().expect("batch thread"),
            b.join().expect("batch thread"),
        )
    });
    let mut div = 0u64;
    let mut reports = Vec::new();
    for seed in o.first_seed..o.first_seed + o.seeds {
        let a = ra
            .get(&seed)
            .cloned()
            .unwrap_or(Res::Crash("no result".into()));
        let b = rb
            .get(&seed)
            .cloned()
            .unwrap_or(Res::Crash("no result".into()));
        if diverges(&a, &b) {
            div += 1;
            if reports.len() < o.diagnose {
                let sc = generate(seed, o.len);
                let rep = diagnose(o, &sc, &a, &b);
                eprintln!("{rep}");
                reports.push(rep);
            } else {
                let line = format!(
                    "DIVERGENCE seed {seed}: rust {} / {} {}",
                    a.short(),
                    o.c.name(),
                    b.short()
                );
                eprintln!("{line}");
                reports.push(line);
            }
        }
    }
    Summary {
        scenarios: o.seeds,
        divergences: div,
        reports,
        elapsed: start.elapsed(),
    }
}

/// Replays one scenario file through both implementations and reports.
pub fn replay(o: &Opts, path: &Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sc = Scenario::from_text(&text)?;
    let start = Instant::now();
    let (a, b) = both(o, path, None);
    let mut reports = Vec::new();
    let d = diverges(&a, &b);
    if d {
        let rep = diagnose(o, &sc, &a, &b);
        eprintln!("{rep}");
        reports.push(rep);
    }
    Ok(Summary {
        scenarios: 1,
        divergences: d as u64,
        reports,
        elapsed: start.elapsed(),
    })
}
