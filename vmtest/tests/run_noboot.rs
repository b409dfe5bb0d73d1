//! `dfly::run` with real QEMU and a blank disk as the "DragonFly image":
//! proves the generated command line (IDE boot disk with snapshot=on, the
//! read-only virtio payload, the sparse test disk, serial on stdio) is one
//! QEMU accepts, and that a guest that never shows a prompt ends in a boot
//! timeout, with every step listed as not run and all files written.

use std::collections::HashMap;
use std::fs;

use vmtest::dfly::{self, DflyConfig, ARCHIVE_REL};
use vmtest::report::Status;

#[test]
fn blank_image_times_out_at_boot() {
    let Some(qemu) = vmtest::qemu::find_in_path("qemu-system-x86_64") else {
        // Straight to stderr: libtest would hide eprintln! output of a passing test.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED run_noboot: qemu-system-x86_64 is not installed (vmtest/install-deps.sh)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("vmtest-noboot-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let repo = dir.join("repo");
    fs::create_dir_all(repo.join("target/x86_64-dragonfly-kernel/release")).unwrap();
    fs::write(repo.join("target").join(ARCHIVE_REL), b"!<arch>\n").unwrap();
    fs::create_dir_all(repo.join("kmod")).unwrap();
    fs::write(repo.join("kmod/Makefile"), b"KMOD=hammer\n").unwrap();
    let image = dir.join("blank.img");
    fs::File::create(&image).unwrap().set_len(16 << 20).unwrap();
    let vars: HashMap<&str, String> = [
        ("DFLY_IMAGE", image.display().to_string()),
        ("VMTEST_QEMU", qemu.display().to_string()),
        ("VMTEST_ACCEL", "tcg".into()),
        ("VMTEST_MEM", "128".into()),
        // 300 s of boot time scaled down to 6 s.
        ("VMTEST_TIMEOUT_SCALE", "0.02".into()),
        ("VMTEST_TEST_DISK_GB", "1".into()),
        ("VMTEST_OUT", dir.join("out").display().to_string()),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| vars.get(k).cloned();
    let cfg = DflyConfig::from_vars(&get, &repo, false).unwrap();
    let report = dfly::run(&cfg, false);
    report.write(&cfg.out).unwrap();
    let text = report.to_text();
    eprintln!("{text}");
    assert_eq!(report.steps[0].name, "boot");
    assert_eq!(report.steps[0].status, Status::Timeout, "{text}");
    assert!(
        report.steps[1..]
            .iter()
            .all(|s| s.status == Status::Skipped),
        "{text}"
    );
    assert_eq!(report.steps.len(), 1 + cfg.steps().len());
    assert_eq!(
        report.aborted.as_deref(),
        Some("the guest never became ready")
    );
    assert!(!report.passed());
    // QEMU took the command line without complaint.
    assert!(
        !report.facts.iter().any(|(k, _)| k == "qemu stderr"),
        "{text}"
    );
    for f in [
        "report.txt",
        "report.json",
        "console.log",
        "payload.img",
        "qemu-stderr.log",
    ] {
        assert!(cfg.out.join(f).is_file(), "{f} missing");
    }
    // The failed run keeps its test disk, sparse.
    let disk = fs::metadata(cfg.out.join("test-disk.img")).unwrap();
    assert_eq!(disk.len(), 1 << 30);
    let _ = fs::remove_dir_all(&dir);
}
