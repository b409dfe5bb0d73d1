//! Build script: generates the C bindings and, for the hosted build, compiles
//! the hosted environment's C shims and the reference `hammer_io.c`.
//!
//! Two header sources:
//! - hosted (default): our own headers under `bindings/hosted/`, which model
//!   the DragonFly kernel API subset that `hammer_io.c` uses;
//! - kernel (env `SYSDIR` = a DragonFly `sys/` tree): the real kernel
//!   headers, with the flags a DragonFly kernel module is compiled with.
//!
//! Both produce `$OUT_DIR/bindings.rs` with the same allowlist, so the port
//! compiles against either without changes.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use bindgen::callbacks::{IntKind, ParseCallbacks};

// IO_EXPORTS (37) and IO_IMPORTS (76): the symbol lists of hammer_io.o.
include!("bindings/symbols.rs");

/// Types the port (and the hosted environment) name directly.  Anything
/// they reference is pulled in by bindgen on its own.
const TYPES: &[&str] = &[
    "buf",
    "bio",
    "bio_ops",
    "biodone_t",
    "buf_cmd_t",
    "workhead",
    "worklist",
    "lwkt_token",
    "lwkt_token_t",
    "lock",
    "spinlock",
    "vnode",
    "hammer_io",
    "hammer_io_t",
    "hammer_io_type",
    "hammer_io_type_t",
    "hammer_io_structure",
    "hammer_io_structure_t",
    "hammer_lock",
    "hammer_volume",
    "hammer_volume_t",
    "hammer_buffer",
    "hammer_buffer_t",
    "hammer_node",
    "hammer_node_t",
    "hammer_node_ondisk",
    "hammer_node_ondisk_t",
    "hammer_mount",
    "hammer_mount_t",
    "hammer_record",
    "hammer_record_t",
    "hammer_inode",
    "hammer_inode_t",
    "hammer_inode_info",
    "hammer_inode_info_t",
    "hammer_btree_leaf_elm",
    "hammer_btree_leaf_elm_t",
    "hammer_base_elm",
    "hammer_volume_ondisk",
    "hammer_transaction",
    "hammer_transaction_t",
    "hammer_mod_rb_tree",
    "hammer_mod_rb_tree_scan_info",
    "hammer_vol_rb_tree",
    "hammer_off_t",
    "hammer_tid_t",
    "hammer_crc_t",
];

/// `#define` constants, as regular expressions over the macro name.
const CONSTANTS: &[&str] = &[
    "B_[A-Z0-9_]+",
    "BIO_[A-Z]+",
    "FINDBLK_[A-Z]+",
    "GETBLK_[A-Z]+",
    "NOOFFSET",
    "NBUF_BIO",
    "MAXBSIZE",
    "PCATCH",
    "PINTERLOCKED",
    "ACT_(DECLINE|ADVANCE|INIT|MAX)",
    "E(PERM|NOENT|INTR|IO|NXIO|NOMEM|BUSY|EXIST|INVAL|NOSPC|ROFS|AGAIN|WOULDBLOCK|DOM|OPNOTSUPP|TIMEDOUT)",
    "HAMMER_[A-Z0-9_]+",
];

/// Gives each macro constant the Rust type of the C field or parameter it
/// is used with, so the port needs no casts at the use sites.  The choice
/// depends only on the name, so hosted and kernel bindings agree.
#[derive(Debug)]
struct MacroTypes;

