//! The DragonFly plan, end to end, against a local shell instead of a VM:
//! the same `run_session` a real run uses, with the payload unpacked from
//! the image file the harness writes, real `cc` + bufpress on a temporary
//! directory, and small stand-ins for the DragonFly-only tools (kldstat,
//! kldload, newfs_hammer, mount_hammer, hammer, sysctl, make, fsx,
//! fsstress). Checks the scripts' logic and the step wiring; the VM test
//! (standin.rs) checks the console side.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vmtest::console::{Console, Login, DFLY_PANIC_PATTERNS};
use vmtest::dfly::{self, DflyConfig, ARCHIVE_REL};
use vmtest::report::{Report, Status};

const STUBS: &[(&str, &str)] = &[
    (
        "kldstat",
        r#"#!/bin/sh
echo "Id Refs Address            Size     Name"
echo " 1   10 0xffffffff80200000 1de3510  kernel"
if [ "$1" = -v ]; then echo "	Contains modules:"; echo "		Id Name"; echo "		 1 ahci"; fi
if [ "$STUB_BUILTIN" = 1 ] && [ "$1" = -v ]; then echo "		 2 hammer"; fi
if [ -f "$STUB/loaded" ]; then
    echo " 5    1 0xffffffff82000000 c4000    $(cat "$STUB/loaded")"
    if [ "$1" = -v ]; then echo "	Contains modules:"; echo "		Id Name"; echo "		 9 hammer"; fi
fi
"#,
    ),
    ("kldload", "#!/bin/sh\n[ -f \"$1\" ] || exit 1\necho hammer.ko > \"$STUB/loaded\"\necho \"$1\" >> \"$STUB/log\"\n"),
    ("kldunload", "#!/bin/sh\n[ -f \"$STUB/loaded\" ] || exit 1\nrm \"$STUB/loaded\"\n"),
    ("newfs_hammer", "#!/bin/sh\necho \"newfs_hammer $*\" >> \"$STUB/log\"\necho 'Volume 0 DEVICE /dev/vbd1 size 8.00GB'\n"),
    ("mount_hammer", "#!/bin/sh\n[ -d \"$2\" ] || exit 1\necho \"mount $*\" >> \"$STUB/log\"\n"),
    ("umount", "#!/bin/sh\necho \"umount $*\" >> \"$STUB/log\"\n"),
    (
        "hammer",
        r#"#!/bin/sh
echo "hammer $*" >> "$STUB/log"
case "$*" in
*checkmap*)
    echo "Volume header	records=12 next_tid=0000000100008000"
    echo "Collecting allocation info from B-Tree: done"
    [ -n "$STUB_BADMAP" ] && printf 'BM\tblock=8000000000800000 zone= 9 calc 100 free, got 200\n'
    ;;
*snapls*) echo "Snapshots on $2"; echo "0000000100008000 vmtest" ;;
*) echo "ok" ;;
esac
exit 0
"#,
    ),
    (
        "sysctl",
        r#"#!/bin/sh
case "$1" in
-n) echo 1048576 ;;
*) echo "$1" >> "$STUB/log" ;;
esac
"#,
    ),
    (
        "make",
        r#"#!/bin/sh
# Stands in for BSD make building kmod/: make -C DIR SYSDIR=... RUST_LIB=...
[ "$1" = -C ] || exit 2
case "$4" in RUST_LIB=*) lib=${4#RUST_LIB=} ;; *) exit 2 ;; esac
[ -f "$lib" ] || { echo "no $lib"; exit 1; }
echo "cc -c hammer_vnops.c"
echo "   KKASSERT(ip->lock.refs > 0);"
echo "ld -r -o hammer_io_rs.o"
echo "fake ko" > "$2/hammer.ko"
"#,
    ),
    ("fsx", "#!/bin/sh\necho \"fsx $*\" >> \"$STUB/log\"\necho 'All operations completed A-OK!'\n"),
    ("fsstress", "#!/bin/sh\necho \"fsstress $*\" >> \"$STUB/log\"\n"),
];

struct Env {
    dir: PathBuf,
    stub: PathBuf,
    cfg: DflyConfig,
}

