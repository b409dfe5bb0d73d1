//! The serial-console protocol: reading the guest's output, noticing
//! panics, logging in, and running commands between unique step markers.
//!
//! Wire format of one step (sent as ONE line to a POSIX shell in the guest):
//!
//! ```text
//! printf '@@%s %s@@\n' STEP-BEGIN 7.fsx; { CMD ; } </dev/null; printf '@@%s %s rc=%s@@\n' STEP-END 7.fsx $?
//! ```
//!
//! What the guest prints is `@@STEP-BEGIN 7.fsx@@` ... `@@STEP-END 7.fsx rc=0@@`. The tty
//! echoes the typed line too, but the echo holds `%s` where the output holds
//! the step id, so an echo never looks like a marker. The sequence number
//! makes a late marker of an earlier (timed-out) step impossible to mistake
//! for the current one. Commands run with stdin from /dev/null so they cannot
//! swallow the lines typed after them.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Console text that means the guest kernel is dead or dying. Matched
/// case-sensitively anywhere in the output.
pub const DFLY_PANIC_PATTERNS: &[&str] = &["panic:", "Fatal trap", "assertion", "KKASSERT"];

/// What a wait ended with, when it did not find what it looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    Timeout,
    /// A panic pattern showed up; `line` is the console line holding it.
    Panic {
        pattern: String,
        line: String,
    },
    /// The guest's console closed (QEMU exited).
    Eof,
    /// Writing to the guest failed, or a command could not be sent.
    Io(String),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Timeout => write!(f, "timed out"),
            WaitError::Panic { pattern, line } => {
                write!(
                    f,
                    "panic pattern {pattern:?} on the console: {}",
                    line.trim()
                )
            }
            WaitError::Eof => write!(f, "the guest console closed (QEMU exited)"),
            WaitError::Io(e) => write!(f, "console I/O error: {e}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Start,
    Csi,
}

enum Chunk {
    Data(Vec<u8>),
    Eof,
}

/// How to get from "kernel booting" to "a shell that runs our lines".
#[derive(Clone, Debug)]
pub struct Login {
    pub user: String,
    /// Sent when a `Password:` prompt shows; None answers with an empty line.
    pub password: Option<String>,
    /// A POSIX shell to exec once logged in (root's login shell on DragonFly
    /// is csh, which the step wrapper cannot use).
    pub shell: Option<String>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            user: "root".into(),
            password: None,
            shell: Some("/bin/sh".into()),
        }
    }
}

/// What the boot-readiness wait saw, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootTrace {
    pub saw_login_prompt: bool,
    pub saw_password_prompt: bool,
    pub saw_single_user_prompt: bool,
    /// How often a Return was sent to get a prompt printed again.
    pub nudges: u32,
}

/// Default time without a prompt after which [`Console::wait_ready`] sends
/// a bare Return.
pub const NUDGE_AFTER: Duration = Duration::from_secs(20);

/// A step marker found in console text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndMarker {
    pub rc: i32,
    /// Offset of the marker's first byte in the searched text.
    pub start: usize,
    /// Offset just past the marker.
    pub end: usize,
}

/// Finds `@@STEP-BEGIN <id>@@` in `text`; returns the offset just past it.
pub fn find_begin_marker(text: &[u8], id: &str) -> Option<(usize, usize)> {
    let m = format!("@@STEP-BEGIN {id}@@");
    find(text, m.as_bytes()).map(|s| (s, s + m.len()))
}

/// Finds `@@STEP-END <id> rc=<n>@@` in `text`.
pub fn find_end_marker(text: &[u8], id: &str) -> Option<EndMarker> {
    let head = format!("@@STEP-END {id} rc=");
    let mut from = 0;
    while let Some(rel) = find(&text[from..], head.as_bytes()) {
        let start = from + rel;
        let digits_at = start + head.len();
        let mut i = digits_at;
        if text.get(i) == Some(&b'-') {
            i += 1;
        }
        while text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i > digits_at && text[i..].starts_with(b"@@") {
            if let Ok(rc) = std::str::from_utf8(&text[digits_at..i]).unwrap().parse() {
                return Some(EndMarker {
                    rc,
                    start,
                    end: i + 2,
                });
            }
        }
        from = start + 1;
    }
    None
}

