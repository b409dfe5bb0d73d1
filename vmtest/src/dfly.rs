//! The DragonFly run: configuration, the payload disk, the guest plan, and
//! the run itself.
//!
//! Guest layout: disk 0 is the DragonFly image (opened with `snapshot=on`,
//! never modified), then two virtio disks: the payload (a raw image holding
//! a ustar stream, unpacked with `tar -xf /dev/vbdN`) and the empty test
//! disk that gets `newfs_hammer`. Work happens in `$P` (/tmp/vmtest, or a
//! tmpfs when the root file system is read-only); the test file system is
//! mounted on `$T`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::archive::TarWriter;
use crate::console::{Console, Login, DFLY_PANIC_PATTERNS};
use crate::qemu::{self, Accel, DiskIf, Drive, QemuConfig};
use crate::report::Report;
use crate::runner::{Runner, Step};

/// Our buffer-pressure program, built in the guest.
pub const BUFPRESS_C: &str = include_str!("bufpress.c");

/// Where the kernel cross-build leaves the archive, relative to a target dir.
pub const ARCHIVE_REL: &str = "x86_64-dragonfly-kernel/release/libhammer_io.a";

/// Everything a run needs; see [`DflyConfig::from_env`] for the variables.
#[derive(Clone, Debug)]
pub struct DflyConfig {
    pub repo: PathBuf,
    pub image: PathBuf,
    pub image_format: String,
    pub boot_if: DiskIf,
    pub qemu: PathBuf,
    pub accel: Accel,
    /// Why the accelerator is not the obvious one (a failed KVM probe).
    pub accel_note: Option<String>,
    pub memory_mb: u32,
    pub cpus: u32,
    pub archive: PathBuf,
    pub kmod: PathBuf,
    pub prebuilt_ko: Option<PathBuf>,
    pub sysdir: Option<PathBuf>,
    pub stress_src: Option<PathBuf>,
    pub out: PathBuf,
    /// The guest's work directory (a tmpfs on /mnt replaces it when the
    /// guest's root is read-only).
    pub workdir: String,
    pub login: Login,
    pub timeout_scale: f64,
    pub test_disk_gb: u64,
    pub fsx_ops: u64,
    pub fsstress_ops: u64,
    pub bp_files: u64,
    pub bp_size: u64,
    pub bp_big_mb: u64,
}

/// Reads a variable through `get` (the environment, or a map in tests).
type Getter<'a> = &'a dyn Fn(&str) -> Option<String>;

fn num<T: std::str::FromStr>(get: Getter, key: &str, default: T, errs: &mut Vec<String>) -> T {
    match get(key) {
        None => default,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            errs.push(format!("{key}={v:?} is not a number"));
            default
        }),
    }
}

impl DflyConfig {
    /// Builds the configuration from variables:
    ///
    /// | variable | meaning (default) |
    /// |---|---|
    /// | DFLY_IMAGE | the prepared DragonFly disk image (required) |
    /// | DFLY_IMAGE_FORMAT | raw, qcow2... (from the file name) |
    /// | VMTEST_BOOT_IF | bus of the boot disk: ide, ahci, virtio (ide) |
    /// | VMTEST_ACCEL | kvm, tcg, auto (auto) |
    /// | VMTEST_MEM, VMTEST_CPUS | guest MiB and CPUs (2048, 2) |
    /// | VMTEST_ARCHIVE | the Rust archive (target/x86_64-dragonfly-kernel/release/libhammer_io.a) |
    /// | VMTEST_KMOD | the kmod/ directory (repo/kmod) |
    /// | VMTEST_KO | a hammer.ko built elsewhere; then nothing is built in the guest |
    /// | VMTEST_SYSDIR | a DragonFly sys/ tree to ship for the guest build |
    /// | VMTEST_STRESS_SRC | DragonFly's test/stress directory (fsx/, fsstress/) to ship |
    /// | VMTEST_OUT | report, console log and disk images (target/vmtest) |
    /// | VMTEST_GUEST_DIR | work directory in the guest (/tmp/vmtest) |
    /// | VMTEST_ROOT_USER, VMTEST_ROOT_PASSWORD | login (root, empty) |
    /// | VMTEST_TIMEOUT_SCALE | multiplies every timeout (1 with KVM, 10 with TCG) |
    /// | VMTEST_TEST_DISK_GB | size of the sparse test disk (8) |
    /// | VMTEST_FSX_OPS, VMTEST_FSSTRESS_OPS | fsx operations, fsstress operations per process (50000, 2000) |
    /// | VMTEST_BP_FILES, VMTEST_BP_SIZE, VMTEST_BP_BIG_MB | buffer-pressure files, max file size, big file MiB (20000, 32768, 1.5 x memory) |
    /// | VMTEST_QEMU | the QEMU binary (qemu-system-x86_64) |
    ///
    /// Returns every problem found, not just the first.
    pub fn from_vars(get: Getter, repo: &Path, kvm_ok: bool) -> Result<DflyConfig, Vec<String>> {
        DflyConfig::from_vars_opts(get, repo, kvm_ok, true)
    }

