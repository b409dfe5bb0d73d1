//! A C implementation of hammer_io.c chosen at run time: the file is
//! compiled into a shared object (its 37 exports renamed `alt_*`) and
//! loaded with dlopen.
//!
//! The object's imports (the hosted kernel and HAMMER neighbours) must
//! reach this executable's definitions. Rather than depending on the
//! executable exporting them dynamically (`-Wl,--export-dynamic`), the
//! imports are renamed too at compile time: each function import `f`
//! becomes a call to `alt_fn_f`, a jump through a table in the object
//! that this module fills with the executable's addresses after loading;
//! each data import `d` becomes `(*alt_data_d)`, a pointer filled the same
//! way. (x86-64: the jump stubs are a few lines of assembly.)
//!
//! This is how `HAMMER_IO_REFERENCE` (e.g. a DragonFly machine's
//! /usr/src/sys/vfs/hammer/hammer_io.c) and the self-test's deliberately
//! altered copy of the reference are run without rebuilding the crate.

use core::ffi::{c_char, c_int, c_void, CStr};
use std::ffi::CString;
use std::format;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::hosted::hammer::ioimpl::{self, IoImpl};
use crate::sys::ffi;

/// The 37 exports (io-exports.txt), renamed `alt_<name>` in the object.
pub const EXPORTS: [&str; 37] = symbols::IO_EXPORTS;

mod symbols {
    #![allow(dead_code)]
    include!("../../../bindings/symbols.rs");
}

/// Data imports (io-imports.txt): each becomes `(*alt_data_<name>)`.
pub const DATA_IMPORTS: [&str; 11] = [
    "hammer_cluster_enable",
    "hammer_count_dirtybufspace",
    "hammer_count_io_locked",
    "hammer_count_io_running_read",
    "hammer_count_io_running_write",
    "hammer_debug_io",
    "hammer_stats_disk_read",
    "hammer_stats_disk_write",
    "hammer_verify_data",
    "hz",
    "panicstr",
];

/// Function imports: every other name of io-imports.txt (the list in
/// bindings/symbols.rs). Each becomes `alt_fn_<name>`, a jump through slot
/// i of the object's import table.
pub fn fn_imports() -> impl Iterator<Item = &'static str> {
    symbols::IO_IMPORTS
        .into_iter()
        .filter(|n| !DATA_IMPORTS.contains(n))
}