/// Finds the first panic pattern in `text`, returning it and its whole line.
pub fn find_panic(text: &[u8], patterns: &[String]) -> Option<(String, String, usize)> {
    let mut best: Option<(usize, &String)> = None;
    for p in patterns {
        if let Some(at) = find(text, p.as_bytes()) {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, p));
            }
        }
    }
    let (at, p) = best?;
    let ls = text[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let le = text[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| at + i);
    Some((
        p.clone(),
        String::from_utf8_lossy(&text[ls..le]).into_owned(),
        at,
    ))
}

/// True when the text after the last newline looks like a shell prompt:
/// it ends (ignoring blanks) in `#`, `$`, `%` or `>`.
pub fn ends_with_shell_prompt(text: &[u8]) -> bool {
    let last = text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(text, |i| &text[i + 1..]);
    let trimmed = last.trim_ascii_end();
    // Guard against a bare '#' that starts a comment line mid-boot: a prompt
    // is followed by a blank (which trim removed) at the end of the output.
    !trimmed.is_empty()
        && last.len() > trimmed.len()
        && matches!(trimmed.last(), Some(b'#' | b'$' | b'%' | b'>'))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Step names go into markers and shell words: keep them plain.
pub fn valid_step_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The line that runs `cmd` as step `id` (see the module doc).
pub fn step_line(id: &str, cmd: &str) -> String {
    format!(
        "printf '@@%s %s@@\\n' STEP-BEGIN {id}; {{ {cmd} ; }} </dev/null; printf '@@%s %s rc=%s@@\\n' STEP-END {id} $?"
    )
}

/// Result of one command run through [`Console::run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOutcome {
    pub rc: i32,
    /// What the command printed (between the markers), `\r` removed.
    pub output: String,
}

/// The console of a running guest.
pub struct Console {
    input: Box<dyn Write + Send>,
    rx: Receiver<Chunk>,
    buf: Vec<u8>,
    /// Matching starts here; everything before is consumed.
    pos: usize,
    panic_scanned: usize,
    patterns: Vec<String>,
    /// The first panic pattern seen and its offset in `buf`.
    panic: Option<(String, usize)>,
    /// Panic scanning never looks before this (set by `clear_panic`).
    panic_floor: usize,
    eof: bool,
    esc: Esc,
    seq: u32,
    /// See [`NUDGE_AFTER`].
    pub nudge_after: Duration,
}

