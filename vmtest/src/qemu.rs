//! QEMU command-line construction and start-up.
//!
//! The guest's first serial port is the only channel the harness uses: it is
//! wired to QEMU's stdin/stdout (chardev `stdio` with `signal=off`, so a
//! Ctrl-C byte we send reaches the guest instead of stopping QEMU). No window,
//! no network card, no monitor unless asked for.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How the guest CPU is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// QEMU's software CPU emulation (works everywhere, ~10-50x slower).
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// True when /dev/kvm exists and this process may open it read-write, which
/// is what QEMU needs for `-accel kvm`.
pub fn kvm_usable() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Checks that KVM really runs a guest with `-cpu host`: some hosts hand
/// out /dev/kvm but fail on it (nested setups that reject MSR writes, for
/// instance). Boots just the firmware and waits for SeaBIOS's banner on its
/// debug port; takes well under a second when KVM works.
pub fn probe_kvm(binary: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut child = Command::new(binary)
        .args([
            "-machine",
            "pc",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-nodefaults",
            "-display",
            "none",
        ])
        .args([
            "-m",
            "64",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args(["-debugcon", "stdio", "-global", "isa-debugcon.iobase=0x402"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(7).any(|w| w == b"SeaBIOS") {
                let _ = tx.send(());
                return;
            }
        }
    });
    let ok = rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    if ok {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let first = err
        .lines()
        .next()
        .unwrap_or("no firmware output within 10 s")
        .to_string();
    Err(format!("KVM does not run a guest here ({first})"))
}

/// Picks the accelerator. `request` is the user's choice (env VMTEST_ACCEL):
/// `kvm`, `tcg` or `auto`/unset (KVM when usable, TCG otherwise).
pub fn choose_accel(request: Option<&str>, kvm_ok: bool) -> Result<Accel, String> {
    match request.map(str::trim).unwrap_or("auto") {
        "" | "auto" => Ok(if kvm_ok { Accel::Kvm } else { Accel::Tcg }),
        "tcg" => Ok(Accel::Tcg),
        "kvm" if kvm_ok => Ok(Accel::Kvm),
        "kvm" => Err("KVM requested but /dev/kvm cannot be opened read-write".into()),
        other => Err(format!(
            "unknown accelerator {other:?} (use kvm, tcg or auto)"
        )),
    }
}

/// The bus a disk hangs off. DragonFly 4.x names them: virtio -> vbdN,
/// IDE -> adN (nata), AHCI -> daN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskIf {
    Virtio,
    Ide,
    Ahci,
}

impl DiskIf {
    pub fn parse(s: &str) -> Result<DiskIf, String> {
        match s.trim() {
            "virtio" => Ok(DiskIf::Virtio),
            "ide" => Ok(DiskIf::Ide),
            "ahci" | "sata" => Ok(DiskIf::Ahci),
            other => Err(format!(
                "unknown disk interface {other:?} (virtio, ide or ahci)"
            )),
        }
    }
}

/// One disk of the guest.
#[derive(Clone, Debug)]
pub struct Drive {
    pub path: PathBuf,
    /// `raw` or `qcow2` (or anything else QEMU knows).
    pub format: String,
    pub iface: DiskIf,
    /// Writes go to a temporary overlay, the file itself is never changed.
    pub snapshot: bool,
    pub readonly: bool,
}

impl Drive {
    pub fn raw(path: impl Into<PathBuf>, iface: DiskIf) -> Drive {
        Drive {
            path: path.into(),
            format: "raw".into(),
            iface,
            snapshot: false,
            readonly: false,
        }
    }
}

/// Guesses a disk image's format from its name; QEMU would otherwise probe
/// and warn, and refuses writes to block 0 of a probed raw image.
pub fn image_format(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("qcow2") | Some("qcow") => "qcow2",
        Some("vmdk") => "vmdk",
        Some("vdi") => "vdi",
        _ => "raw",
    }
}

/// Everything needed to start one guest.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub binary: PathBuf,
    pub accel: Accel,
    pub memory_mb: u32,
    pub cpus: u32,
    pub drives: Vec<Drive>,
    /// Direct kernel boot (used by the Linux stand-in guest only).
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: Option<String>,
    /// An HMP monitor on a unix socket, for debugging a hung guest by hand.
    pub monitor_socket: Option<PathBuf>,
    pub extra: Vec<String>,
}