    /// As [`DflyConfig::from_vars`]; without `require_image` a missing
    /// DFLY_IMAGE is no error (for `--dry-run`, which boots nothing).
    pub fn from_vars_opts(
        get: Getter,
        repo: &Path,
        kvm_ok: bool,
        require_image: bool,
    ) -> Result<DflyConfig, Vec<String>> {
        let mut errs = Vec::new();
        let image = match get("DFLY_IMAGE") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ if !require_image => PathBuf::from("DFLY_IMAGE"),
            _ => {
                errs.push("DFLY_IMAGE is not set".into());
                PathBuf::new()
            }
        };
        if require_image && !image.as_os_str().is_empty() && !image.is_file() {
            errs.push(format!("DFLY_IMAGE {} does not exist", image.display()));
        }
        let image_format =
            get("DFLY_IMAGE_FORMAT").unwrap_or_else(|| qemu::image_format(&image).to_string());
        let boot_if = DiskIf::parse(&get("VMTEST_BOOT_IF").unwrap_or_else(|| "ide".into()))
            .unwrap_or_else(|e| {
                errs.push(e);
                DiskIf::Ide
            });
        let accel =
            qemu::choose_accel(get("VMTEST_ACCEL").as_deref(), kvm_ok).unwrap_or_else(|e| {
                errs.push(e);
                Accel::Tcg
            });
        let qemu_name = get("VMTEST_QEMU").unwrap_or_else(|| "qemu-system-x86_64".into());
        let qemu = qemu::find_in_path(&qemu_name).unwrap_or_else(|| {
            errs.push(format!(
                "{qemu_name} not found (Debian: apt-get install qemu-system-x86)"
            ));
            PathBuf::from(&qemu_name)
        });
        let archive = match get("VMTEST_ARCHIVE") {
            Some(a) => PathBuf::from(a),
            None => {
                let mut cands = Vec::new();
                if let Some(t) = get("CARGO_TARGET_DIR") {
                    cands.push(PathBuf::from(t).join(ARCHIVE_REL));
                }
                cands.push(repo.join("target").join(ARCHIVE_REL));
                cands
                    .iter()
                    .find(|p| p.is_file())
                    .cloned()
                    .unwrap_or_else(|| cands.pop().unwrap())
            }
        };
        let prebuilt_ko = get("VMTEST_KO").map(PathBuf::from);
        let kmod = get("VMTEST_KMOD").map_or_else(|| repo.join("kmod"), PathBuf::from);
        match &prebuilt_ko {
            Some(ko) if !ko.is_file() => {
                errs.push(format!("VMTEST_KO {} does not exist", ko.display()))
            }
            Some(_) => {}
            None => {
                if !archive.is_file() {
                    errs.push(format!(
                        "the Rust archive {} is missing: run `make kernel` (or set VMTEST_ARCHIVE)",
                        archive.display()
                    ));
                }
                if !kmod.join("Makefile").is_file() {
                    errs.push(format!(
                        "{}/Makefile is missing (set VMTEST_KMOD)",
                        kmod.display()
                    ));
                }
            }
        }
        let sysdir = get("VMTEST_SYSDIR").map(PathBuf::from);
        if let Some(s) = &sysdir {
            if !s.join("sys/buf.h").is_file() {
                errs.push(format!("VMTEST_SYSDIR {} has no sys/buf.h", s.display()));
            }
        }
        let stress_src = get("VMTEST_STRESS_SRC").map(PathBuf::from);
        if let Some(s) = &stress_src {
            if !s.join("fsx").is_dir() && !s.join("fsstress").is_dir() {
                errs.push(format!(
                    "VMTEST_STRESS_SRC {} has neither fsx/ nor fsstress/",
                    s.display()
                ));
            }
        }
        let memory_mb = num(get, "VMTEST_MEM", 2048u32, &mut errs);
        let default_scale = if accel == Accel::Kvm { 1.0 } else { 10.0 };
        let cfg = DflyConfig {
            repo: repo.to_path_buf(),
            image,
            image_format,
            boot_if,
            qemu,
            accel,
            accel_note: None,
            memory_mb,
            cpus: num(get, "VMTEST_CPUS", 2u32, &mut errs),
            archive,
            kmod,
            prebuilt_ko,
            sysdir,
            stress_src,
            out: get("VMTEST_OUT").map_or_else(|| repo.join("target/vmtest"), PathBuf::from),
            workdir: get("VMTEST_GUEST_DIR").unwrap_or_else(|| "/tmp/vmtest".into()),
            login: Login {
                user: get("VMTEST_ROOT_USER").unwrap_or_else(|| "root".into()),
                password: get("VMTEST_ROOT_PASSWORD"),
                shell: Some("/bin/sh".into()),
            },
            timeout_scale: num(get, "VMTEST_TIMEOUT_SCALE", default_scale, &mut errs),
            test_disk_gb: num(get, "VMTEST_TEST_DISK_GB", 8u64, &mut errs),
            fsx_ops: num(get, "VMTEST_FSX_OPS", 50_000u64, &mut errs),
            fsstress_ops: num(get, "VMTEST_FSSTRESS_OPS", 2_000u64, &mut errs),
            bp_files: num(get, "VMTEST_BP_FILES", 20_000u64, &mut errs),
            bp_size: num(get, "VMTEST_BP_SIZE", 32_768u64, &mut errs),
            bp_big_mb: num(
                get,
                "VMTEST_BP_BIG_MB",
                u64::from(memory_mb) * 3 / 2,
                &mut errs,
            ),
        };
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(errs)
        }
    }

    /// From the process environment. In `auto` mode KVM is only chosen
    /// when a probe boot shows that it works ([`qemu::probe_kvm`]); the
    /// probe's verdict is kept in `accel_note` for the report.
    pub fn from_env(repo: &Path, require_image: bool) -> Result<DflyConfig, Vec<String>> {
        let get = |k: &str| std::env::var(k).ok();
        let auto = matches!(
            get("VMTEST_ACCEL").as_deref().map(str::trim),
            None | Some("" | "auto")
        );
        let mut note = None;
        let mut kvm_ok = qemu::kvm_usable();
        if kvm_ok && auto {
            let name = get("VMTEST_QEMU").unwrap_or_else(|| "qemu-system-x86_64".into());
            if let Some(bin) = qemu::find_in_path(&name) {
                if let Err(e) = qemu::probe_kvm(&bin) {
                    note = Some(format!("{e}; using TCG"));
                    kvm_ok = false;
                }
            }
        }
        let mut cfg = DflyConfig::from_vars_opts(&get, repo, kvm_ok, require_image)?;
        cfg.accel_note = note;
        Ok(cfg)
    }

    /// DragonFly names virtio disks vbd0, vbd1... in PCI order, which is
    /// command-line order: (payload, test disk).
    pub fn guest_disks(&self) -> (String, String) {
        let first = usize::from(self.boot_if == DiskIf::Virtio);
        (format!("/dev/vbd{first}"), format!("/dev/vbd{}", first + 1))
    }

    fn t(&self, secs: u64) -> Duration {
        Duration::from_secs_f64(secs as f64 * self.timeout_scale)
    }

    pub fn boot_timeout(&self) -> Duration {
        self.t(300)
    }

    /// The steps run once the guest has a shell. Every line is short: longer
    /// work lives in scripts of the payload (see [`guest_scripts`]).
    pub fn steps(&self) -> Vec<Step> {
        let (payload_dev, _) = self.guest_disks();
        let s = |name: &str, cmd: &str, secs: u64| Step::new(name, cmd, self.t(secs));
        vec![
            s("info", "uname -a; sysctl -n hw.physmem hw.ncpu; kldstat", 60),
            s(
                "workdir",
                &format!(
                    "P={}; mkdir -p $P 2>/dev/null || {{ mount_tmpfs tmpfs /mnt && P=/mnt/vmtest && mkdir -p $P; }}; export P; echo $P",
                    self.workdir
                ),
                60,
            )
            .critical(),
            s("payload", &format!("tar -xf {payload_dev} -C $P && . $P/vmtest.env && ls $P"), 600).critical(),
            s("build", "sh $P/steps/build.sh", 1800).critical(),
            s("load", "sh $P/steps/load.sh", 120).critical(),
            s("newfs", "newfs_hammer -L VMTEST $DEV", 300).critical(),
            s("mount", "mkdir -p $T && mount_hammer $DEV $T && df -k $T", 120).critical(),
            s("fsx", "sh $P/steps/fsx.sh", 3600),
            s("fsstress", "sh $P/steps/fsstress.sh", 3600),
            s("bufpressure", "sh $P/steps/bufpressure.sh", 3600),
            s("cleanup", "sh $P/steps/cleanup.sh", 3600),
            s("snapshot", "hammer snap $T vmtest && hammer snapls $T", 300),
            s("verify", "sh $P/steps/verify.sh", 1800),
            s("umount", "sync; umount $T", 600).critical(),
            s("remount", "mount_hammer $DEV $T && df -k $T", 300).critical(),
            s("verify-remount", "sh $P/steps/verify.sh", 1800),
            s("umount-final", "umount $T", 600).critical(),
            s("checkmap", "sh $P/steps/checkmap.sh", 1800),
            s("unload", "kldunload hammer && kldstat", 120),
        ]
    }

    /// `vmtest.env`: the variables every step and script reads (`$P` is set
    /// by the workdir step before this is sourced).
    pub fn env_file(&self) -> String {
        let (_, test_dev) = self.guest_disks();
        format!(
            "# written by vmtest on the host\n\
             DEV={test_dev}\n\
             T=$P/hmnt\n\
             FSX_OPS={}\n\
             FSSTRESS_OPS={}\n\
             BP_FILES={}\n\
             BP_SIZE={}\n\
             BP_BIG_MB={}\n\
             export DEV T FSX_OPS FSSTRESS_OPS BP_FILES BP_SIZE BP_BIG_MB\n",
            self.fsx_ops, self.fsstress_ops, self.bp_files, self.bp_size, self.bp_big_mb
        )
    }

    /// Writes the payload image (ustar stream padded to whole MiB).
    pub fn build_payload(&self, path: &Path) -> io::Result<u64> {
        let f = io::BufWriter::new(fs::File::create(path)?);
        let mut t = TarWriter::new(f);
        t.add_file("vmtest.env", 0o644, self.env_file().as_bytes())?;
        t.add_dir("steps", 0o755)?;
        for (name, text) in guest_scripts() {
            t.add_file(&format!("steps/{name}"), 0o755, text.as_bytes())?;
        }
        t.add_dir("src", 0o755)?;
        t.add_file("src/bufpress.c", 0o644, BUFPRESS_C.as_bytes())?;
        if let Some(ko) = &self.prebuilt_ko {
            t.add_dir("prebuilt", 0o755)?;
            t.add_host_file("prebuilt/hammer.ko", ko)?;
        } else {
            t.add_dir("hammer_io", 0o755)?;
            t.add_host_file("hammer_io/libhammer_io.a", &self.archive)?;
            // The build notes kmod/Makefile checks (which SYSDIR it was made for).
            let mut info = self.archive.clone().into_os_string();
            info.push(".info");
            let info = PathBuf::from(info);
            if info.is_file() {
                t.add_host_file("hammer_io/libhammer_io.a.info", &info)?;
            }
            // Host build products and VCS data stay behind.
            let skip = |n: &str| {
                n.starts_with('.') || n == "target" || n.ends_with(".o") || n.ends_with(".ko")
            };
            t.add_host_tree("kmod", &self.kmod, &skip)?;
        }
        if let Some(sys) = &self.sysdir {
            let skip = |n: &str| n.starts_with('.') || n == "compile";
            t.add_host_tree("sys", sys, &skip)?;
        }
        if let Some(stress) = &self.stress_src {
            t.add_dir("stress", 0o755)?;
            for tool in ["fsx", "fsstress"] {
                let d = stress.join(tool);
                if d.is_dir() {
                    t.add_host_tree(&format!("stress/{tool}"), &d, &|n: &str| n.starts_with('.'))?;
                }
            }
        }
        let file = t.finish()?.into_inner().map_err(|e| e.into_error())?;
        let padded = file.metadata()?.len().div_ceil(1 << 20) << 20;
        // The zeros after the archive are what the guest's tar reads past
        // its end-of-archive blocks; a disk must be whole sectors anyway.
        file.set_len(padded)?;
        Ok(padded)
    }

    pub fn qemu_config(&self, payload: &Path, test_disk: &Path) -> QemuConfig {
        let mut q = QemuConfig::new(self.accel);
        q.binary = self.qemu.clone();
        q.memory_mb = self.memory_mb;
        q.cpus = self.cpus;
        let mut boot = Drive::raw(&self.image, self.boot_if);
        boot.format = self.image_format.clone();
        boot.snapshot = true;
        q.drives.push(boot);
        let mut p = Drive::raw(payload, DiskIf::Virtio);
        p.readonly = true;
        q.drives.push(p);
        q.drives.push(Drive::raw(test_disk, DiskIf::Virtio));
        q
    }
}