impl Console {
    /// Starts a reader thread on `output` (the guest's serial output), which
    /// copies everything to `log` as it arrives, so the log is complete even
    /// when the harness stops pumping (a hang, or a crash of the harness).
    pub fn new<R, W>(output: R, input: W, log: Option<File>, patterns: &[&str]) -> Console
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut output = output;
            let mut log = log;
            let mut chunk = [0u8; 4096];
            loop {
                match output.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Chunk::Eof);
                        return;
                    }
                    Ok(n) => {
                        if let Some(l) = log.as_mut() {
                            let _ = l.write_all(&chunk[..n]);
                            let _ = l.flush();
                        }
                        if tx.send(Chunk::Data(chunk[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Console {
            input: Box::new(input),
            rx,
            buf: Vec::new(),
            pos: 0,
            panic_scanned: 0,
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            panic: None,
            panic_floor: 0,
            eof: false,
            esc: Esc::None,
            seq: 0,
            nudge_after: NUDGE_AFTER,
        }
    }

    /// Everything received so far (carriage returns, other control
    /// characters and terminal escape sequences removed).
    pub fn text(&self) -> &[u8] {
        &self.buf
    }

    /// The last `lines` lines of console output.
    pub fn tail(&self, lines: usize) -> String {
        let mut start = self.buf.len();
        let mut seen = 0;
        while start > 0 {
            if self.buf[start - 1] == b'\n' {
                seen += 1;
                if seen > lines {
                    break;
                }
            }
            start -= 1;
        }
        String::from_utf8_lossy(&self.buf[start..]).into_owned()
    }

    /// The panic seen on the console, if any: (pattern, its whole line as
    /// far as it has arrived).
    pub fn panic_seen(&self) -> Option<(String, String)> {
        let (p, at) = self.panic.as_ref()?;
        let ls = self.buf[..*at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let le = self.buf[*at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.buf.len(), |i| at + i);
        Some((
            p.clone(),
            String::from_utf8_lossy(&self.buf[ls..le]).into_owned(),
        ))
    }

    /// Forgets a seen panic (the stand-in test fakes one and goes on); text
    /// up to it is never scanned again.
    pub fn clear_panic(&mut self) {
        if let Some((p, at)) = self.panic.take() {
            self.panic_floor = at + p.len();
        }
    }

    /// The error for a seen panic, after giving the rest of its line up to
    /// two seconds to arrive (the message is what the report shows).
    fn panic_error(&mut self) -> Option<WaitError> {
        let at = self.panic.as_ref()?.1;
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.buf[at..].contains(&b'\n') && !self.eof && Instant::now() < deadline {
            self.pump(deadline);
        }
        let (pattern, line) = self.panic_seen()?;
        Some(WaitError::Panic { pattern, line })
    }

    pub fn is_closed(&self) -> bool {
        self.eof
    }

    fn absorb(&mut self, data: &[u8]) {
        for &b in data {
            // Terminal control sequences (a shell asking for the cursor
            // position, colours) would hide a prompt at the end of the text.
            self.esc = match (self.esc, b) {
                (Esc::None, 0x1b) => Esc::Start,
                (Esc::None, b'\n' | b'\t') => {
                    self.buf.push(b);
                    Esc::None
                }
                (Esc::None, b) if b < 0x20 || b == 0x7f => Esc::None,
                (Esc::None, b) => {
                    self.buf.push(b);
                    Esc::None
                }
                (Esc::Start, b'[') => Esc::Csi,
                (Esc::Start, _) => Esc::None,
                (Esc::Csi, 0x40..=0x7e) => Esc::None,
                (Esc::Csi, _) => Esc::Csi,
            };
        }
        if self.panic.is_none() {
            // Re-scan a little of the old text: a pattern may straddle chunks.
            let longest = self.patterns.iter().map(String::len).max().unwrap_or(0);
            let from = self
                .panic_scanned
                .saturating_sub(longest)
                .max(self.panic_floor);
            if let Some((p, _, at)) = find_panic(&self.buf[from..], &self.patterns) {
                self.panic = Some((p, from + at));
            }
        }
        self.panic_scanned = self.buf.len();
    }

    /// Waits for output until `deadline`; false when nothing came.
    fn pump(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        match self.rx.recv_timeout(deadline - now) {
            Ok(Chunk::Data(d)) => {
                self.absorb(&d);
                // Take whatever else is already queued without waiting.
                while let Ok(c) = self.rx.try_recv() {
                    match c {
                        Chunk::Data(d) => self.absorb(&d),
                        Chunk::Eof => self.eof = true,
                    }
                }
                true
            }
            Ok(Chunk::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// Reads output until `matcher` finds something in the unconsumed text,
    /// a panic shows, the console closes, or `timeout` passes. The matcher
    /// returns its value and how many bytes of the text it consumed.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut matcher: impl FnMut(&[u8]) -> Option<(T, usize)>,
    ) -> Result<T, WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.panic_error() {
                return Err(e);
            }
            if let Some((v, used)) = matcher(&self.buf[self.pos..]) {
                self.pos += used;
                return Ok(v);
            }
            if self.eof {
                return Err(WaitError::Eof);
            }
            if Instant::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            self.pump(deadline);
        }
    }

    /// Waits for the literal `s`.
    pub fn wait_str(&mut self, s: &str, timeout: Duration) -> Result<(), WaitError> {
        self.wait_for(timeout, |t| {
            find(t, s.as_bytes()).map(|i| ((), i + s.len()))
        })
    }

    /// Reads for `d` regardless of content (panics are still noticed).
    pub fn drain_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline && !self.eof {
            self.pump(deadline);
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), WaitError> {
        self.input
            .write_all(bytes)
            .and_then(|_| self.input.flush())
            .map_err(|e| WaitError::Io(e.to_string()))
    }

    /// Sends one line. Refuses text the guest tty or our scanning would
    /// misread: control characters (a tab would trigger completion in an
    /// editing shell) and panic patterns (the echo would look like a panic).
    pub fn send_line(&mut self, line: &str) -> Result<(), WaitError> {
        if line.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(WaitError::Io(format!(
                "control character in console line {line:?}"
            )));
        }
        if let Some(p) = self.patterns.iter().find(|p| line.contains(p.as_str())) {
            return Err(WaitError::Io(format!(
                "console line contains the panic pattern {p:?}; its echo would fail the run: {line:?}"
            )));
        }
        // Typed in pieces: a 16550 UART has a 16-byte FIFO and some guests
        // drop input that arrives faster than their tty drains it.
        let bytes = line.as_bytes();
        for piece in bytes.chunks(64) {
            self.send_raw(piece)?;
            thread::sleep(Duration::from_millis(2));
        }
        self.send_raw(b"\n")
    }

    fn next_id(&mut self, name: &str) -> String {
        self.seq += 1;
        format!("{}.{}", self.seq, name)
    }

    /// Waits until the shell answers a fresh marker: proof that what was
    /// typed before has finished and the shell reads lines again.
    pub fn sync(&mut self, timeout: Duration) -> Result<(), WaitError> {
        let id = self.next_id("sync");
        self.send_line(&format!("printf '@@%s %s@@\\n' SYNC {id}"))?;
        self.wait_str(&format!("@@SYNC {id}@@"), timeout)
    }

    /// Runs `cmd` in the guest shell as step `name` and returns its exit
    /// status and output. On a timeout the command is still running: call
    /// [`Console::interrupt`] before sending anything else.
    pub fn run(
        &mut self,
        name: &str,
        cmd: &str,
        timeout: Duration,
    ) -> Result<CmdOutcome, WaitError> {
        if !valid_step_name(name) {
            return Err(WaitError::Io(format!("bad step name {name:?}")));
        }
        let id = self.next_id(name);
        let deadline = Instant::now() + timeout;
        self.send_line(&step_line(&id, cmd))?;
        self.wait_for(timeout, |t| {
            find_begin_marker(t, &id).map(|(_, end)| ((), end))
        })?;
        let left = deadline.saturating_duration_since(Instant::now());
        let m = self.wait_for(left, |t| {
            find_end_marker(t, &id).map(|m| {
                let out = String::from_utf8_lossy(&t[..m.start]).into_owned();
                ((m.rc, out), m.end)
            })
        })?;
        let (rc, mut output) = m;
        // The begin marker's own newline and the line the end marker sits on.
        if output.starts_with('\n') {
            output.remove(0);
        }
        Ok(CmdOutcome { rc, output })
    }

    /// Interrupts a running command (Ctrl-C) and waits for the shell.
    pub fn interrupt(&mut self, timeout: Duration) -> Result<(), WaitError> {
        self.send_raw(b"\x03")?;
        thread::sleep(Duration::from_millis(300));
        self.send_raw(b"\x03\n")?;
        self.sync(timeout)
    }

    /// Waits for the guest to boot to a shell, logging in on the way:
    /// a `login:` prompt gets the user name, `Password:` the password, the
    /// single-user "Enter full pathname of shell" question a plain Return.
    /// A shell prompt that stays quiet for half a second ends the wait; then
    /// the POSIX shell of `login` is exec'd and a marker round trip proves
    /// that lines are read and run.
    pub fn wait_ready(&mut self, login: &Login, timeout: Duration) -> Result<BootTrace, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut trace = BootTrace::default();
        #[derive(Clone, Copy, PartialEq)]
        enum Ev {
            Login,
            Password,
            SingleUser,
            Incorrect,
            Prompt,
        }
        const PROMPTS: &[(&str, Ev)] = &[
            ("login:", Ev::Login),
            ("Password:", Ev::Password),
            (
                "Enter full pathname of shell or RETURN for /bin/sh:",
                Ev::SingleUser,
            ),
        ];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitError::Timeout);
            }
            // A prompt followed by a late kernel message is no longer the
            // last output, so it would not be recognised: after a while
            // without a match, a bare Return makes getty or the shell print
            // a fresh one.
            let ev = match self.wait_for(left.min(self.nudge_after), |t| {
                if let Some(i) = find(t, b"Login incorrect") {
                    return Some((Ev::Incorrect, i + 15));
                }
                // Prompts wait for input, so they are the last thing printed;
                // that also keeps "Last login: ..." from counting.
                let tail = t.trim_ascii_end();
                for (s, ev) in PROMPTS {
                    if tail.ends_with(s.as_bytes()) && !tail.ends_with(b"Last login:") {
                        return Some((*ev, t.len()));
                    }
                }
                ends_with_shell_prompt(t).then_some((Ev::Prompt, t.len()))
            }) {
                Ok(ev) => ev,
                Err(WaitError::Timeout) => {
                    self.send_raw(b"\n")?;
                    trace.nudges += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match ev {
                Ev::Login => {
                    trace.saw_login_prompt = true;
                    let user = login.user.clone();
                    self.send_line(&user)?;
                }
                Ev::Password => {
                    trace.saw_password_prompt = true;
                    let pw = login.password.clone().unwrap_or_default();
                    // Raw: a password may hold any character send_line refuses.
                    self.send_raw(pw.as_bytes())?;
                    self.send_raw(b"\n")?;
                }
                Ev::SingleUser => {
                    trace.saw_single_user_prompt = true;
                    self.send_raw(b"\n")?;
                }
                Ev::Incorrect => {
                    return Err(WaitError::Io(format!(
                        "the guest rejected the login of {:?} (set VMTEST_ROOT_PASSWORD?)",
                        login.user
                    )))
                }
                Ev::Prompt => {
                    // Prompt-like text must stay the last thing printed for a
                    // moment; boot messages keep coming otherwise.
                    let before = self.buf.len();
                    self.drain_for(Duration::from_millis(500));
                    if let Some(e) = self.panic_error() {
                        return Err(e);
                    }
                    if self.buf.len() == before {
                        break;
                    }
                    // More output came: that was no prompt; rewind to read it again.
                    self.pos = before.min(self.pos);
                }
            }
        }
        if let Some(sh) = &login.shell {
            let sh = sh.clone();
            self.send_line(&format!("exec {sh}"))?;
        }
        // Three tries: a line typed while the old shell is being replaced
        // could get lost on some terminals; a fresh marker each time keeps
        // a late answer from being taken for the current one.
        for _ in 0..3 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.sync(left.max(Duration::from_secs(30)) / 3) {
                Err(WaitError::Timeout) => continue,
                other => return other.map(|()| trace),
            }
        }
        Err(WaitError::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn pats() -> Vec<String> {
        DFLY_PANIC_PATTERNS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn end_marker_parsing() {
        let t = b"x\n@@STEP-END 3.fsx rc=0@@\n";
        assert_eq!(
            find_end_marker(t, "3.fsx"),
            Some(EndMarker {
                rc: 0,
                start: 2,
                end: 25
            })
        );
        assert_eq!(
            find_end_marker(b"@@STEP-END 3.fsx rc=127@@", "3.fsx")
                .unwrap()
                .rc,
            127
        );
        assert_eq!(
            find_end_marker(b"@@STEP-END 3.fsx rc=-1@@", "3.fsx")
                .unwrap()
                .rc,
            -1
        );
        // Another step's marker, a half-arrived marker, the echo of the
        // command line and a sequence-number prefix clash do not match.
        assert_eq!(find_end_marker(b"@@STEP-END 4.fsx rc=0@@", "3.fsx"), None);
        assert_eq!(find_end_marker(b"@@STEP-END 3.fsx rc=0", "3.fsx"), None);
        assert_eq!(find_end_marker(b"@@STEP-END 13.fsx rc=0@@", "3.fsx"), None);
        let echo = step_line("3.fsx", "fsx -N 10 f");
        assert_eq!(find_end_marker(echo.as_bytes(), "3.fsx"), None);
        assert_eq!(find_begin_marker(echo.as_bytes(), "3.fsx"), None);
        // The first real one wins over a malformed one before it.
        let t = b"@@STEP-END 3.a rc=x@@ @@STEP-END 3.a rc=5@@";
        assert_eq!(find_end_marker(t, "3.a").unwrap().rc, 5);
    }

    #[test]
    fn begin_marker_and_step_line() {
        let l = step_line("1.mount", "mount_hammer /dev/vbd1 /mnt");
        assert!(!l.contains('\n'));
        assert!(l.starts_with("printf '@@%s %s@@\\n' STEP-BEGIN 1.mount; { mount_hammer"));
        assert!(l.ends_with("STEP-END 1.mount $?"));
        assert_eq!(
            find_begin_marker(b"..@@STEP-BEGIN 1.mount@@\n", "1.mount"),
            Some((2, 24))
        );
    }

    #[test]
    fn panic_detection() {
        let p = pats();
        let t = b"ok\npanic: assertion \"x\" failed in f at g.c:1\ncpuid = 0\n";
        let (pat, line, _) = find_panic(t, &p).unwrap();
        assert_eq!(pat, "panic:");
        assert_eq!(line, "panic: assertion \"x\" failed in f at g.c:1");
        assert_eq!(
            find_panic(b"\nFatal trap 12: page fault while in kernel mode\n", &p)
                .unwrap()
                .0,
            "Fatal trap"
        );
        assert_eq!(find_panic(b"KKASSERT failed", &p).unwrap().0, "KKASSERT");
        assert!(find_panic(b"hammer: mounted fine\nPanic: lower case P is not ours", &p).is_none());
    }

    #[test]
    fn prompt_shapes() {
        assert!(ends_with_shell_prompt(b"boot\nroot@dfly:~ # "));
        assert!(ends_with_shell_prompt(b"# "));
        assert!(ends_with_shell_prompt(b"\n$ "));
        assert!(ends_with_shell_prompt(b"\ndfly% "));
        assert!(!ends_with_shell_prompt(b"\n# comment line\n"));
        assert!(!ends_with_shell_prompt(b"\nprogress 50%"));
        assert!(!ends_with_shell_prompt(b"\nlogin: "));
        assert!(!ends_with_shell_prompt(b""));
    }

    #[test]
    fn names() {
        assert!(valid_step_name("hammer-cleanup"));
        assert!(!valid_step_name("a b"));
        assert!(!valid_step_name("x;rm"));
        assert!(!valid_step_name(""));
    }

    /// A console fed by a scripted "guest" that prints `chunks` slowly.
    fn scripted(chunks: &[&str]) -> Console {
        let (r, mut w) = std::io::pipe().unwrap();
        let chunks: Vec<String> = chunks.iter().map(|s| s.to_string()).collect();
        thread::spawn(move || {
            for c in chunks {
                let _ = w.write_all(c.as_bytes());
                thread::sleep(Duration::from_millis(20));
            }
        });
        Console::new(r, std::io::sink(), None, DFLY_PANIC_PATTERNS)
    }

    #[test]
    fn panic_split_across_chunks_is_seen() {
        let mut c = scripted(&["booting\nFatal tr", "ap 12: page fault\n", "more\n"]);
        let e = c.wait_str("never", Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            e,
            WaitError::Panic {
                pattern: "Fatal trap".into(),
                line: "Fatal trap 12: page fault".into()
            }
        );
    }

    #[test]
    fn control_sequences_are_dropped() {
        let mut c = scripted(&["/ # \x1b[6n", "\x1b[1;3", "2mred\x1b[0m\x07\r\n"]);
        assert_eq!(
            c.wait_str("zzz", Duration::from_secs(5)),
            Err(WaitError::Eof)
        );
        assert_eq!(c.text(), b"/ # red\n");
    }

    #[test]
    fn eof_and_timeout() {
        let mut c = scripted(&["a\r\nb\r\n"]);
        assert_eq!(
            c.wait_str("zzz", Duration::from_secs(5)),
            Err(WaitError::Eof)
        );
        assert_eq!(c.text(), b"a\nb\n");
        assert_eq!(c.tail(1), "b\n");
        assert_eq!(c.tail(5), "a\nb\n");
        let (r, _w) = std::io::pipe().unwrap();
        let mut c = Console::new(r, std::io::sink(), None, DFLY_PANIC_PATTERNS);
        let t0 = Instant::now();
        assert_eq!(
            c.wait_str("zzz", Duration::from_millis(200)),
            Err(WaitError::Timeout)
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn refuses_lines_that_would_confuse_the_guest() {
        let mut c = scripted(&[]);
        assert!(c.send_line("echo a\tb").is_err());
        assert!(c.send_line("echo panic: x").is_err());
        assert!(c.send_line("grep assertion log").is_err());
        assert!(c.send_line("echo fine").is_ok());
    }

    /// The protocol against a real local shell: an `sh -i` on pipes is a
    /// fine stand-in for the guest shell (no echo, but the markers do not
    /// rely on it).
    fn local_shell() -> Option<(Console, std::process::Child)> {
        let mut child = Command::new("sh")
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let out = child.stdout.take().unwrap();
        let inp = child.stdin.take().unwrap();
        Some((Console::new(out, inp, None, DFLY_PANIC_PATTERNS), child))
    }

    /// A fake getty whose prompt is followed by a late kernel message: only
    /// the Return sent after the quiet period brings a prompt at the end.
    #[test]
    fn login_prompt_hidden_by_a_late_message_is_reprinted() {
        let script = r#"
printf 'login: \nvbd1: late kernel message\n'
read user
[ -z "$user" ] && { printf 'login: '; read user; }
[ "$user" = root ] || { echo 'Login incorrect'; exit 1; }
printf 'Password:'; read pw
[ "$pw" = pw ] || { echo 'Login incorrect'; exit 1; }
PS1='# ' exec sh -i 2>&1
"#;
        let Ok(mut child) = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        else {
            return;
        };
        let mut c = Console::new(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            None,
            DFLY_PANIC_PATTERNS,
        );
        c.nudge_after = Duration::from_secs(1);
        // No exec of another shell: on a pipe (unlike a tty) the old shell
        // may have read the next line already, and it would be lost.
        let login = Login {
            user: "root".into(),
            password: Some("pw".into()),
            shell: None,
        };
        let trace = c
            .wait_ready(&login, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(c.text())));
        assert!(trace.saw_login_prompt && trace.saw_password_prompt);
        assert_eq!(trace.nudges, 1);
        let r = c
            .run("after-login", "echo in", Duration::from_secs(10))
            .unwrap();
        assert_eq!(r.output, "in\n");
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn steps_against_a_local_shell() {
        let Some((mut c, mut child)) = local_shell() else {
            eprintln!("no sh; skipped");
            return;
        };
        c.sync(Duration::from_secs(10)).unwrap();
        let r = c
            .run("ok", "echo hello; echo world", Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            r,
            CmdOutcome {
                rc: 0,
                output: "hello\nworld\n".into()
            }
        );
        let r = c
            .run("fails", "sh -c 'exit 3'", Duration::from_secs(10))
            .unwrap();
        assert_eq!(r.rc, 3);
        // Shell variables persist between steps (the guest plan relies on it).
        c.run("set", "V=42", Duration::from_secs(10)).unwrap();
        let r = c.run("get", "echo $V", Duration::from_secs(10)).unwrap();
        assert_eq!(r.output, "42\n");
        // Commands cannot eat the lines typed after them.
        let r = c.run("stdin", "cat", Duration::from_secs(10)).unwrap();
        assert_eq!(
            r,
            CmdOutcome {
                rc: 0,
                output: String::new()
            }
        );
        let pidfile = std::env::temp_dir().join(format!("vmtest-sleep-{}", std::process::id()));
        let cmd = format!("sh -c 'echo $$ > {}; exec sleep 30'", pidfile.display());
        let t0 = Instant::now();
        assert_eq!(
            c.run("slow", &cmd, Duration::from_millis(500)),
            Err(WaitError::Timeout)
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
        // No tty here, so Ctrl-C does not reach sleep; the shell answers the
        // sync once sleep ends. End it by its pid to keep the test fast.
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let _ = Command::new("kill").arg(pid.trim()).status();
        let _ = std::fs::remove_file(&pidfile);
        c.interrupt(Duration::from_secs(40)).unwrap();
        let r = c
            .run("after", "echo alive", Duration::from_secs(10))
            .unwrap();
        assert_eq!(r.output, "alive\n");
        let r = c.run(
            "fake-panic",
            "printf 'pan%s: test\\n' ic",
            Duration::from_secs(10),
        );
        assert_eq!(
            r,
            Err(WaitError::Panic {
                pattern: "panic:".into(),
                line: "panic: test".into()
            })
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