/// The executable's address of every import, by name.
fn import_address(name: &str) -> Option<usize> {
    let a = {
        match name {
            "hammer_cluster_enable" => core::ptr::addr_of!(ffi::hammer_cluster_enable) as usize,
            "hammer_count_dirtybufspace" => {
                core::ptr::addr_of!(ffi::hammer_count_dirtybufspace) as usize
            }
            "hammer_count_io_locked" => core::ptr::addr_of!(ffi::hammer_count_io_locked) as usize,
            "hammer_count_io_running_read" => {
                core::ptr::addr_of!(ffi::hammer_count_io_running_read) as usize
            }
            "hammer_count_io_running_write" => {
                core::ptr::addr_of!(ffi::hammer_count_io_running_write) as usize
            }
            "hammer_debug_io" => core::ptr::addr_of!(ffi::hammer_debug_io) as usize,
            "hammer_stats_disk_read" => core::ptr::addr_of!(ffi::hammer_stats_disk_read) as usize,
            "hammer_stats_disk_write" => core::ptr::addr_of!(ffi::hammer_stats_disk_write) as usize,
            "hammer_verify_data" => core::ptr::addr_of!(ffi::hammer_verify_data) as usize,
            "hz" => core::ptr::addr_of!(ffi::hz) as usize,
            "panicstr" => core::ptr::addr_of!(ffi::panicstr) as usize,
            "atomic_add_int" => ffi::atomic_add_int as *const () as usize,
            "atomic_add_long" => ffi::atomic_add_long as *const () as usize,
            "atomic_clear_int" => ffi::atomic_clear_int as *const () as usize,
            "atomic_set_int" => ffi::atomic_set_int as *const () as usize,
            "bcopy" => ffi::bcopy as *const () as usize,
            "bdwrite" => ffi::bdwrite as *const () as usize,
            "biodone" => ffi::biodone as *const () as usize,
            "biodone_sync" => ffi::biodone_sync as *const () as usize,
            "biowait" => ffi::biowait as *const () as usize,
            "bpdone" => ffi::bpdone as *const () as usize,
            "bqrelse" => ffi::bqrelse as *const () as usize,
            "breadcb" => ffi::breadcb as *const () as usize,
            "breadnx" => ffi::breadnx as *const () as usize,
            "brelse" => ffi::brelse as *const () as usize,
            "bremfree" => ffi::bremfree as *const () as usize,
            "bundirty" => ffi::bundirty as *const () as usize,
            "bzero" => ffi::bzero as *const () as usize,
            "cluster_awrite" => ffi::cluster_awrite as *const () as usize,
            "cluster_readx" => ffi::cluster_readx as *const () as usize,
            "crc32" => ffi::crc32 as *const () as usize,
            "findblk" => ffi::findblk as *const () as usize,
            "getblk" => ffi::getblk as *const () as usize,
            "getpbuf" => ffi::getpbuf as *const () as usize,
            "hammer_blockmap_lookup" => ffi::hammer_blockmap_lookup as *const () as usize,
            "hammer_bread" => ffi::hammer_bread as *const () as usize,
            "hammer_critical_error" => ffi::hammer_critical_error as *const () as usize,
            "hammer_del_buffers" => ffi::hammer_del_buffers as *const () as usize,
            "hammer_generate_undo" => ffi::hammer_generate_undo as *const () as usize,
            "hammer_get_vnode" => ffi::hammer_get_vnode as *const () as usize,
            "hammer_get_volume" => ffi::hammer_get_volume as *const () as usize,
            "hammer_ip_replace_bulk" => ffi::hammer_ip_replace_bulk as *const () as usize,
            "hammer_lock_ex_ident" => ffi::hammer_lock_ex_ident as *const () as usize,
            "hammer_put_interlock" => ffi::hammer_put_interlock as *const () as usize,
            "hammer_ref" => ffi::hammer_ref as *const () as usize,
            "hammer_rel" => ffi::hammer_rel as *const () as usize,
            "hammer_rel_buffer" => ffi::hammer_rel_buffer as *const () as usize,
            "hammer_rel_inode" => ffi::hammer_rel_inode as *const () as usize,
            "hammer_rel_mem_record" => ffi::hammer_rel_mem_record as *const () as usize,
            "hammer_rel_node" => ffi::hammer_rel_node as *const () as usize,
            "hammer_rel_volume" => ffi::hammer_rel_volume as *const () as usize,
            "hammer_scan_inode_snapshots" => ffi::hammer_scan_inode_snapshots as *const () as usize,
            "hammer_sync_buffers" => ffi::hammer_sync_buffers as *const () as usize,
            "hammer_try_interlock_norefs" => ffi::hammer_try_interlock_norefs as *const () as usize,
            "hammer_undo_reclaim" => ffi::hammer_undo_reclaim as *const () as usize,
            "hammer_unlock" => ffi::hammer_unlock as *const () as usize,
            "hammer_vol_rb_tree_RB_MINMAX" => {
                ffi::hammer_vol_rb_tree_RB_MINMAX as *const () as usize
            }
            "hammer_vol_rb_tree_RB_NEXT" => ffi::hammer_vol_rb_tree_RB_NEXT as *const () as usize,
            "kprintf" => ffi::kprintf as *const () as usize,
            "lockmgr_kernproc" => ffi::lockmgr_kernproc as *const () as usize,
            "lwkt_gettoken" => ffi::lwkt_gettoken as *const () as usize,
            "lwkt_reltoken" => ffi::lwkt_reltoken as *const () as usize,
            "panic" => ffi::panic as *const () as usize,
            "pop_bio" => ffi::pop_bio as *const () as usize,
            "push_bio" => ffi::push_bio as *const () as usize,
            "rb_spin_lock" => ffi::rb_spin_lock as *const () as usize,
            "rb_spin_unlock" => ffi::rb_spin_unlock as *const () as usize,
            "regetblk" => ffi::regetblk as *const () as usize,
            "relpbuf" => ffi::relpbuf as *const () as usize,
            "tsleep" => ffi::tsleep as *const () as usize,
            "tsleep_interlock" => ffi::tsleep_interlock as *const () as usize,
            "vfs_bio_clrbuf" => ffi::vfs_bio_clrbuf as *const () as usize,
            "vn_strategy" => ffi::vn_strategy as *const () as usize,
            "vput" => ffi::vput as *const () as usize,
            "waitrunningbufspace" => ffi::waitrunningbufspace as *const () as usize,
            "wakeup" => ffi::wakeup as *const () as usize,
            _ => return None,
        }
    };
    Some(a)
}

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

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// The command that compiles `src` into the object `out`, with the
/// exports and imports renamed.
pub fn cc_command(src: &Path, out: &Path) -> Command {
    let mut c = Command::new(cc());
    c.args([
        "-c",
        "-fPIC",
        "-O1",
        "-nostdinc",
        "-ffreestanding",
        "-fexceptions",
        "-Wall",
        "-Werror",
    ]);
    c.arg(format!("-I{}", include_dir().display()));
    for e in EXPORTS {
        c.arg(format!("-D{e}={PREFIX}{e}"));
    }
    for f in fn_imports() {
        c.arg(format!("-D{f}=alt_fn_{f}"));
    }
    for d in DATA_IMPORTS {
        c.arg(format!("-D{d}=(*alt_data_{d})"));
    }
    c.arg("-o").arg(out).arg(src);
    c
}