/// Shell functions every script sources.
const COMMON_SH: &str = r#"# vmtest guest helpers (sourced by the step scripts)
. "$P/vmtest.env"

# Shows the end of a log on the console with the words the harness treats as
# a kernel panic defused: compiler diagnostics quote source lines, and a
# quoted KKASSERT would otherwise read as a dying kernel. The full log stays
# in the guest's work directory.
console_safe() {
    tail -n "${2:-40}" "$1" | sed -e 's/KKASSERT/KK-ASSERT/g' -e 's/assertion/assert-ion/g' \
        -e 's/panic:/panic :/g' -e 's/Fatal trap/Fatal-trap/g'
}

# Builds a stress tool from shipped sources ($P/stress/NAME) or from the
# guest's /usr/src/test/stress/NAME, unless one is installed. Prints its path.
stress_tool() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return 0
    fi
    for d in "$P/stress/$1" "/usr/src/test/stress/$1"; do
        [ -d "$d" ] || continue
        rm -rf "$P/build/$1"
        mkdir -p "$P/build"
        cp -R "$d" "$P/build/$1"
        if (cd "$P/build/$1" && make NOMAN=yes >"$P/build/$1.log" 2>&1) &&
            [ -x "$P/build/$1/$1" ]; then
            echo "$P/build/$1/$1"
            return 0
        fi
        if (cd "$P/build/$1" && cc -O2 -w -o "$1" *.c >>"$P/build/$1.log" 2>&1); then
            echo "$P/build/$1/$1"
            return 0
        fi
        console_safe "$P/build/$1.log" >&2
    done
    echo "vmtest: no $1: ship DragonFly's test/stress with VMTEST_STRESS_SRC or install /usr/src" >&2
    return 1
}
"#;

