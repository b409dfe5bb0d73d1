//! Runs a list of steps through a [`Console`] and records them in a
//! [`Report`]. Shared by the DragonFly run and the stand-in guest test, so
//! the test exercises exactly the code a real run uses.

use std::time::{Duration, Instant};

use crate::console::{Console, Login, WaitError};
use crate::report::{Report, Status, StepRecord};

/// Console lines kept in the report for a step that did not pass.
pub const TAIL_LINES: usize = 60;

/// One command to run in the guest.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    /// One shell line; keep it short (a BSD tty's line buffer is 255 bytes
    /// in canonical mode): longer work goes into a script in the payload.
    pub cmd: String,
    pub timeout: Duration,
    /// When it fails, the steps after it are skipped (they need its result).
    pub critical: bool,
    /// The exit status that counts as success (normally 0).
    pub expect_rc: i32,
}

impl Step {
    pub fn new(name: &str, cmd: &str, timeout: Duration) -> Step {
        Step {
            name: name.into(),
            cmd: cmd.into(),
            timeout,
            critical: false,
            expect_rc: 0,
        }
    }

    pub fn critical(mut self) -> Step {
        self.critical = true;
        self
    }

    pub fn expect(mut self, rc: i32) -> Step {
        self.expect_rc = rc;
        self
    }
}

/// Reacts to a panic on the console before the run stops (DragonFly's
/// debugger prompt can be asked for a backtrace, for instance).
pub type PanicHook<'a> = &'a mut dyn FnMut(&mut Console);

/// Drives the steps of one guest session.
pub struct Runner<'a> {
    pub console: &'a mut Console,
    pub report: &'a mut Report,
    /// Why the rest of the run cannot happen (console dead, panic...).
    pub stopped: Option<String>,
    /// Set by a failed critical step: later steps are skipped.
    pub blocked_by: Option<String>,
    pub on_panic: Option<PanicHook<'a>>,
    /// Print each step's start and result on stderr as the run goes.
    pub verbose: bool,
    started: Instant,
}

