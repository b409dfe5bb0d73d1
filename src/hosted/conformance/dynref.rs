//! A C implementation of hammer_io.c chosen at run time: the file is
//! compiled into a shared object (its 37 exports renamed `alt_*`) and
//! loaded with dlopen; its imports (the hosted kernel and HAMMER
//! neighbours) resolve against the conformance executable, which must
//! export them dynamically (`-Wl,--export-dynamic`).
//!
//! This is how `HAMMER_IO_REFERENCE` (e.g. a DragonFly machine's
//! /usr/src/sys/vfs/hammer/hammer_io.c) and the self-test's deliberately
//! altered copy of the reference are run without rebuilding the crate.

use std::{format};
use core::ffi::{c_char, c_int, c_void, CStr};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::hosted::hammer::ioimpl::IoImpl;

/// The 37 exports (io-exports.txt), renamed `alt_<name>` in the object.
pub const EXPORTS: [&str; 37] = [
    "hammer_bioops",
    "hammer_io_advance",
    "hammer_io_clear_error",
    "hammer_io_clear_error_noassert",
    "hammer_io_clear_modify",
    "hammer_io_clear_modlist",
    "hammer_io_direct_read",
    "hammer_io_direct_uncache",
    "hammer_io_direct_wait",
    "hammer_io_direct_write",
    "hammer_io_done_interlock",
    "hammer_io_flush",
    "hammer_io_flush_sync",
    "hammer_io_indirect_read",
    "hammer_io_init",
    "hammer_io_inval",
    "hammer_io_limit_backlog",
    "hammer_io_new",
    "hammer_io_notmeta",
    "hammer_io_read",
    "hammer_io_release",
    "hammer_io_wait",
    "hammer_io_wait_all",
    "hammer_io_write_interlock",
    "hammer_mod_rb_tree_RB_FIND",
    "hammer_mod_rb_tree_RB_INSERT",
    "hammer_mod_rb_tree_RB_INSERT_COLOR",
    "hammer_mod_rb_tree_RB_MINMAX",
    "hammer_mod_rb_tree_RB_NEXT",
    "hammer_mod_rb_tree_RB_PREV",
    "hammer_mod_rb_tree_RB_REMOVE",
    "hammer_mod_rb_tree_RB_REMOVE_COLOR",
    "hammer_mod_rb_tree_RB_SCAN",
    "hammer_modify_buffer",
    "hammer_modify_buffer_done",
    "hammer_modify_volume",
    "hammer_modify_volume_done",
];

/// Prefix of the renamed exports. Not `ref_`: the executable exports its
/// own statically linked `ref_*` symbols, and a same-named symbol would
/// interpose the object's internal references (its `&hammer_bioops`
/// would become the static reference's table).
pub const PREFIX: &str = "alt_";

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

/// The hosted headers the C file is compiled against.
pub fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bindings/hosted")
}

/// The command line that builds `src` into `out` (shown in errors).
pub fn cc_command(src: &Path, out: &Path) -> Command {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut c = Command::new(cc);
    c.args([
        "-shared",
        "-fPIC",
        "-O1",
        "-nostdinc",
        "-ffreestanding",
        "-fexceptions",
        "-Wall",
        "-Werror",
        // Internal references stay inside the object.
        "-Wl,-Bsymbolic",
    ]);
    c.arg(format!("-I{}", include_dir().display()));
    for e in EXPORTS {
        c.arg(format!("-D{e}={PREFIX}{e}"));
    }
    c.arg("-o").arg(out).arg(src);
    c
}