const BUILD_SH: &str = r#"#!/bin/sh
# Builds hammer.ko from the shipped Rust archive and kmod/ sources.
. "$P/steps/common.sh"
if [ -f "$P/prebuilt/hammer.ko" ]; then
    echo "vmtest: using the hammer.ko built on the host"
    cp "$P/prebuilt/hammer.ko" "$P/hammer.ko"
    exit 0
fi
if [ -d "$P/sys" ]; then S="$P/sys"; else S=/usr/src/sys; fi
if [ ! -f "$S/sys/buf.h" ]; then
    echo "vmtest: no kernel sources at $S: ship them with VMTEST_SYSDIR or install /usr/src"
    exit 2
fi
echo "vmtest: building with SYSDIR=$S"
make -C "$P/kmod" SYSDIR="$S" RUST_LIB="$P/hammer_io/libhammer_io.a" >"$P/build.log" 2>&1
rc=$?
console_safe "$P/build.log" 25
if [ $rc -ne 0 ]; then
    echo "vmtest: kmod build failed (rc=$rc), full log in $P/build.log"
    exit $rc
fi
ko=$(find "$P/kmod" -name hammer.ko | head -n 1)
if [ -z "$ko" ]; then
    echo "vmtest: the kmod build made no hammer.ko"
    exit 1