/// QEMU splits option values at commas; a literal comma is written twice.
fn qemu_escape(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

impl QemuConfig {
    pub fn new(accel: Accel) -> QemuConfig {
        QemuConfig {
            binary: PathBuf::from("qemu-system-x86_64"),
            accel,
            memory_mb: 1024,
            cpus: 2,
            drives: Vec::new(),
            kernel: None,
            initrd: None,
            append: None,
            monitor_socket: None,
            extra: Vec::new(),
        }
    }

    /// The full argument list (without the binary).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        // i440fx ("pc") is what DragonFly 4.x was tested on most.
        push(&["-machine", "pc"]);
        match self.accel {
            // -cpu host passes the real CPU's features through.
            Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
            // Multi-threaded TCG uses one host thread per guest CPU.
            Accel::Tcg => push(&["-accel", "tcg,thread=multi", "-cpu", "qemu64"]),
        }
        let mem = self.memory_mb.to_string();
        let smp = self.cpus.to_string();
        push(&["-m", &mem, "-smp", &smp]);
        push(&["-display", "none", "-nic", "none", "-no-reboot"]);
        push(&[
            "-chardev",
            "stdio,id=con0,signal=off",
            "-serial",
            "chardev:con0",
        ]);
        match &self.monitor_socket {
            Some(sock) => {
                let spec = format!("unix:{},server=on,wait=off", qemu_escape(sock));
                a.push("-monitor".into());
                a.push(spec);
            }
            None => {
                a.push("-monitor".into());
                a.push("none".into());
            }
        }
        let mut ahci = false;
        for (i, d) in self.drives.iter().enumerate() {
            let mut common = format!("file={},format={}", qemu_escape(&d.path), d.format);
            if d.snapshot {
                common.push_str(",snapshot=on");
            }
            if d.readonly {
                common.push_str(",readonly=on");
            }
            match d.iface {
                DiskIf::Virtio => {
                    a.push("-drive".into());
                    a.push(format!("{common},if=virtio"));
                }
                DiskIf::Ide => {
                    a.push("-drive".into());
                    a.push(format!("{common},if=ide,media=disk"));
                }
                DiskIf::Ahci => {
                    if !ahci {
                        a.push("-device".into());
                        a.push("ahci,id=ahci0".into());
                        ahci = true;
                    }
                    a.push("-drive".into());
                    a.push(format!("{common},if=none,id=disk{i}"));
                    a.push("-device".into());
                    a.push(format!("ide-hd,drive=disk{i},bus=ahci0.{i}"));
                }
            }
        }
        if let Some(k) = &self.kernel {
            a.push("-kernel".into());
            a.push(k.to_string_lossy().into_owned());
        }
        if let Some(i) = &self.initrd {
            a.push("-initrd".into());
            a.push(i.to_string_lossy().into_owned());
        }
        if let Some(c) = &self.append {
            a.push("-append".into());
            a.push(c.clone());
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// The command line as one shell-pastable string, for the report.
    pub fn command_line(&self) -> String {
        let mut s = shell_quote(&self.binary.to_string_lossy());
        for arg in self.args() {
            s.push(' ');
            s.push_str(&shell_quote(&arg));
        }
        s
    }

    /// Starts QEMU with piped stdin/stdout (the serial console); its own
    /// messages go to `stderr` (a file, or inherited: a pipe nobody reads
    /// could fill up and stop QEMU).
    pub fn spawn(&self, stderr: Stdio) -> std::io::Result<Child> {
        Command::new(&self.binary)
            .args(self.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
    }
}

/// Owns a running QEMU and ends it when dropped, so a harness error or a
/// failed test assertion never leaves a guest running.
pub struct Guest(pub Child);

impl Guest {
    /// Ends QEMU now (idempotent).
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Quotes `s` for a POSIX shell when it contains anything unusual.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Finds `name` in PATH (or returns it as is when it contains a slash).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(c: &QemuConfig) -> String {
        c.args().join(" ")
    }

    #[test]
    fn accel_choice() {
        assert_eq!(choose_accel(None, true), Ok(Accel::Kvm));
        assert_eq!(choose_accel(None, false), Ok(Accel::Tcg));
        assert_eq!(choose_accel(Some("auto"), false), Ok(Accel::Tcg));
        assert_eq!(choose_accel(Some("tcg"), true), Ok(Accel::Tcg));
        assert_eq!(choose_accel(Some("kvm"), true), Ok(Accel::Kvm));
        assert!(choose_accel(Some("kvm"), false).is_err());
        assert!(choose_accel(Some("hvf"), true).is_err());
    }

    #[test]
    fn kvm_command_line() {
        let mut c = QemuConfig::new(Accel::Kvm);
        c.memory_mb = 2048;
        c.cpus = 4;
        let s = joined(&c);
        assert!(s.contains("-accel kvm -cpu host"), "{s}");
        assert!(!s.contains("tcg"), "{s}");
        assert!(s.contains("-m 2048 -smp 4"), "{s}");
    }

    #[test]
    fn tcg_command_line_and_console() {
        let c = QemuConfig::new(Accel::Tcg);
        let s = joined(&c);
        assert!(s.contains("-accel tcg,thread=multi -cpu qemu64"), "{s}");
        assert!(!s.contains("kvm"), "{s}");
        // Serial console on stdio, no graphics, no monitor, no network.
        assert!(
            s.contains("-chardev stdio,id=con0,signal=off -serial chardev:con0"),
            "{s}"
        );
        assert!(s.contains("-display none"), "{s}");
        assert!(s.contains("-monitor none"), "{s}");
        assert!(s.contains("-nic none"), "{s}");
        assert!(s.contains("-no-reboot"), "{s}");
    }

    #[test]
    fn drives_keep_order_and_options() {
        let mut c = QemuConfig::new(Accel::Tcg);
        let mut boot = Drive::raw("/img/dfly,4.2.qcow2", DiskIf::Ide);
        boot.format = "qcow2".into();
        boot.snapshot = true;
        c.drives.push(boot);
        let mut payload = Drive::raw("/tmp/payload.img", DiskIf::Virtio);
        payload.readonly = true;
        c.drives.push(payload);
        c.drives.push(Drive::raw("/tmp/test.img", DiskIf::Virtio));
        let a = c.args();
        let drives: Vec<&String> = a
            .iter()
            .enumerate()
            .filter(|(i, _)| *i > 0 && a[i - 1] == "-drive")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            drives,
            [
                "file=/img/dfly,,4.2.qcow2,format=qcow2,snapshot=on,if=ide,media=disk",
                "file=/tmp/payload.img,format=raw,readonly=on,if=virtio",
                "file=/tmp/test.img,format=raw,if=virtio",
            ]
        );
    }

    #[test]
    fn ahci_gets_one_controller() {
        let mut c = QemuConfig::new(Accel::Kvm);
        c.drives.push(Drive::raw("/a.img", DiskIf::Ahci));
        c.drives.push(Drive::raw("/b.img", DiskIf::Ahci));
        let s = joined(&c);
        assert_eq!(s.matches("ahci,id=ahci0").count(), 1, "{s}");
        assert!(
            s.contains(
                "file=/a.img,format=raw,if=none,id=disk0 -device ide-hd,drive=disk0,bus=ahci0.0"
            ),
            "{s}"
        );
        assert!(s.contains("ide-hd,drive=disk1,bus=ahci0.1"), "{s}");
    }

    #[test]
    fn direct_kernel_boot_and_monitor() {
        let mut c = QemuConfig::new(Accel::Tcg);
        c.kernel = Some("/boot/vmlinuz".into());
        c.initrd = Some("/tmp/initrd".into());
        c.append = Some("console=ttyS0 panic=-1".into());
        c.monitor_socket = Some("/tmp/mon.sock".into());
        let a = c.args();
        let s = a.join(" ");
        assert!(
            s.contains("-kernel /boot/vmlinuz -initrd /tmp/initrd -append"),
            "{s}"
        );
        // The kernel command line stays one argument.
        assert!(a.contains(&"console=ttyS0 panic=-1".to_string()));
        assert!(
            s.contains("-monitor unix:/tmp/mon.sock,server=on,wait=off"),
            "{s}"
        );
        assert!(c.command_line().contains("'console=ttyS0 panic=-1'"));
    }

    /// Whatever this host's KVM does, the probe answers within its limit,
    /// and TCG (what the probe falls back to) boots the same firmware.
    #[test]
    fn kvm_probe_answers() {
        let Some(bin) = find_in_path("qemu-system-x86_64") else {
            eprintln!("no qemu-system-x86_64; skipped");
            return;
        };
        if !kvm_usable() {
            eprintln!("no usable /dev/kvm; probe not exercised");
            return;
        }
        let t0 = std::time::Instant::now();
        let verdict = probe_kvm(&bin);
        eprintln!("KVM probe: {verdict:?} in {:?}", t0.elapsed());
        assert!(t0.elapsed() < std::time::Duration::from_secs(15));
        if let Err(e) = verdict {
            assert!(e.starts_with("KVM does not run a guest here"), "{e}");
        }
    }

    #[test]
    fn formats_and_interfaces() {
        assert_eq!(image_format(Path::new("x.qcow2")), "qcow2");
        assert_eq!(image_format(Path::new("dfly-x86_64-4.2.4_REL.img")), "raw");
        assert_eq!(DiskIf::parse("sata"), Ok(DiskIf::Ahci));
        assert!(DiskIf::parse("scsi").is_err());
        assert_eq!(shell_quote("a b'c"), "'a b'\\''c'");
        assert_eq!(shell_quote("-m"), "-m");
    }
}
