//! The run report, as plain text for people and as JSON for tools (written
//! by hand: the crate has no dependencies).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// The command ran and exited non-zero (or its output was wrong).
    Fail,
    Timeout,
    /// A panic pattern appeared on the console during the step.
    Panic,
    /// Not run because an earlier step it depends on failed.
    Skipped,
    /// The harness could not run the step (console closed, I/O error).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Panic => "panic",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    /// Whether this status makes the whole run fail.
    pub fn is_failure(self) -> bool {
        !matches!(self, Status::Pass | Status::Skipped)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub name: String,
    /// What ran in the guest (a short command, or the script it called).
    pub command: String,
    pub status: Status,
    pub seconds: f64,
    pub rc: Option<i32>,
    /// One line saying why a step did not pass, or a note on a passing one.
    pub detail: String,
    /// The console's last lines, kept for steps that did not pass.
    pub console_tail: Option<String>,
}

impl StepRecord {
    pub fn new(name: &str, command: &str) -> StepRecord {
        StepRecord {
            name: name.into(),
            command: command.into(),
            status: Status::Skipped,
            seconds: 0.0,
            rc: None,
            detail: String::new(),
            console_tail: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub title: String,
    /// Ordered (key, value) facts about the run: image, accel, qemu command...
    pub facts: Vec<(String, String)>,
    pub steps: Vec<StepRecord>,
    /// Set when the run ended early for a reason outside any one step.
    pub aborted: Option<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.aborted.is_none()
            && !self.steps.is_empty()
            && self.steps.iter().all(|s| !s.status.is_failure())
            && self.steps.iter().any(|s| s.status == Status::Pass)
    }

    pub fn fact(&mut self, key: &str, value: impl Into<String>) {
        self.facts.push((key.into(), value.into()));
    }

    pub fn total_seconds(&self) -> f64 {
        self.steps.iter().map(|s| s.seconds).sum()
    }

    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "{}", self.title);
        let _ = writeln!(o, "{}", "=".repeat(self.title.len().max(8)));
        for (k, v) in &self.facts {
            let _ = writeln!(o, "{k:<12} {v}");
        }
        let failed = self.steps.iter().filter(|s| s.status.is_failure()).count();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            o,
            "{:<12} {verdict} ({} steps, {failed} failed, {:.1} s)",
            "result",
            self.steps.len(),
            self.total_seconds()
        );
        if let Some(a) = &self.aborted {
            let _ = writeln!(o, "{:<12} {a}", "aborted");
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<4} {:<18} {:<8} {:>9} {:>5}  detail",
            "#", "step", "result", "seconds", "rc"
        );
        for (i, s) in self.steps.iter().enumerate() {
            let rc = s.rc.map_or("-".to_string(), |r| r.to_string());
            let _ = writeln!(
                o,
                "{:<4} {:<18} {:<8} {:>9.1} {:>5}  {}",
                i + 1,
                s.name,
                s.status.as_str(),
                s.seconds,
                rc,
                s.detail
            );
        }
        for s in &self.steps {
            if let Some(tail) = &s.console_tail {
                let _ = writeln!(o);
                let _ = writeln!(
                    o,
                    "--- console tail at step {} ({}) ---",
                    s.name,
                    s.status.as_str()
                );
                let _ = writeln!(o, "command: {}", s.command);
                o.push_str(tail);
                if !tail.ends_with('\n') {
                    o.push('\n');
                }
                let _ = writeln!(o, "--- end of tail ---");
            }
        }
        o
    }

    pub fn to_json(&self) -> String {
        let mut o = String::new();
        o.push_str("{\n");
        let _ = writeln!(o, "  \"title\": {},", json_str(&self.title));
        let _ = writeln!(
            o,
            "  \"result\": {},",
            json_str(if self.passed() { "pass" } else { "fail" })
        );
        let _ = writeln!(
            o,
            "  \"aborted\": {},",
            self.aborted.as_deref().map_or("null".to_string(), json_str)
        );
        let _ = writeln!(
            o,
            "  \"total_seconds\": {},",
            json_num(self.total_seconds())
        );
        o.push_str("  \"facts\": {");
        for (i, (k, v)) in self.facts.iter().enumerate() {
            let sep = if i == 0 { "\n" } else { ",\n" };
            let _ = write!(o, "{sep}    {}: {}", json_str(k), json_str(v));
        }
        o.push_str(if self.facts.is_empty() {
            "},\n"
        } else {
            "\n  },\n"
        });
        o.push_str("  \"steps\": [");
        for (i, s) in self.steps.iter().enumerate() {
            o.push_str(if i == 0 { "\n" } else { ",\n" });
            o.push_str("    {");
            let _ = write!(o, "\"name\": {}, ", json_str(&s.name));
            let _ = write!(o, "\"status\": {}, ", json_str(s.status.as_str()));
            let _ = write!(o, "\"seconds\": {}, ", json_num(s.seconds));
            let _ = write!(
                o,
                "\"rc\": {}, ",
                s.rc.map_or("null".to_string(), |r| r.to_string())
            );
            let _ = write!(o, "\"command\": {}, ", json_str(&s.command));
            let _ = write!(o, "\"detail\": {}, ", json_str(&s.detail));
            let _ = write!(
                o,
                "\"console_tail\": {}",
                s.console_tail
                    .as_deref()
                    .map_or("null".to_string(), json_str)
            );
            o.push('}');
        }
        o.push_str(if self.steps.is_empty() {
            "]\n"
        } else {
            "\n  ]\n"
        });
        o.push_str("}\n");
        o
    }

    /// Writes `report.txt` and `report.json` into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.txt"), self.to_text())?;
        std::fs::write(dir.join("report.json"), self.to_json())
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON number with 0.1 s resolution (JSON has no NaN/inf).
fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report {
            title: "vmtest: hammer_io on DragonFly".into(),
            ..Default::default()
        };
        r.fact("image", "/img/dfly.qcow2");
        r.fact("accel", "kvm");
        let mut a = StepRecord::new("boot", "(console)");
        a.status = Status::Pass;
        a.seconds = 31.25;
        r.steps.push(a);
        let mut b = StepRecord::new("fsx", "sh $P/steps/fsx.sh");
        b.status = Status::Panic;
        b.seconds = 12.0;
        b.detail = "panic pattern \"panic:\" on the console".into();
        b.console_tail =
            Some("op 17 write\npanic: assertion \"io->lock.refs\" failed\n\tdb> ".into());
        r.steps.push(b);
        let mut c = StepRecord::new("umount", "umount $T");
        c.detail = "not run: an earlier step failed".into();
        r.steps.push(c);
        r
    }

    #[test]
    fn text_report() {
        let t = sample().to_text();
        assert!(
            t.starts_with("vmtest: hammer_io on DragonFly\n====="),
            "{t}"
        );
        assert!(
            t.contains("result       FAIL (3 steps, 1 failed, 43.2 s)"),
            "{t}"
        );
        assert!(
            t.contains("1    boot               pass          31.2     -"),
            "{t}"
        );
        assert!(
            t.contains("2    fsx                panic         12.0     -  panic pattern"),
            "{t}"
        );
        assert!(t.contains("3    umount             skipped"), "{t}");
        assert!(t.contains("--- console tail at step fsx (panic) ---\ncommand: sh $P/steps/fsx.sh\nop 17 write\n"), "{t}");
        assert!(t.contains("--- end of tail ---"), "{t}");
    }

    #[test]
    fn json_report() {
        let j = sample().to_json();
        assert!(j.contains("\"result\": \"fail\""), "{j}");
        assert!(j.contains("\"aborted\": null"), "{j}");
        assert!(j.contains("\"image\": \"/img/dfly.qcow2\""), "{j}");
        assert!(j.contains(
            "{\"name\": \"boot\", \"status\": \"pass\", \"seconds\": 31.2, \"rc\": null, \"command\": \"(console)\", \"detail\": \"\", \"console_tail\": null}"
        ), "{j}");
        assert!(j.contains("\"console_tail\": \"op 17 write\\npanic: assertion \\\"io->lock.refs\\\" failed\\n\\tdb> \""), "{j}");
        // Balanced structure (the sample's strings hold no brackets).
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
        assert!(j.starts_with("{\n") && j.ends_with("}\n"));
    }

    #[test]
    fn verdicts() {
        let mut r = sample();
        assert!(!r.passed());
        r.steps[1].status = Status::Pass;
        assert!(r.passed(), "skipped steps alone do not fail a run");
        r.aborted = Some("QEMU exited".into());
        assert!(!r.passed());
        assert!(!Report::default().passed(), "an empty run is no pass");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(json_num(f64::NAN), "null");
    }

    #[test]
    fn writes_files() {
        let dir = std::env::temp_dir().join(format!("vmtest-report-{}", std::process::id()));
        sample().write(&dir).unwrap();
        assert!(std::fs::read_to_string(dir.join("report.txt"))
            .unwrap()
            .contains("FAIL"));
        assert!(std::fs::read_to_string(dir.join("report.json"))
            .unwrap()
            .contains("\"steps\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