/// Compiles `src` into a shared object in `dir` (named after the source's
/// content hash, so an unchanged file is not rebuilt) and returns its path.
pub fn build(src: &Path, dir: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.iter().chain(include_dir().to_string_lossy().as_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let out = dir.join(format!("hammer_io_{h:016x}.so"));
    if out.is_file() {
        return Ok(out);
    }
    let tmp = dir.join(format!("hammer_io_{h:016x}.{}.tmp.so", std::process::id()));
    let mut cmd = cc_command(src, &tmp);
    let o = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "compiling {} failed ({cmd:?}):\n{}{}",
            src.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    Ok(out)
}

fn last_dlerror() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message.
    unsafe {
        let e = dlerror();
        if e.is_null() {
            "unknown dl error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// Loads a shared object built by [`build`] and returns its table.
pub fn load(so: &Path) -> Result<IoImpl, String> {
    let p = CString::new(so.to_string_lossy().as_bytes()).map_err(|_| "NUL in path".to_string())?;
    // SAFETY: dlopen/dlsym with valid NUL-terminated strings; the object
    // is never unloaded, so the addresses stay valid.
    unsafe {
        let h = dlopen(p.as_ptr(), RTLD_NOW | RTLD_LOCAL);
        if h.is_null() {
            return Err(format!(
                "dlopen {}: {} (is the executable linked with -Wl,--export-dynamic?)",
                so.display(),
                last_dlerror()
            ));
        }
        let mut syms: Vec<*mut c_void> = Vec::with_capacity(EXPORTS.len());
        for e in EXPORTS {
            let n = CString::new(format!("{PREFIX}{e}")).expect("no NUL");
            let s = dlsym(h, n.as_ptr());
            if s.is_null() {
                return Err(format!("{}: symbol {PREFIX}{e} missing: {}", so.display(), last_dlerror()));
            }
            syms.push(s);
        }
        let get = |name: &str| -> *mut c_void { syms[EXPORTS.iter().position(|e| *e == name).expect("known export")] };
        macro_rules! f {
            ($name:literal) => {
                core::mem::transmute::<*mut c_void, _>(get($name))
            };
        }
        Ok(IoImpl {
            name: "c-dynamic",
            init: f!("hammer_io_init"),
            read: f!("hammer_io_read"),
            advance: f!("hammer_io_advance"),
            new: f!("hammer_io_new"),
            inval: f!("hammer_io_inval"),
            release: f!("hammer_io_release"),
            flush: f!("hammer_io_flush"),
            wait: f!("hammer_io_wait"),
            wait_all: f!("hammer_io_wait_all"),
            direct_read: f!("hammer_io_direct_read"),
            indirect_read: f!("hammer_io_indirect_read"),
            direct_write: f!("hammer_io_direct_write"),
            direct_wait: f!("hammer_io_direct_wait"),
            direct_uncache: f!("hammer_io_direct_uncache"),
            write_interlock: f!("hammer_io_write_interlock"),
            done_interlock: f!("hammer_io_done_interlock"),
            clear_modify: f!("hammer_io_clear_modify"),
            clear_modlist: f!("hammer_io_clear_modlist"),
            flush_sync: f!("hammer_io_flush_sync"),
            clear_error: f!("hammer_io_clear_error"),
            clear_error_noassert: f!("hammer_io_clear_error_noassert"),
            notmeta: f!("hammer_io_notmeta"),
            limit_backlog: f!("hammer_io_limit_backlog"),
            modify_volume: f!("hammer_modify_volume"),
            modify_buffer: f!("hammer_modify_buffer"),
            modify_volume_done: f!("hammer_modify_volume_done"),
            modify_buffer_done: f!("hammer_modify_buffer_done"),
            bioops: get("hammer_bioops").cast(),
            mod_insert_color: f!("hammer_mod_rb_tree_RB_INSERT_COLOR"),
            mod_remove_color: f!("hammer_mod_rb_tree_RB_REMOVE_COLOR"),
            mod_remove: f!("hammer_mod_rb_tree_RB_REMOVE"),
            mod_insert: f!("hammer_mod_rb_tree_RB_INSERT"),
            mod_find: f!("hammer_mod_rb_tree_RB_FIND"),
            mod_scan: f!("hammer_mod_rb_tree_RB_SCAN"),
            mod_next: f!("hammer_mod_rb_tree_RB_NEXT"),
            mod_prev: f!("hammer_mod_rb_tree_RB_PREV"),
            mod_minmax: f!("hammer_mod_rb_tree_RB_MINMAX"),
        })
    }
}