fi
cp "$ko" "$P/hammer.ko"
ls -l "$P/hammer.ko"
"#;

const LOAD_SH: &str = r#"#!/bin/sh
# Replaces the stock HAMMER module with ours.
. "$P/steps/common.sh"
# kldstat -v: file lines "id refs address size name", then the modules each
# file holds as "id name". Print the file that holds the hammer module.
where=$(kldstat -v | awk 'NF == 5 && $3 ~ /^0x/ { f = $5 } NF == 2 && $2 == "hammer" { print f }')
case "$where" in
"")
    echo "vmtest: no HAMMER loaded" ;;
kernel)
    echo "vmtest: this kernel has HAMMER compiled in (options HAMMER); a module cannot replace it."
    echo "vmtest: boot a kernel built without options HAMMER (see vmtest/README.md)"
    exit 3 ;;
*)
    echo "vmtest: unloading the stock $where"
    kldunload hammer || kldunload "$where" || exit 4 ;;
esac
kldload "$P/hammer.ko" || exit 5
kldstat | grep hammer
"#;

const FSX_SH: &str = r#"#!/bin/sh
# fsx with the parameters of DragonFly's own HAMMER runs, bounded by -N.
. "$P/steps/common.sh"
fsx=$(stress_tool fsx) || exit 2
cd "$T" || exit 2
echo "vmtest: $fsx -N $FSX_OPS -c 100000 -l 4194304 -o 262144"
"$fsx" -N "$FSX_OPS" -c 100000 -l 4194304 -o 262144 "$T/fsx.data" >"$P/fsx.log" 2>&1
rc=$?
console_safe "$P/fsx.log" 15
exit $rc
"#;

const FSSTRESS_SH: &str = r#"#!/bin/sh
# fsstress: 4 processes of random namespace and data operations.
. "$P/steps/common.sh"
fss=$(stress_tool fsstress) || exit 2
mkdir -p "$T/fsstress"
echo "vmtest: $fss -d $T/fsstress -n $FSSTRESS_OPS -p 4"
"$fss" -d "$T/fsstress" -n "$FSSTRESS_OPS" -p 4 >"$P/fsstress.log" 2>&1
rc=$?
console_safe "$P/fsstress.log" 15
exit $rc
"#;

const BUFPRESSURE_SH: &str = r#"#!/bin/sh
# Many files and one file larger than memory, with the running-buffer limits
# squeezed so writers block on in-flight I/O all the time.
. "$P/steps/common.sh"
mkdir -p "$P/bin"
cc -O2 -o "$P/bin/bufpress" "$P/src/bufpress.c" || exit 2
hi=$(sysctl -n vfs.hirunningspace)
lo=$(sysctl -n vfs.lorunningspace)
echo "vmtest: vfs.hirunningspace $hi -> 262144, vfs.lorunningspace $lo -> 131072"
sysctl vfs.lorunningspace=131072 >/dev/null
sysctl vfs.hirunningspace=262144 >/dev/null
rc=0
"$P/bin/bufpress" write "$T/bp" "$BP_FILES" "$BP_SIZE" || rc=1
"$P/bin/bufpress" big "$T/big" "$BP_BIG_MB" || rc=1
sync
"$P/bin/bufpress" verify "$T/bp" "$BP_FILES" "$BP_SIZE" || rc=1
"$P/bin/bufpress" verifybig "$T/big" "$BP_BIG_MB" || rc=1
sysctl vfs.hirunningspace="$hi" >/dev/null
sysctl vfs.lorunningspace="$lo" >/dev/null
exit $rc
"#;

const CLEANUP_SH: &str = r#"#!/bin/sh
# The periodic maintenance: hammer cleanup, then prune and reblock by hand.
. "$P/steps/common.sh"
rc=0
hammer cleanup "$T" || rc=1
hammer prune-everything "$T" || rc=1
hammer reblock "$T" || rc=1
exit $rc
"#;