impl ParseCallbacks for MacroTypes {
    fn int_macro(&self, name: &str, value: i64) -> Option<IntKind> {
        const USIZE: IntKind = IntKind::Custom {
            name: "usize",
            is_signed: false,
        };
        let starts = |p: &str| name.starts_with(p);
        // First match wins; the comment says which C type is being matched.
        let rules: [(bool, IntKind); 8] = [
            // compared with HAMMER_ZONE_DECODE(), an int32_t
            (
                starts("HAMMER_ZONE_") && name.ends_with("_INDEX"),
                IntKind::I32,
            ),
            // hammer_off_t arithmetic
            (
                starts("HAMMER_OFF_")
                    || starts("HAMMER_ZONE_")
                    || starts("HAMMER_FSBUF_")
                    || name.ends_with("MASK64")
                    || name.ends_with("SIZE64")
                    || name == "HAMMER_RECOVERY_BND",
                IntKind::U64,
            ),
            // b_flags (u_int32_t), hammer_lock refs/lockval (u_int),
            // localization (u_int32_t), node signature (u_int32_t)
            (
                starts("B_")
                    || starts("HAMMER_REFS_")
                    || starts("HAMMER_LOCKF_")
                    || starts("HAMMER_LOCALIZE_")
                    || starts("HAMMER_BTREE_SIGNATURE_"),
                IntKind::U32,
            ),
            // rec_type is u_int16_t
            (starts("HAMMER_RECTYPE_"), IntKind::U16),
            // btype / node type (u_int8_t), b_act_count (unsigned char)
            (starts("HAMMER_BTREE_TYPE_") || starts("ACT_"), IntKind::U8),
            // a sizeof, an array length
            (name == "HAMMER_BTREE_CRCSIZE" || name == "NBUF_BIO", USIZE),
            // off_t
            (name == "NOOFFSET", IntKind::I64),
            // int fields and int parameters (wider HAMMER_* values, such as
            // 64-bit keys, keep bindgen's own choice)
            (
                i32::try_from(value).is_ok()
                    && (starts("BIO_")
                        || starts("FINDBLK_")
                        || starts("GETBLK_")
                        || starts("HAMMER_")
                        || starts("E")
                        || name == "PCATCH"
                        || name == "PINTERLOCKED"
                        || name == "MAXBSIZE"),
                IntKind::I32,
            ),
        ];
        rules
            .into_iter()
            .find(|(hit, _)| *hit)
            .map(|(_, kind)| kind)
    }
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    println!("cargo::rustc-check-cfg=cfg(hammer_kernel_headers)");
    println!("cargo::rustc-check-cfg=cfg(hammer_reference)");
    // The Rust port is always part of the crate; the cfg lets hosted code
    // that can also run without it (the C reference alone) say so.
    println!("cargo::rustc-check-cfg=cfg(hammer_port)");
    println!("cargo:rustc-cfg=hammer_port");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=bindings/symbols.rs");
    println!("cargo:rerun-if-env-changed=SYSDIR");
    println!("cargo:rerun-if-env-changed=HAMMER_IO_REFERENCE");

    check_symbol_lists(&manifest);

    let sysdir = env::var_os("SYSDIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);

    let target = env::var("TARGET").unwrap_or_default();
    if sysdir.is_none() && target.contains("dragonfly") {
        println!(
            "cargo:warning=building for {target} WITHOUT SYSDIR: the bindings come from the \
             hosted headers, whose struct layouts are NOT the kernel's (struct buf lacks b_xio, \
             hammer_mount lacks fields...). A module built this way must not be loaded; set \
             SYSDIR to a DragonFly sys/ tree (e.g. /usr/src/sys)"
        );
    }

    let builder = match &sysdir {
        Some(sysdir) => kernel_builder(&manifest, &out, sysdir),
        None => hosted_builder(&manifest),
    };
    let bindings = configure(builder, &out)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed: {e}"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs");

    if env::var_os("CARGO_FEATURE_HOSTED").is_some() {
        if sysdir.is_some() {
            println!(
                "cargo:warning=SYSDIR is set together with feature `hosted`: the hosted \
                 environment and the reference are built against bindings/hosted, the \
                 Rust bindings against the kernel headers"
            );
        }
        emit_rerun_for_dir(&manifest.join("bindings/hosted"));
        build_hosted_shims(&manifest);
        build_reference(&manifest);
    }
}

/// The symbol lists compiled in (bindings/symbols.rs) must be the ones of
/// the reference (io-exports.txt, io-imports.txt) when those are present.
fn check_symbol_lists(manifest: &Path) {
    let dir = manifest.join("../shared/reference");
    for (file, ours) in [
        ("io-exports.txt", &IO_EXPORTS[..]),
        ("io-imports.txt", &IO_IMPORTS[..]),
    ] {
        let path = dir.join(file);
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", path.display());
        let mut theirs: Vec<&str> = text.split_whitespace().collect();
        let mut ours: Vec<&str> = ours.to_vec();
        theirs.sort_unstable();
        ours.sort_unstable();
        assert!(
            theirs == ours,
            "bindings/symbols.rs disagrees with {}: update the list",
            path.display()
        );
    }
}

/// Options shared by both header sources.
fn configure(mut b: bindgen::Builder, out: &Path) -> bindgen::Builder {
    b = b
        .use_core()
        .ctypes_prefix("core::ffi")
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .generate_comments(false)
        .clang_macro_fallback()
        .clang_macro_fallback_build_dir(out.join("macro-fallback"))
        .parse_callbacks(Box::new(MacroTypes))
        .merge_extern_blocks(true)
        .sort_semantically(true);
    // In the hosted environment a kernel panic() unwinds, so tests can
    // observe a KKASSERT, and it may pass through any C function (the port's
    // and the reference's frames alike): every function and function pointer
    // gets the "C-unwind" ABI there (same calling convention as "C"). The
    // kernel build keeps the plain C ABI: under panic=abort a C-unwind callee
    // gives its callers abort landing pads and an import of
    // rust_eh_personality that the kernel linker cannot resolve.
    if env::var_os("CARGO_FEATURE_HOSTED").is_some() {
        b = b.override_abi(bindgen::Abi::CUnwind, ".*");
    }
    fs::create_dir_all(out.join("macro-fallback")).expect("creating macro-fallback dir");
    for f in IO_EXPORTS.iter().chain(IO_IMPORTS.iter()) {
        b = b
            .allowlist_function(format!("^{f}$"))
            .allowlist_var(format!("^{f}$"));
    }
    for t in TYPES {
        b = b.allowlist_type(format!("^{t}$"));
    }
    for c in CONSTANTS {
        b = b.allowlist_var(format!("^{c}$"));
    }
    // Enumerators of the enums the port switches on.
    b = b
        .allowlist_var("^BUF_CMD_[A-Z]+$")
        .allowlist_var("^HAMMER_STRUCTURE_[A-Z_]+$");
    b
}