impl<'a> Runner<'a> {
    pub fn new(console: &'a mut Console, report: &'a mut Report) -> Runner<'a> {
        Runner {
            console,
            report,
            stopped: None,
            blocked_by: None,
            on_panic: None,
            verbose: false,
            started: Instant::now(),
        }
    }

    fn announce(&self, name: &str) {
        if self.verbose {
            eprintln!(
                "[{:>7.1}s] {name} ...",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn push(&mut self, rec: StepRecord) {
        if self.verbose {
            eprintln!(
                "[{:>7.1}s] {} {} ({:.1} s) {}",
                self.started.elapsed().as_secs_f64(),
                rec.name,
                rec.status.as_str(),
                rec.seconds,
                rec.detail
            );
        }
        self.report.steps.push(rec);
    }

    fn fail_record(&mut self, rec: &mut StepRecord, status: Status, detail: String) {
        rec.status = status;
        rec.detail = detail;
        rec.console_tail = Some(self.console.tail(TAIL_LINES));
    }

    fn handle_error(&mut self, rec: &mut StepRecord, e: WaitError, timeout: Duration) {
        match e {
            WaitError::Timeout => {
                let detail = format!("no end marker within {} s", timeout.as_secs());
                self.fail_record(rec, Status::Timeout, detail);
                // The command may still run: interrupt it and make sure the
                // shell reads lines again before anything else is sent.
                match self.console.interrupt(Duration::from_secs(60)) {
                    Ok(()) => rec.detail.push_str("; interrupted, shell answered again"),
                    Err(WaitError::Panic { pattern, line }) => {
                        rec.status = Status::Panic;
                        rec.detail =
                            format!("timed out, then panic pattern {pattern:?}: {}", line.trim());
                        self.panicked();
                        rec.console_tail = Some(self.console.tail(TAIL_LINES));
                    }
                    Err(e2) => {
                        rec.detail
                            .push_str(&format!("; the shell did not come back ({e2})"));
                        self.stopped =
                            Some(format!("console unresponsive after step {}", rec.name));
                    }
                }
            }
            WaitError::Panic { pattern, line } => {
                self.panicked();
                let detail = format!("panic pattern {pattern:?} on the console: {}", line.trim());
                self.fail_record(rec, Status::Panic, detail);
            }
            WaitError::Eof => {
                self.fail_record(
                    rec,
                    Status::Error,
                    "the guest console closed (QEMU exited)".into(),
                );
                self.stopped = Some(format!("QEMU exited during step {}", rec.name));
            }
            WaitError::Io(msg) => {
                self.fail_record(rec, Status::Error, msg);
                self.stopped = Some(format!("console error in step {}", rec.name));
            }
        }
    }

    fn panicked(&mut self) {
        if let Some(hook) = self.on_panic.as_mut() {
            hook(self.console);
        }
        let (p, line) = self.console.panic_seen().unwrap_or_default();
        self.stopped = Some(format!("guest panic ({p:?}): {}", line.trim()));
    }

    /// Records the boot: waits for readiness (login and shell).
    pub fn boot(&mut self, login: &Login, timeout: Duration) -> bool {
        let mut rec = StepRecord::new(
            "boot",
            "(wait for login/shell prompt, log in, exec sh, sync)",
        );
        self.announce("boot");
        let t0 = Instant::now();
        match self.console.wait_ready(login, timeout) {
            Ok(trace) => {
                rec.status = Status::Pass;
                let mut how = Vec::new();
                if trace.saw_single_user_prompt {
                    how.push("single-user shell");
                }
                if trace.saw_login_prompt {
                    how.push("login prompt");
                }
                if trace.saw_password_prompt {
                    how.push("password prompt");
                }
                if how.is_empty() {
                    how.push("shell prompt");
                }
                rec.detail = format!("ready via {}", how.join(", "));
            }
            Err(WaitError::Timeout) => {
                let mut d = format!("no login or shell prompt within {} s", timeout.as_secs());
                if self.console.text().is_empty() {
                    d.push_str("; the serial console stayed silent (is the guest's console on the serial port?)");
                }
                self.fail_record(&mut rec, Status::Timeout, d);
                self.stopped = Some("the guest never became ready".into());
            }
            Err(e) => self.handle_error(&mut rec, e, timeout),
        }
        rec.seconds = t0.elapsed().as_secs_f64();
        let ok = rec.status == Status::Pass;
        self.push(rec);
        ok
    }

    /// Runs one step and records it; returns whether it passed.
    pub fn step(&mut self, step: &Step) -> bool {
        let mut rec = StepRecord::new(&step.name, &step.cmd);
        if let Some(why) = self.stopped.as_ref().or(self.blocked_by.as_ref()) {
            rec.detail = format!("not run: {why}");
            self.push(rec);
            return false;
        }
        self.announce(&step.name);
        let t0 = Instant::now();
        match self.console.run(&step.name, &step.cmd, step.timeout) {
            Ok(out) => {
                rec.rc = Some(out.rc);
                if out.rc == step.expect_rc {
                    rec.status = Status::Pass;
                    rec.detail = last_line(&out.output);
                } else {
                    let d = format!(
                        "exit status {} (wanted {}): {}",
                        out.rc,
                        step.expect_rc,
                        last_line(&out.output)
                    );
                    self.fail_record(&mut rec, Status::Fail, d);
                }
            }
            Err(e) => self.handle_error(&mut rec, e, step.timeout),
        }
        rec.seconds = t0.elapsed().as_secs_f64();
        let ok = rec.status == Status::Pass;
        if !ok && step.critical && self.blocked_by.is_none() {
            self.blocked_by = Some(format!("critical step {} did not pass", step.name));
        }
        self.push(rec);
        ok
    }

    /// Runs all steps in order (skipping what cannot run any more).
    pub fn steps(&mut self, steps: &[Step]) {
        for s in steps {
            self.step(s);
        }
    }
}

/// The last non-empty output line, shortened for the report's table.
fn last_line(out: &str) -> String {
    let l = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if l.chars().count() > 100 {
        let mut s: String = l.chars().take(97).collect();
        s.push_str("...");
        s
    } else {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::DFLY_PANIC_PATTERNS;
    use std::process::{Command, Stdio};

    #[test]
    fn last_line_shortens() {
        assert_eq!(last_line("a\nb\n\n"), "b");
        assert_eq!(last_line(""), "");
        assert_eq!(last_line(&"x".repeat(200)).len(), 100);
    }

    #[test]
    fn critical_failures_skip_the_rest_and_panics_stop_the_run() {
        let Ok(mut child) = Command::new("sh")
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        else {
            return;
        };
        let mut console = Console::new(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            None,
            DFLY_PANIC_PATTERNS,
        );
        let mut report = Report::default();
        let t = Duration::from_secs(10);
        {
            let mut r = Runner::new(&mut console, &mut report);
            r.console.sync(t).unwrap();
            r.step(&Step::new("one", "true", t));
            r.step(&Step::new("soft", "false", t));
            r.step(&Step::new("expect3", "sh -c 'exit 3'", t).expect(3));
            r.step(&Step::new("hard", "false", t).critical());
            r.step(&Step::new("after", "true", t));
        }
        let st: Vec<_> = report
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.status))
            .collect();
        assert_eq!(
            st,
            [
                ("one", Status::Pass),
                ("soft", Status::Fail),
                ("expect3", Status::Pass),
                ("hard", Status::Fail),
                ("after", Status::Skipped)
            ]
        );
        assert!(report.steps[1].console_tail.is_some());
        assert_eq!(
            report.steps[4].detail,
            "not run: critical step hard did not pass"
        );

        let mut report = Report::default();
        let mut hooked = false;
        {
            let mut hook = |_: &mut Console| hooked = true;
            let mut r = Runner::new(&mut console, &mut report);
            r.on_panic = Some(&mut hook);
            r.step(&Step::new("boom", "printf 'Fatal tr%s 12\\n' ap", t));
            r.step(&Step::new("never", "true", t));
            assert!(r.stopped.as_deref().unwrap().contains("Fatal trap"));
        }
        assert!(hooked);
        assert_eq!(report.steps[0].status, Status::Panic);
        assert_eq!(report.steps[1].status, Status::Skipped);
        let _ = child.kill();
        let _ = child.wait();
    }
}