const VERIFY_SH: &str = r#"#!/bin/sh
# Re-reads the buffer-pressure data (again after the remount).
. "$P/steps/common.sh"
rc=0
"$P/bin/bufpress" verify "$T/bp" "$BP_FILES" "$BP_SIZE" || rc=1
"$P/bin/bufpress" verifybig "$T/big" "$BP_BIG_MB" || rc=1
exit $rc
"#;

const CHECKMAP_SH: &str = r#"#!/bin/sh
# hammer checkmap always exits 0: failures are its "BM" (free-space mismatch)
# and "B" (bad CRC) lines and an "N errors" summary.
. "$P/steps/common.sh"
hammer -f "$DEV" checkmap >"$P/checkmap.log" 2>&1
rc=$?
console_safe "$P/checkmap.log" 20
[ $rc -eq 0 ] || exit $rc
if grep -Eq '^(BM|B )|^[1-9][0-9]* errors' "$P/checkmap.log"; then
    echo "vmtest: checkmap found blockmap errors"
    exit 1
fi
echo "vmtest: checkmap clean"
"#;

/// The scripts shipped in `steps/` of the payload.
pub fn guest_scripts() -> Vec<(&'static str, &'static str)> {
    vec![
        ("common.sh", COMMON_SH),
        ("build.sh", BUILD_SH),
        ("load.sh", LOAD_SH),
        ("fsx.sh", FSX_SH),
        ("fsstress.sh", FSSTRESS_SH),
        ("bufpressure.sh", BUFPRESSURE_SH),
        ("cleanup.sh", CLEANUP_SH),
        ("verify.sh", VERIFY_SH),
        ("checkmap.sh", CHECKMAP_SH),
    ]
}