fn hosted_builder(manifest: &Path) -> bindgen::Builder {
    let inc = manifest.join("bindings/hosted");
    emit_rerun_for_dir(&inc);
    bindgen::Builder::default()
        .header(inc.join("wrapper.h").display().to_string())
        .detect_include_paths(false)
        .clang_arg("-nostdinc")
        .clang_arg(format!("-I{}", inc.display()))
}

/// The flags `bsd.kmod.mk` / `kmod.mk` give a DragonFly kernel module, with
/// the `machine`, `machine_base`, `cpu`, `cpu_base` links and the
/// `machine/` forwarding headers it generates recreated under OUT_DIR.
fn kernel_builder(manifest: &Path, out: &Path, sysdir: &Path) -> bindgen::Builder {
    let required = [
        "kern",
        "sys/buf.h",
        "sys/buf2.h",
        "sys/tree.h",
        "vfs/hammer/hammer.h",
        "platform/pc64/include",
        "cpu/x86_64/include",
    ];
    for r in required {
        if !sysdir.join(r).exists() {
            panic!(
                "SYSDIR={} is not a DragonFly BSD `sys` source tree ({} is missing); \
                 point SYSDIR at e.g. /usr/src/sys, or unset it for the hosted headers",
                sysdir.display(),
                r
            );
        }
    }
    let sysdir = sysdir.canonicalize().expect("canonicalizing SYSDIR");
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("bindings/kernel/wrapper.h").display()
    );
    for h in [
        "sys/buf.h",
        "sys/buf2.h",
        "sys/bio.h",
        "sys/tree.h",
        "sys/queue.h",
        "sys/thread.h",
        "sys/lock.h",
        "sys/mount.h",
        "sys/vnode.h",
        "sys/systm.h",
        "vfs/hammer/hammer.h",
        "vfs/hammer/hammer_disk.h",
        "vfs/hammer/hammer_btree.h",
    ] {
        println!("cargo:rerun-if-changed={}", sysdir.join(h).display());
    }

    // Objdir-style include links (kmod.mk `_ILINKS`).
    let links = out.join("kinc");
    let _ = fs::remove_dir_all(&links);
    fs::create_dir_all(&links).expect("creating kinc");
    let link = |name: &str, target: PathBuf| {
        std::os::unix::fs::symlink(&target, links.join(name))
            .unwrap_or_else(|e| panic!("symlink {name} -> {}: {e}", target.display()));
    };
    link("@", sysdir.clone());
    link("machine", sysdir.join("platform/pc64/include"));
    link("machine_base", sysdir.join("platform/pc64"));
    link("cpu", sysdir.join("cpu/x86_64/include"));
    link("cpu_base", sysdir.join("cpu/x86_64"));
    // Module-build option headers the sources may include; empty = defaults.
    fs::write(links.join("opt_ktr.h"), "").expect("writing opt_ktr.h");
    // Without the userland tree next to SYSDIR (`@/../include`), stand in
    // for the one libc header the kernel headers pull in, <stdint.h>: the
    // C99 names over the kernel's own __intN_t types.
    if !sysdir.join("../include/stdint.h").is_file() {
        let mut h = String::from(
            "#ifndef _STDINT_H_\n#define _STDINT_H_\n#include <sys/cdefs.h>\n\
             #include <machine/stdint.h>\n",
        );
        for w in ["8", "16", "32", "64"] {
            for (u, p) in [("", ""), ("u", "u")] {
                h += &format!("typedef __{p}int{w}_t {u}int{w}_t;\n");
                h += &format!("typedef __{p}int_least{w}_t {u}int_least{w}_t;\n");
                h += &format!("typedef __{p}int_fast{w}_t {u}int_fast{w}_t;\n");
            }
        }
        h += "typedef __intptr_t intptr_t;\ntypedef __uintptr_t uintptr_t;\n\
              typedef __intmax_t intmax_t;\ntypedef __uintmax_t uintmax_t;\n\
              #include <sys/stdint.h>\n#endif\n";
        fs::write(links.join("stdint.h"), h).expect("writing stdint.h");
    }

    // Forwarding headers (kern.fwd.mk): <machine/X.h> for every cpu header
    // the platform does not provide, and a few <X.h> that live in sys/.
    let fwd = out.join("kfwd/include");
    let _ = fs::remove_dir_all(out.join("kfwd"));
    fs::create_dir_all(fwd.join("machine")).expect("creating kfwd");
    let cpu_inc = sysdir.join("cpu/x86_64/include");
    for e in fs::read_dir(&cpu_inc).expect("reading cpu include dir") {
        let name = e.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".h") {
            continue;
        }
        let guard = format!("_MACHINE_{}_", name.replace('.', "_").to_uppercase());
        fs::write(
            fwd.join("machine").join(&*name),
            format!("#ifndef {guard}\n#define {guard}\n#include <cpu/{name}>\n#endif\n"),
        )
        .expect("writing forwarding header");
    }
    for name in [
        "aio.h",
        "errno.h",
        "fcntl.h",
        "linker_set.h",
        "poll.h",
        "syslog.h",
        "termios.h",
        "ucontext.h",
    ] {
        let guard = format!("_{}_", name.replace('.', "_").to_uppercase());
        fs::write(
            fwd.join(name),
            format!("#ifndef {guard}\n#define {guard}\n#include <sys/{name}>\n#endif\n"),
        )
        .expect("writing forwarding header");
    }

    let mut b = bindgen::Builder::default()
        .header(
            manifest
                .join("bindings/kernel/wrapper.h")
                .display()
                .to_string(),
        )
        .detect_include_paths(false)
        .clang_args([
            "--target=x86_64-unknown-dragonfly",
            "-nostdinc",
            "-ffreestanding",
            "-D_KERNEL",
            "-DKLD_MODULE",
            "-DINVARIANTS",
            "-std=c99",
        ])
        .clang_arg(format!("-I{}", links.display()))
        .clang_arg(format!("-I{}", links.join("@").display()))
        .clang_arg(format!("-I{}", fwd.display()));
    let userinc = sysdir.join("../include");
    if userinc.is_dir() {
        b = b.clang_arg(format!("-I{}", userinc.display()));
    }
    println!("cargo:rustc-cfg=hammer_kernel_headers");
    b
}