fn setup(tag: &str) -> Option<Env> {
    if Command::new("cc").arg("--version").output().is_err()
        || Command::new("tar").arg("--version").output().is_err()
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED plan_local: needs cc and tar on the host"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("vmtest-plan-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let stub = dir.join("stub");
    let bin = stub.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for (name, text) in STUBS {
        let p = bin.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A repo with an archive and a kmod/, a sys/ with the file build.sh checks.
    let repo = dir.join("repo");
    fs::create_dir_all(repo.join("target/x86_64-dragonfly-kernel/release")).unwrap();
    fs::write(repo.join("target").join(ARCHIVE_REL), b"!<arch>\n").unwrap();
    fs::create_dir_all(repo.join("kmod")).unwrap();
    fs::write(repo.join("kmod/Makefile"), b"KMOD=hammer\n").unwrap();
    fs::create_dir_all(dir.join("sys/sys")).unwrap();
    fs::write(dir.join("sys/sys/buf.h"), b"").unwrap();
    fs::write(dir.join("image.img"), b"").unwrap();
    let vars: HashMap<String, String> = [
        ("DFLY_IMAGE", dir.join("image.img").display().to_string()),
        ("VMTEST_QEMU", "/bin/sh".into()),
        ("VMTEST_ACCEL", "tcg".into()),
        ("VMTEST_TIMEOUT_SCALE", "0.1".into()),
        ("VMTEST_SYSDIR", dir.join("sys").display().to_string()),
        ("VMTEST_OUT", dir.join("out").display().to_string()),
        ("VMTEST_GUEST_DIR", dir.join("guest").display().to_string()),
        ("VMTEST_BP_FILES", "700".into()),
        ("VMTEST_BP_SIZE", "8192".into()),
        ("VMTEST_BP_BIG_MB", "4".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let get = move |k: &str| vars.get(k).cloned();
    let cfg = DflyConfig::from_vars(&get, &repo, false).unwrap();
    Some(Env { dir, stub, cfg })
}

/// Runs the session against `sh -i` whose PATH starts with the stubs and
/// whose `tar` reads the payload image where the guest would read /dev/vbd0.
fn run(env: &Env, extra_env: &[(&str, &str)]) -> (Report, String) {
    fs::create_dir_all(&env.cfg.out).unwrap();
    let payload = env.cfg.out.join("payload.img");
    env.cfg.build_payload(&payload).unwrap();
    let path = format!(
        "{}:{}",
        env.stub.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec sh -i 2>&1")
        .env("PATH", path)
        .env("STUB", &env.stub)
        .env("PS1", "guest# ")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut console = Console::new(
        child.stdout.take().unwrap(),
        child.stdin.take().unwrap(),
        None,
        DFLY_PANIC_PATTERNS,
    );
    console.sync(std::time::Duration::from_secs(10)).unwrap();
    let (pdev, _) = env.cfg.guest_disks();
    console
        .send_line(&format!(
            "tar() {{ if [ \"$2\" = {pdev} ]; then shift 2; command tar -xf {} \"$@\"; else command tar \"$@\"; fi; }}",
            payload.display()
        ))
        .unwrap();
    let mut report = Report::default();
    let cfg = DflyConfig {
        login: Login {
            user: "root".into(),
            password: None,
            shell: None,
        },
        ..env.cfg.clone()
    };
    // The shell is already up: readiness sees its prompt.
    console.send_line("").unwrap();
    dfly::run_session(&cfg, &mut console, &mut report, false);
    let _ = child.kill();
    let _ = child.wait();
    let log = fs::read_to_string(env.stub.join("log")).unwrap_or_default();
    (report, log)
}

fn statuses(r: &Report) -> Vec<(String, Status)> {
    r.steps.iter().map(|s| (s.name.clone(), s.status)).collect()
}

fn cleanup(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn whole_plan_passes_with_healthy_tools() {
    let Some(env) = setup("ok") else { return };
    let (report, log) = run(&env, &[]);
    let text = report.to_text();
    eprintln!("{text}");
    for (name, st) in statuses(&report) {
        assert_eq!(st, Status::Pass, "step {name}\n{text}");
    }
    assert_eq!(report.steps.len(), 1 + env.cfg.steps().len(), "{text}");
    assert!(report.passed(), "{text}");
    // What the guest tools were asked to do.
    let (_, test_dev) = env.cfg.guest_disks();
    assert!(
        log.contains(&format!("newfs_hammer -L VMTEST {test_dev}")),
        "{log}"
    );
    assert!(
        log.contains("fsx -N 50000 -c 100000 -l 4194304 -o 262144"),
        "{log}"
    );
    assert!(log.contains("fsstress -d"), "{log}");
    assert!(log.contains("vfs.hirunningspace=262144"), "{log}");
    assert!(
        log.contains(&format!("hammer -f {test_dev} checkmap")),
        "{log}"
    );
    assert!(
        log.contains("hammer prune-everything") && log.contains("hammer reblock"),
        "{log}"
    );
    assert!(log.contains("hammer snap "), "{log}");
    assert!(log.contains("/hammer.ko"), "{log}");
    // The build output quoted a KKASSERT line; it reached the console defused.
    assert!(!text.contains("KKASSERT"));
    let bp = report
        .steps
        .iter()
        .find(|s| s.name == "verify-remount")
        .unwrap();
    assert!(bp.detail.contains("bufpress: checked 4 MB"), "{text}");
    cleanup(&env.dir);
}

#[test]
fn builtin_hammer_stops_the_run_and_bad_maps_fail_checkmap() {
    let Some(env) = setup("bad") else { return };
    let (report, _) = run(&env, &[("STUB_BUILTIN", "1")]);
    let text = report.to_text();
    let st = statuses(&report);
    let load = st.iter().position(|(n, _)| n == "load").unwrap();
    assert_eq!(st[load].1, Status::Fail, "{text}");
    assert!(
        report.steps[load]
            .console_tail
            .as_deref()
            .unwrap()
            .contains("has HAMMER compiled in"),
        "{text}"
    );
    assert!(
        st[load + 1..].iter().all(|(_, s)| *s == Status::Skipped),
        "{text}"
    );
    assert!(!report.passed());

    let (report, _) = run(&env, &[("STUB_BADMAP", "1")]);
    let text = report.to_text();
    let cm = report.steps.iter().find(|s| s.name == "checkmap").unwrap();
    assert_eq!(cm.status, Status::Fail, "{text}");
    assert_eq!(
        report
            .steps
            .iter()
            .find(|s| s.name == "unload")
            .unwrap()
            .status,
        Status::Pass,
        "{text}"
    );
    cleanup(&env.dir);
}
