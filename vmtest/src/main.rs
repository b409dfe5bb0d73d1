//! `cargo run -p vmtest` (or `make vmtest`): boots DragonFly with our
//! hammer.ko and runs the file system workloads. See vmtest/README.md.

use std::path::PathBuf;
use std::process::ExitCode;

use vmtest::dfly::{self, DflyConfig};

const NEEDS: &str = "\
vmtest boots a DragonFly BSD 4.x disk image under QEMU, builds hammer.ko from
the Rust archive inside it, loads it in place of the stock HAMMER and runs
newfs_hammer, fsx, fsstress, a buffer-pressure run, hammer cleanup/snapshot,
a remount and hammer checkmap, failing on any panic on the serial console.

It needs:
  DFLY_IMAGE=<disk image>   a prepared DragonFly 4.0/4.2 x86_64 install (qcow2 or raw):
      - root on UFS, and a kernel built WITHOUT `options HAMMER`
        (a module cannot replace a file system compiled into the kernel)
      - serial console: console=\"comconsole\" in /boot/loader.conf and
        ttyd0 switched \"on\" in /etc/ttys
      - root may log in on ttyd0 (no password, or set VMTEST_ROOT_PASSWORD)
      - /usr/src/sys, or ship a tree with VMTEST_SYSDIR=<dragonfly>/sys;
        fsx/fsstress sources in /usr/src/test/stress, or VMTEST_STRESS_SRC
    vmtest/README.md (\"Preparing the image\") walks through making one from
    the release ISO dfly-x86_64-4.2.4_REL.iso (DragonFly mirrors, iso-images/).
  the Rust archive: `make kernel` (target/x86_64-dragonfly-kernel/release/
    libhammer_io.a, or VMTEST_ARCHIVE) and kmod/ (VMTEST_KMOD), or a ready
    module in VMTEST_KO
  qemu-system-x86_64 (Debian: apt-get install qemu-system-x86); KVM is used
    when /dev/kvm is usable, TCG (about 10x slower) otherwise

Options: --dry-run  write the payload and print the QEMU command and the plan
         --help     this text
Output:  target/vmtest/report.txt, report.json, console.log (VMTEST_OUT)
Other variables: VMTEST_ACCEL, VMTEST_BOOT_IF, VMTEST_MEM, VMTEST_CPUS,
  VMTEST_TIMEOUT_SCALE, VMTEST_TEST_DISK_GB, VMTEST_FSX_OPS,
  VMTEST_FSSTRESS_OPS, VMTEST_BP_FILES, VMTEST_BP_SIZE, VMTEST_BP_BIG_MB,
  VMTEST_QEMU, VMTEST_ROOT_USER (see vmtest/README.md).
";

fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("VMTEST_REPO") {
        return PathBuf::from(r);
    }
    // vmtest/ sits at the top of the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn config(dry_run: bool) -> Result<DflyConfig, ExitCode> {
    DflyConfig::from_env(&repo_root(), !dry_run).map_err(|errs| {
        eprintln!("vmtest: cannot run:");
        for e in &errs {
            eprintln!("  - {e}");
        }
        eprintln!();
        eprint!("{NEEDS}");
        ExitCode::from(2)
    })
}

fn dry_run() -> ExitCode {
    let cfg = match config(true) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = std::fs::create_dir_all(&cfg.out) {
        eprintln!("vmtest: {}: {e}", cfg.out.display());
        return ExitCode::from(2);
    }
    let payload = cfg.out.join("payload.img");
    match cfg.build_payload(&payload) {
        Ok(n) => println!("payload: {} ({} KiB)", payload.display(), n / 1024),
        Err(e) => {
            eprintln!("vmtest: writing {}: {e}", payload.display());
            return ExitCode::from(2);
        }
    }
    let q = cfg.qemu_config(&payload, &cfg.out.join("test-disk.img"));
    match &cfg.accel_note {
        Some(n) => println!("accel: {} ({n})", cfg.accel.name()),
        None => println!("accel: {}", cfg.accel.name()),
    }
    println!("qemu: {}", q.command_line());
    println!("guest plan (after boot and login):");
    for s in cfg.steps() {
        let crit = if s.critical { " [critical]" } else { "" };
        println!(
            "  {:<16} {:>6} s  {}{crit}",
            s.name,
            s.timeout.as_secs(),
            s.cmd
        );
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["--help"] | ["-h"] => {
            print!("{NEEDS}");
            return ExitCode::SUCCESS;
        }
        ["--dry-run"] => return dry_run(),
        other => {
            eprintln!("vmtest: unknown arguments {other:?}\n");
            eprint!("{NEEDS}");
            return ExitCode::from(2);
        }
    }
    let cfg = match config(false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    eprintln!(
        "vmtest: booting {} ({}{}), output in {}",
        cfg.image.display(),
        cfg.accel.name(),
        cfg.accel_note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default(),
        cfg.out.display()
    );
    let report = dfly::run(&cfg, true);
    print!("{}", report.to_text());
    if let Err(e) = report.write(&cfg.out) {
        eprintln!("vmtest: writing the report to {}: {e}", cfg.out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "vmtest: report in {}/report.txt and report.json",
        cfg.out.display()
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
