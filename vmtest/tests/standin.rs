//! Boots a stand-in guest (a Debian kernel with a busybox initramfs built
//! here) under QEMU TCG and drives it through the same console, runner and
//! payload code a DragonFly run uses: start, login/readiness detection,
//! commands between step markers with exit codes, a payload disk unpacked
//! with `tar -xf /dev/vda`, a step timeout with recovery, a faked panic
//! message and a real kernel panic.
//!
//! Needs qemu-system-x86_64, a kernel in /boot and a static busybox
//! (`vmtest/install-deps.sh` installs them); skips with a message otherwise.
//! Environment: VMTEST_STANDIN_KERNEL (a bzImage), VMTEST_STANDIN_ACCEL
//! (tcg by default), VMTEST_KEEP (keep the work directory for inspection).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vmtest::archive::{CpioWriter, TarWriter};
use vmtest::console::{Console, Login, DFLY_PANIC_PATTERNS};
use vmtest::qemu::{self, DiskIf, Drive, QemuConfig};
use vmtest::report::{Report, Status};
use vmtest::runner::{Runner, Step};

/// The newest /boot/vmlinuz-<version>, or the one the environment names.
fn find_kernel() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("VMTEST_STANDIN_KERNEL") {
        return Some(PathBuf::from(k));
    }
    let mut ks: Vec<PathBuf> = fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    ks.sort();
    ks.pop()
}

/// True for an ELF executable without a program interpreter (PT_INTERP),
/// i.e. one that runs in an initramfs holding nothing else.
fn is_static_elf(data: &[u8]) -> bool {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        data.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != 3)
    })
}

fn find_busybox() -> Option<Vec<u8>> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if let Ok(d) = fs::read(p) {
            if is_static_elf(&d) {
                return Some(d);
            }
        }
    }
    None
}

/// The kernel modules (in load order) that give the stand-in a virtio disk,
/// read from modules.dep; empty when the kernel has them built in or they
/// are compressed (busybox insmod takes plain .ko files only).
fn virtio_modules(kernel: &Path) -> Option<Vec<PathBuf>> {
    let name = kernel.file_name()?.to_string_lossy().into_owned();
    let version = name.strip_prefix("vmlinuz-")?;
    let base = PathBuf::from("/lib/modules").join(version);
    let dep = fs::read_to_string(base.join("modules.dep")).ok()?;
    let mut order: Vec<String> = Vec::new();
    for wanted in ["virtio_pci.ko", "virtio_blk.ko"] {
        let line = dep.lines().find(|l| {
            l.split(':')
                .next()
                .is_some_and(|m| m.ends_with(&format!("/{wanted}")))
        });
        // Not listed: built into the kernel, nothing to load.
        let Some(line) = line else { continue };
        let (module, deps) = line.split_once(':')?;
        // modules.dep lists a module's dependencies deepest last.
        for m in deps.split_whitespace().rev().chain(std::iter::once(module)) {
            if !order.iter().any(|o| o == m) {
                order.push(m.to_string());
            }
        }
    }
    let paths: Vec<PathBuf> = order.iter().map(|m| base.join(m)).collect();
    paths
        .iter()
        .all(|p| p.extension().is_some_and(|e| e == "ko") && p.is_file())
        .then_some(paths)
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m; done
echo "stand-in guest up"
while true; do
    printf 'standin login: '
    read user
    # Like getty: an empty line (the harness's nudge) asks again.
    [ -z "$user" ] && continue
    stty -echo 2>/dev/null
    printf 'Password: '
    read pw
    stty echo 2>/dev/null
    echo
    if [ "$user" = root ] && [ "$pw" = standin ]; then
        # cttyhack makes the serial port the shell's controlling tty, so a
        # Ctrl-C from the harness reaches the foreground command.
        setsid cttyhack sh
    else
        echo "Login incorrect"
    fi
done
"#;

fn build_initramfs(dir: &Path, busybox: &[u8], modules: &[PathBuf]) -> PathBuf {
    let mut c = CpioWriter::new(Vec::new());
    for d in ["bin", "dev", "modules", "proc", "sys", "tmp"] {
        c.add_dir(d, 0o755).unwrap();
    }
    c.add_file("bin/busybox", 0o755, busybox).unwrap();
    c.add_file("init", 0o755, INIT.as_bytes()).unwrap();
    let mut order = String::new();
    for (i, m) in modules.iter().enumerate() {
        let name = format!("{i:02}-{}", m.file_name().unwrap().to_string_lossy());
        c.add_file(&format!("modules/{name}"), 0o644, &fs::read(m).unwrap())
            .unwrap();
        order.push_str(&name);
        order.push('\n');
    }
    c.add_file("modules/order", 0o644, order.as_bytes())
        .unwrap();
    let img = dir.join("initramfs.cpio");
    fs::write(&img, c.finish().unwrap()).unwrap();
    img
}

fn build_payload(dir: &Path) -> PathBuf {
    let mut t = TarWriter::new(Vec::new());
    t.add_dir("steps", 0o755).unwrap();
    t.add_file(
        "steps/hello.sh",
        0o755,
        b"#!/bin/sh\necho \"payload says hello from $(uname -s)\"\nexit 0\n",
    )
    .unwrap();
    let mut img = t.finish().unwrap();
    // A disk image is whole sectors; the rest of it reads as zeros.
    img.resize(1 << 20, 0);
    let path = dir.join("payload.img");
    fs::write(&path, img).unwrap();
    path
}

fn skip(why: &str) {
    // Straight to stderr: libtest would hide eprintln! output of a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED standin_guest: {why}. Run vmtest/install-deps.sh to install what it needs."
    );
}