/// After a panic DragonFly sits in its debugger; ask it for a backtrace so
/// the console log (and the report's tail) shows where it died.
pub fn ddb_backtrace(c: &mut Console) {
    c.drain_for(Duration::from_secs(3));
    if c.tail(3).contains("db>") {
        let _ = c.send_raw(b"trace\n");
        c.drain_for(Duration::from_secs(10));
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Drives one guest session on `console`: readiness and login, then the
/// plan. Separate from [`run`] so a test can drive it against any shell.
pub fn run_session(cfg: &DflyConfig, console: &mut Console, report: &mut Report, verbose: bool) {
    let mut hook = ddb_backtrace;
    let mut r = Runner::new(console, report);
    r.on_panic = Some(&mut hook);
    r.verbose = verbose;
    if r.boot(&cfg.login, cfg.boot_timeout()) {
        r.steps(&cfg.steps());
    } else {
        // Recorded as not run, so the report lists the whole plan.
        for s in cfg.steps() {
            r.step(&s);
        }
    }
    if r.stopped.is_none() {
        // Leave the guest's disks quiet before QEMU goes away.
        let _ = r.console.run("sync", "sync", Duration::from_secs(60));
    }
    if let Some(s) = r.stopped.clone() {
        r.report.aborted = Some(s);
    }
}

/// Boots the image, runs every step, writes the report; returns it.
pub fn run(cfg: &DflyConfig, verbose: bool) -> Report {
    let mut report = Report {
        title: "vmtest: Rust hammer_io in DragonFly's hammer.ko".into(),
        ..Default::default()
    };
    report.fact("started", format!("{} (unix time)", unix_now()));
    report.fact("image", cfg.image.display().to_string());
    match &cfg.accel_note {
        Some(n) => report.fact("accel", format!("{} ({n})", cfg.accel.name())),
        None => report.fact("accel", cfg.accel.name()),
    }
    if let Some(ko) = &cfg.prebuilt_ko {
        report.fact("module", format!("{} (prebuilt)", ko.display()));
    } else {
        let size = fs::metadata(&cfg.archive).map(|m| m.len()).unwrap_or(0);
        report.fact(
            "archive",
            format!("{} ({size} bytes)", cfg.archive.display()),
        );
        report.fact("kmod", cfg.kmod.display().to_string());
    }
    let (pdev, tdev) = cfg.guest_disks();
    report.fact("guest disks", format!("payload {pdev}, test {tdev}"));
    let log_path = cfg.out.join("console.log");
    report.fact("console log", log_path.display().to_string());

    let prep = |report: &mut Report| -> io::Result<(PathBuf, PathBuf)> {
        fs::create_dir_all(&cfg.out)?;
        let payload = cfg.out.join("payload.img");
        let n = cfg.build_payload(&payload)?;
        report.fact(
            "payload",
            format!("{} ({} KiB)", payload.display(), n / 1024),
        );
        let disk = cfg.out.join("test-disk.img");
        let f = fs::File::create(&disk)?;
        // Sparse: only what HAMMER writes takes host space.
        f.set_len(cfg.test_disk_gb << 30)?;
        Ok((payload, disk))
    };
    let (payload, disk) = match prep(&mut report) {
        Ok(x) => x,
        Err(e) => {
            report.aborted = Some(format!(
                "preparing the disks in {} failed: {e}",
                cfg.out.display()
            ));
            return report;
        }
    };
    let q = cfg.qemu_config(&payload, &disk);
    report.fact("qemu", q.command_line());
    let stderr_path = cfg.out.join("qemu-stderr.log");
    let stderr = match fs::File::create(&stderr_path) {
        Ok(f) => std::process::Stdio::from(f),
        Err(_) => std::process::Stdio::inherit(),
    };
    let mut guest = match q.spawn(stderr) {
        Ok(c) => qemu::Guest(c),
        Err(e) => {
            report.aborted = Some(format!("could not start {}: {e}", cfg.qemu.display()));
            return report;
        }
    };
    let log = fs::File::create(&log_path).ok();
    let mut console = Console::new(
        guest.0.stdout.take().unwrap(),
        guest.0.stdin.take().unwrap(),
        log,
        DFLY_PANIC_PATTERNS,
    );
    run_session(cfg, &mut console, &mut report, verbose);
    guest.stop();
    let text = fs::read_to_string(&stderr_path).unwrap_or_default();
    if !text.trim().is_empty() {
        report.fact("qemu stderr", text.trim().to_string());
    }
    if report.passed() {
        let _ = fs::remove_file(&disk);
    } else {
        report.fact(
            "test disk",
            format!("{} (kept for inspection)", disk.display()),
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A temporary directory, removed when the test is done with it.
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("vmtest-dfly-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    /// A fake repo with an archive, a kmod/ and an image.
    fn fake_repo(tag: &str) -> Scratch {
        let d = scratch(tag);
        fs::create_dir_all(d.join("target/x86_64-dragonfly-kernel/release")).unwrap();
        fs::write(d.join("target").join(ARCHIVE_REL), b"!<arch>\n").unwrap();
        fs::create_dir_all(d.join("kmod/target")).unwrap();
        fs::write(d.join("kmod/Makefile"), b"KMOD=hammer\n").unwrap();
        fs::write(d.join("kmod/glue.c"), b"int x;\n").unwrap();
        fs::write(d.join("kmod/target/junk"), b"big").unwrap();
        fs::write(d.join("dfly.qcow2"), b"QFI").unwrap();
        d
    }

    fn cfg_with(repo: &Path, vars: &[(&str, &str)], kvm: bool) -> Result<DflyConfig, Vec<String>> {
        let mut m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.entry("VMTEST_QEMU".into())
            .or_insert_with(|| "/bin/sh".into());
        let get = move |k: &str| m.get(k).cloned();
        DflyConfig::from_vars(&get, repo, kvm)
    }

    #[test]
    fn missing_image_is_reported_with_everything_else() {
        let repo = scratch("missing");
        let errs = cfg_with(&repo, &[("VMTEST_QEMU", "no-such-qemu-binary")], false).unwrap_err();
        let all = errs.join("\n");
        assert!(all.contains("DFLY_IMAGE is not set"), "{all}");
        assert!(all.contains("no-such-qemu-binary not found"), "{all}");
        assert!(all.contains("make kernel"), "{all}");
        assert!(all.contains("kmod/Makefile is missing"), "{all}");
    }

    #[test]
    fn defaults_and_overrides() {
        let repo = fake_repo("cfg");
        let img = repo.join("dfly.qcow2");
        let c = cfg_with(&repo, &[("DFLY_IMAGE", img.to_str().unwrap())], true).unwrap();
        assert_eq!(c.accel, Accel::Kvm);
        assert_eq!(c.image_format, "qcow2");
        assert_eq!(c.timeout_scale, 1.0);
        assert_eq!(c.guest_disks(), ("/dev/vbd0".into(), "/dev/vbd1".into()));
        assert_eq!(c.bp_big_mb, 3072);
        assert_eq!(c.archive, repo.join("target").join(ARCHIVE_REL));
        let c = cfg_with(
            &repo,
            &[
                ("DFLY_IMAGE", img.to_str().unwrap()),
                ("VMTEST_BOOT_IF", "virtio"),
                ("VMTEST_MEM", "1024"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.accel, Accel::Tcg);
        assert_eq!(c.timeout_scale, 10.0);
        assert_eq!(c.guest_disks(), ("/dev/vbd1".into(), "/dev/vbd2".into()));
        assert_eq!(c.steps()[3].timeout, Duration::from_secs(18000));
        let errs = cfg_with(
            &repo,
            &[
                ("DFLY_IMAGE", img.to_str().unwrap()),
                ("VMTEST_MEM", "lots"),
            ],
            true,
        )
        .unwrap_err();
        assert_eq!(errs, ["VMTEST_MEM=\"lots\" is not a number"]);
    }

    #[test]
    fn plan_order_and_lines() {
        let repo = fake_repo("plan");
        let img = repo.join("dfly.qcow2");
        let c = cfg_with(&repo, &[("DFLY_IMAGE", img.to_str().unwrap())], true).unwrap();
        let steps = c.steps();
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "info",
                "workdir",
                "payload",
                "build",
                "load",
                "newfs",
                "mount",
                "fsx",
                "fsstress",
                "bufpressure",
                "cleanup",
                "snapshot",
                "verify",
                "umount",
                "remount",
                "verify-remount",
                "umount-final",
                "checkmap",
                "unload"
            ]
        );
        for s in &steps {
            assert!(crate::console::valid_step_name(&s.name));
            // Fits a BSD tty's canonical line buffer together with the markers.
            let line = crate::console::step_line("99.x", &s.cmd);
            assert!(
                line.len() + s.name.len() < 255,
                "{} is too long: {}",
                s.name,
                line.len()
            );
            for p in DFLY_PANIC_PATTERNS {
                assert!(!s.cmd.contains(p), "{} would echo {p}", s.name);
            }
        }
        assert!(steps
            .iter()
            .find(|s| s.name == "payload")
            .unwrap()
            .cmd
            .starts_with("tar -xf /dev/vbd0 -C $P"));
        let crit: Vec<&str> = steps
            .iter()
            .filter(|s| s.critical)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            crit,
            [
                "workdir",
                "payload",
                "build",
                "load",
                "newfs",
                "mount",
                "umount",
                "remount",
                "umount-final"
            ]
        );
        assert!(FSX_SH.contains("-c 100000 -l 4194304 -o 262144"));
        assert!(c.env_file().contains("DEV=/dev/vbd1\n"));
    }

    #[test]
    fn payload_contents() {
        let repo = fake_repo("payload");
        let img = repo.join("dfly.qcow2");
        let c = cfg_with(&repo, &[("DFLY_IMAGE", img.to_str().unwrap())], true).unwrap();
        let p = repo.join("payload.img");
        let n = c.build_payload(&p).unwrap();
        assert_eq!(n % (1 << 20), 0);
        assert_eq!(fs::metadata(&p).unwrap().len(), n);
        // Host tar lists it like the guest will.
        let Ok(out) = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&p)
            .output()
        else {
            return;
        };
        let list = String::from_utf8(out.stdout).unwrap();
        for want in [
            "vmtest.env",
            "steps/common.sh",
            "steps/build.sh",
            "steps/checkmap.sh",
            "src/bufpress.c",
            "hammer_io/libhammer_io.a",
            "kmod/Makefile",
            "kmod/glue.c",
        ] {
            assert!(
                list.lines().any(|l| l == want),
                "{want} missing from\n{list}"
            );
        }
        assert!(!list.contains("kmod/target"), "{list}");
    }

    #[test]
    fn scripts_are_valid_sh_and_quiet() {
        let dir = scratch("sh");
        for (name, text) in guest_scripts() {
            let p = dir.join(name);
            fs::write(&p, text).unwrap();
            if let Ok(st) = std::process::Command::new("sh").arg("-n").arg(&p).status() {
                assert!(st.success(), "{name} has a syntax error");
            }
            // What a script echoes must not read as a panic (sed patterns in
            // common.sh are never printed).
            if name != "common.sh" {
                for pat in DFLY_PANIC_PATTERNS {
                    assert!(!text.contains(pat), "{name} contains {pat}");
                }
            }
        }
    }

    #[test]
    fn console_safe_defuses_diagnostics() {
        let dir = scratch("safe");
        let log = dir.join("build.log");
        fs::write(&log, "x.c:10: warning: unused\n   KKASSERT(io->lock.refs > 0);\nstatic assertion failed\npanic: no\n").unwrap();
        let script = format!(
            "P={d}; mkdir -p $P; : > $P/vmtest.env; {common}\nconsole_safe {log}",
            d = dir.display(),
            common = COMMON_SH.replace(". \"$P/vmtest.env\"", ". $P/vmtest.env"),
            log = log.display()
        );
        let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
        else {
            return;
        };
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("KK-ASSERT(io->lock.refs > 0);"), "{text}");
        let pats: Vec<String> = DFLY_PANIC_PATTERNS.iter().map(|s| s.to_string()).collect();
        assert!(
            crate::console::find_panic(text.as_bytes(), &pats).is_none(),
            "{text}"
        );
    }

    #[test]
    fn bufpress_builds_and_catches_corruption() {
        let dir = scratch("bp");
        let src = dir.join("bufpress.c");
        fs::write(&src, BUFPRESS_C).unwrap();
        let bin = dir.join("bufpress");
        let Ok(st) = std::process::Command::new("cc")
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
        else {
            eprintln!("no cc; skipped");
            return;
        };
        assert!(st.success());
        let run = |args: &[&str]| {
            std::process::Command::new(&bin)
                .args(args)
                .current_dir(&*dir)
                .output()
                .unwrap()
        };
        assert!(run(&["write", "d", "600", "8192"]).status.success());
        assert!(run(&["verify", "d", "600", "8192"]).status.success());
        assert!(run(&["big", "big", "3"]).status.success());
        assert!(run(&["verifybig", "big", "3"]).status.success());
        // Flip one byte of a kept, rewritten file (3 % 7 == 3).
        let f = dir.join("d/d000/f000003");
        let mut data = fs::read(&f).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        fs::write(&f, &data).unwrap();
        let out = run(&["verify", "d", "600", "8192"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("f000003 differs at offset"));
        // A removed file (0 % 13 == 0) must stay removed.
        assert!(!dir.join("d/d000/f000000").exists());
    }
}