fn emit_rerun_for_dir(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            emit_rerun_for_dir(&p);
        } else {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

fn collect_c_files(dir: &Path, acc: &mut BTreeSet<PathBuf>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_c_files(&p, acc);
        } else if p.extension().is_some_and(|x| x == "c" || x == "h") {
            println!("cargo:rerun-if-changed={}", p.display());
            if p.extension().is_some_and(|x| x == "c") {
                acc.insert(p);
            }
        }
    }
}

/// C parts of the hosted environment (variadic kprintf/panic forwarders and
/// the like) under src/hosted.  They see our hosted headers first and may
/// still include the compiler's and libc's own headers.
fn build_hosted_shims(manifest: &Path) {
    let dir = manifest.join("src/hosted");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = BTreeSet::new();
    collect_c_files(&dir, &mut files);
    if files.is_empty() {
        return;
    }
    cc::Build::new()
        .files(&files)
        .include(manifest.join("bindings/hosted"))
        .flag("-fexceptions")
        .warnings(true)
        .extra_warnings(false)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("hammer_hosted_shims");
}

/// The original hammer_io.c, compiled unmodified against bindings/hosted
/// with its 37 exports renamed to ref_*, so tests can run it side by side
/// with the port.
fn build_reference(manifest: &Path) {
    let path = env::var_os("HAMMER_IO_REFERENCE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../shared/reference/hammer_io.c"));
    println!("cargo:rerun-if-changed={}", path.display());
    if !path.is_file() {
        println!(
            "cargo:warning=REFERENCE hammer_io.c NOT FOUND at {} (set HAMMER_IO_REFERENCE): \
             the C-vs-Rust conformance tests will be SKIPPED",
            path.display()
        );
        return;
    }
    let mut build = cc::Build::new();
    build
        .file(&path)
        .include(manifest.join("bindings/hosted"))
        .flag("-nostdinc")
        // Like the kernel: no builtin memmove/memset in place of bcopy/bzero,
        // so the object imports exactly the kernel symbols.
        .flag("-ffreestanding")
        .flag("-fexceptions")
        .flag("-Wall")
        .flag("-Werror")
        .warnings(false);
    for sym in IO_EXPORTS {
        build.define(sym, Some(format!("ref_{sym}").as_str()));
    }
    build.compile("hammer_io_reference");
    println!("cargo:rustc-cfg=hammer_reference");
}