/// The import table and jump stubs (x86-64 assembly). Stubs are weak so
/// that an import the C file defines itself (an inline) wins.
fn stubs_asm() -> String {
    let mut a = String::from("\t.text\n");
    for (i, f) in fn_imports().enumerate() {
        a.push_str(&format!(
            "\t.weak alt_fn_{f}\n\t.type alt_fn_{f},@function\nalt_fn_{f}:\n\tjmp *alt_fn_tab+{}(%rip)\n",
            i * 8
        ));
    }
    a.push_str("\t.data\n\t.p2align 3\n\t.hidden alt_fn_tab\nalt_fn_tab:\n");
    a.push_str(&format!("\t.zero {}\n", fn_imports().count() * 8));
    a.push_str("\t.globl alt_import_table\n\t.set alt_import_table, alt_fn_tab\n");
    for d in DATA_IMPORTS {
        a.push_str(&format!(
            "\t.weak alt_data_{d}\n\t.p2align 3\nalt_data_{d}:\n\t.quad 0\n"
        ));
    }
    a.push_str("\t.section .note.GNU-stack,\"\",@progbits\n");
    a
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let o = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({cmd:?}):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Compiles `src` into a shared object in `dir` (named after the source's
/// content hash, so an unchanged file is not rebuilt) and returns its path.
pub fn build(src: &Path, dir: &Path) -> Result<PathBuf, String> {
    if !cfg!(target_arch = "x86_64") {
        return Err(
            "loading a C implementation at run time needs x86-64 (the import stubs)".into(),
        );
    }
    let text = std::fs::read(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text
        .iter()
        .chain(include_dir().to_string_lossy().as_bytes())
        .chain(stubs_asm().as_bytes())
    {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let out = dir.join(format!("hammer_io_{h:016x}.so"));
    if out.is_file() {
        return Ok(out);
    }
    let tag = format!("{h:016x}.{}", std::process::id());
    let obj = dir.join(format!("hammer_io_{tag}.o"));
    let asm = dir.join(format!("imports_{tag}.s"));
    let tmp = dir.join(format!("hammer_io_{tag}.tmp.so"));
    run(
        cc_command(src, &obj),
        &format!("compiling {}", src.display()),
    )?;
    std::fs::write(&asm, stubs_asm()).map_err(|e| format!("writing {}: {e}", asm.display()))?;
    let mut link = Command::new(cc());
    link.args([
        "-shared",
        "-fPIC",
        // libc stays linked: the compiler may emit memcpy/memset calls.
        "-Wl,-Bsymbolic",
        "-Wl,-z,defs",
        "-o",
    ])
    .arg(&tmp)
    .arg(&obj)
    .arg(&asm);
    let r = run(link, "linking the shared object");
    let _ = std::fs::remove_file(&obj);
    let _ = std::fs::remove_file(&asm);
    r?;
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
            return Err(format!("dlopen {}: {}", so.display(), last_dlerror()));
        }
        let tab = dlsym(h, c"alt_import_table".as_ptr()) as *mut usize;
        if tab.is_null() {
            return Err(format!(
                "{}: no import table: {}",
                so.display(),
                last_dlerror()
            ));
        }
        for (i, f) in fn_imports().enumerate() {
            let a = import_address(f).ok_or_else(|| format!("no address for import {f}"))?;
            tab.add(i).write(a);
        }
        for d in DATA_IMPORTS {
            let n = CString::new(format!("alt_data_{d}")).expect("no NUL");
            let p = dlsym(h, n.as_ptr()) as *mut usize;
            if !p.is_null() {
                p.write(import_address(d).ok_or_else(|| format!("no address for import {d}"))?);
            }
        }
        let mut syms: Vec<*mut c_void> = Vec::with_capacity(EXPORTS.len());
        for e in EXPORTS {
            let n = CString::new(format!("{PREFIX}{e}")).expect("no NUL");
            let s = dlsym(h, n.as_ptr());
            if s.is_null() {
                return Err(format!(
                    "{}: symbol {PREFIX}{e} missing: {}",
                    so.display(),
                    last_dlerror()
                ));
            }
            syms.push(s);
        }
        let get = |name: &str| -> *mut c_void {
            syms[EXPORTS
                .iter()
                .position(|e| *e == name)
                .expect("known export")]
        };
        macro_rules! f {
            ($t:ident, $name:literal) => {
                core::mem::transmute::<*mut c_void, ioimpl::$t>(get($name))
            };
        }
        Ok(IoImpl {
            name: "c-dynamic",
            init: f!(InitFn, "hammer_io_init"),
            read: f!(ReadFn, "hammer_io_read"),
            advance: f!(IoFn, "hammer_io_advance"),
            new: f!(NewFn, "hammer_io_new"),
            inval: f!(InvalFn, "hammer_io_inval"),
            release: f!(ReleaseFn, "hammer_io_release"),
            flush: f!(IoIntFn, "hammer_io_flush"),
            wait: f!(IoFn, "hammer_io_wait"),
            wait_all: f!(WaitAllFn, "hammer_io_wait_all"),
            direct_read: f!(DirectReadFn, "hammer_io_direct_read"),
            indirect_read: f!(DirectReadFn, "hammer_io_indirect_read"),
            direct_write: f!(DirectWriteFn, "hammer_io_direct_write"),
            direct_wait: f!(DirectWaitFn, "hammer_io_direct_wait"),
            direct_uncache: f!(DirectUncacheFn, "hammer_io_direct_uncache"),
            write_interlock: f!(InterlockFn, "hammer_io_write_interlock"),
            done_interlock: f!(InterlockFn, "hammer_io_done_interlock"),
            clear_modify: f!(IoIntFn, "hammer_io_clear_modify"),
            clear_modlist: f!(IoFn, "hammer_io_clear_modlist"),
            flush_sync: f!(MountFn, "hammer_io_flush_sync"),
            clear_error: f!(IoFn, "hammer_io_clear_error"),
            clear_error_noassert: f!(IoFn, "hammer_io_clear_error_noassert"),
            notmeta: f!(NotmetaFn, "hammer_io_notmeta"),
            limit_backlog: f!(MountFn, "hammer_io_limit_backlog"),
            modify_volume: f!(ModifyVolumeFn, "hammer_modify_volume"),
            modify_buffer: f!(ModifyBufferFn, "hammer_modify_buffer"),
            modify_volume_done: f!(ModifyVolumeDoneFn, "hammer_modify_volume_done"),
            modify_buffer_done: f!(ModifyBufferDoneFn, "hammer_modify_buffer_done"),
            bioops: get("hammer_bioops").cast(),
            mod_insert_color: f!(ModInsertColorFn, "hammer_mod_rb_tree_RB_INSERT_COLOR"),
            mod_remove_color: f!(ModRemoveColorFn, "hammer_mod_rb_tree_RB_REMOVE_COLOR"),
            mod_remove: f!(ModHeadIoFn, "hammer_mod_rb_tree_RB_REMOVE"),
            mod_insert: f!(ModHeadIoFn, "hammer_mod_rb_tree_RB_INSERT"),
            mod_find: f!(ModHeadIoFn, "hammer_mod_rb_tree_RB_FIND"),
            mod_scan: f!(ModScanFn, "hammer_mod_rb_tree_RB_SCAN"),
            mod_next: f!(ModStepFn, "hammer_mod_rb_tree_RB_NEXT"),
            mod_prev: f!(ModStepFn, "hammer_mod_rb_tree_RB_PREV"),
            mod_minmax: f!(ModMinmaxFn, "hammer_mod_rb_tree_RB_MINMAX"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_function_imports_partition_io_imports() {
        for d in DATA_IMPORTS {
            assert!(symbols::IO_IMPORTS.contains(&d), "{d} is not in io-imports");
        }
        assert_eq!(
            fn_imports().count() + DATA_IMPORTS.len(),
            symbols::IO_IMPORTS.len()
        );
        assert_eq!(fn_imports().count(), 65);
    }
}