#[test]
fn standin_guest() {
    let t_all = Instant::now();
    let Some(qemu_bin) = qemu::find_in_path("qemu-system-x86_64") else {
        return skip("qemu-system-x86_64 is not installed");
    };
    let Some(kernel) = find_kernel().filter(|k| fs::File::open(k).is_ok()) else {
        return skip("no readable kernel in /boot (vmlinuz-*)");
    };
    let Some(busybox) = find_busybox() else {
        return skip("no static busybox (package busybox-static)");
    };
    let modules = virtio_modules(&kernel);
    if modules.is_none() {
        eprintln!(
            "note: virtio modules of {} not usable here; the payload-disk step is left out",
            kernel.display()
        );
    }

    let dir = std::env::temp_dir().join(format!("vmtest-standin-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let initrd = build_initramfs(&dir, &busybox, modules.as_deref().unwrap_or(&[]));

    let accel = qemu::choose_accel(
        Some(&std::env::var("VMTEST_STANDIN_ACCEL").unwrap_or_else(|_| "tcg".into())),
        qemu::kvm_usable(),
    )
    .unwrap();
    let mut cfg = QemuConfig::new(accel);
    cfg.binary = qemu_bin;
    cfg.memory_mb = 512;
    cfg.cpus = 2;
    cfg.kernel = Some(kernel.clone());
    cfg.initrd = Some(initrd);
    cfg.append = Some("console=ttyS0 panic=-1 loglevel=6".into());
    if modules.is_some() {
        let mut d = Drive::raw(build_payload(&dir), DiskIf::Virtio);
        d.readonly = true;
        cfg.drives.push(d);
    }

    // Ends QEMU however the test ends (a failed assertion included).
    let mut guest = qemu::Guest(
        cfg.spawn(std::process::Stdio::inherit())
            .expect("start qemu"),
    );
    let log = fs::File::create(dir.join("console.log")).unwrap();
    let mut patterns: Vec<&str> = DFLY_PANIC_PATTERNS.to_vec();
    // Linux words its panics differently from DragonFly.
    patterns.push("Kernel panic - not syncing");
    let mut console = Console::new(
        guest.0.stdout.take().unwrap(),
        guest.0.stdin.take().unwrap(),
        Some(log),
        &patterns,
    );

    let mut report = Report {
        title: "vmtest stand-in guest".into(),
        ..Default::default()
    };
    report.fact("kernel", kernel.display().to_string());
    report.fact("accel", accel.name());
    report.fact("qemu", cfg.command_line());
    let login = Login {
        user: "root".into(),
        password: Some("standin".into()),
        shell: Some("/bin/sh".into()),
    };
    let s = Duration::from_secs;

    let boot_ok;
    {
        let mut r = Runner::new(&mut console, &mut report);
        boot_ok = r.boot(&login, s(100));
        if boot_ok {
            r.step(&Step::new("uname", "uname -sr", s(30)));
            r.step(&Step::new("exit-code", "sh -c 'exit 3'", s(30)));
            if modules.is_some() {
                r.step(&Step::new(
                    "payload",
                    "mkdir -p /tmp/p && tar -xf /dev/vda -C /tmp/p && sh /tmp/p/steps/hello.sh",
                    s(30),
                ));
            }
            r.step(&Step::new("slow", "sleep 600", s(3)));
            r.step(&Step::new("after-timeout", "echo still here", s(30)));
            r.step(&Step::new(
                "fake-panic",
                "printf 'pan%s: test\\n' ic",
                s(30),
            ));
            r.step(&Step::new("not-run", "true", s(30)));
        }
    }
    let text = report.to_text();
    eprintln!("{text}");
    assert!(
        boot_ok,
        "stand-in did not boot:\n{text}\nconsole tail:\n{}",
        console.tail(40)
    );
    let boot_secs = report.steps[0].seconds;

    let by_name = |n: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no step {n}"))
    };
    assert!(
        report.steps[0].detail.contains("login prompt")
            && report.steps[0].detail.contains("password prompt")
    );
    assert_eq!(by_name("uname").status, Status::Pass, "{text}");
    assert!(by_name("uname").detail.starts_with("Linux "), "{text}");
    let ec = by_name("exit-code");
    assert_eq!((ec.status, ec.rc), (Status::Fail, Some(3)), "{text}");
    assert!(ec.console_tail.is_some());
    if modules.is_some() {
        let p = by_name("payload");
        assert_eq!(p.status, Status::Pass, "{text}");
        assert_eq!(p.detail, "payload says hello from Linux", "{text}");
    }
    let slow = by_name("slow");
    assert_eq!(slow.status, Status::Timeout, "{text}");
    assert!(
        slow.detail.contains("interrupted, shell answered again"),
        "{text}"
    );
    assert!(slow.seconds < 20.0, "{text}");
    assert_eq!(by_name("after-timeout").status, Status::Pass, "{text}");
    assert_eq!(by_name("after-timeout").detail, "still here");
    let fp = by_name("fake-panic");
    assert_eq!(fp.status, Status::Panic, "{text}");
    assert!(fp.detail.contains("panic: test"), "{text}");
    assert_eq!(by_name("not-run").status, Status::Skipped, "{text}");
    assert!(!report.passed());

    // A real kernel panic: the faked one is forgotten, a new runner goes on.
    console.clear_panic();
    let mut report2 = Report::default();
    {
        let mut r = Runner::new(&mut console, &mut report2);
        r.step(&Step::new(
            "alive",
            "echo 1 > /proc/sys/kernel/sysrq; echo ok",
            s(30),
        ));
        r.step(&Step::new("crash", "echo c > /proc/sysrq-trigger", s(60)));
    }
    let text2 = report2.to_text();
    eprintln!("{text2}");
    assert_eq!(report2.steps[0].status, Status::Pass, "{text2}");
    assert_eq!(report2.steps[1].status, Status::Panic, "{text2}");
    assert!(
        report2.steps[1]
            .detail
            .contains("Kernel panic - not syncing"),
        "{text2}"
    );
    report.steps.extend(report2.steps);
    report.write(&dir).unwrap();

    // panic=-1 reboots, and -no-reboot turns that into QEMU exiting.
    let t_exit = Instant::now();
    loop {
        if guest.0.try_wait().unwrap().is_some() || t_exit.elapsed() > s(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    guest.stop();
    let log_text = fs::read_to_string(dir.join("console.log")).unwrap();
    assert!(
        log_text.contains("standin login:"),
        "console log lacks the login prompt"
    );
    eprintln!(
        "stand-in: accel {}, boot to shell {:.1} s, whole test {:.1} s",
        accel.name(),
        boot_secs,
        t_all.elapsed().as_secs_f64()
    );
    if std::env::var_os("VMTEST_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(&dir);
    }
}
