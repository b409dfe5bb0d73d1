//! Tracing of the HAMMER neighbours' C entry points.
//!
//! Each neighbour function that hammer_io.c imports (io-imports.txt) is
//! exported here under its C name: it records a `Call` event in the
//! hosted kernel's trace (and a `Return` event where the result matters),
//! then runs the untraced body in its home module. Only calls made
//! directly by I/O code are recorded (see [`trace::neighbour_enter`]):
//! entries into I/O code (the tracing `IoImpl`'s wrappers, the kernel's
//! bioops / bio_done calls) reset the nesting, so every call the
//! implementation under test makes is recorded, and the neighbours' calls
//! among themselves or the workload's own calls are not.
//!
//! Identities, never addresses: locks by the name the harness gave the
//! object (`io:M0:….lock`, `ino0.lock`; "anon" otherwise), ios by type,
//! volume number and zone-2 offset, volumes by number, inodes by object
//! id, nodes by offset, records by their leaf, strings as text.

use core::ffi::{c_char, c_int, c_void};
use std::format;
use std::string::String;

use crate::hosted::kern::trace::{self, Kind};
use crate::sys::ffi;

use super::{blockmap, mount, objects, ondisk, trees, undo};

/// Type letter, volume number and zone-2 offset of an io ("-" for null).
///
/// # Safety
///
/// `io` is null or live.
unsafe fn io_text(io: *const ffi::hammer_io) -> String {
    if io.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract.
    unsafe {
        let t = match (*io).type_ {
            ffi::HAMMER_STRUCTURE_VOLUME => 'V',
            ffi::HAMMER_STRUCTURE_META_BUFFER => 'M',
            ffi::HAMMER_STRUCTURE_UNDO_BUFFER => 'U',
            ffi::HAMMER_STRUCTURE_DATA_BUFFER => 'D',
            ffi::HAMMER_STRUCTURE_DUMMY => 'X',
            _ => '?',
        };
        let vol = if (*io).volume.is_null() {
            -1
        } else {
            (*(*io).volume).vol_no
        };
        format!(
            "{t}{vol}:{:x}",
            (*io).offset as u64 & ffi::HAMMER_OFF_SHORT_MASK
        )
    }
}

/// # Safety
///
/// `b` is null or a live buffer.
unsafe fn buffer_text(b: ffi::hammer_buffer_t) -> String {
    if b.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract; the io is embedded in the buffer.
    unsafe { io_text(core::ptr::addr_of!((*b).io)) }
}

/// # Safety
///
/// `v` is null or a live volume.
unsafe fn vol_no(v: *const ffi::hammer_volume) -> i64 {
    if v.is_null() {
        -1
    } else {
        // SAFETY: caller contract.
        unsafe { (*v).vol_no as i64 }
    }
}

/// # Safety
///
/// `r` is null or a live record.
unsafe fn record_text(r: ffi::hammer_record_t) -> String {
    if r.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract.
    unsafe {
        let l = &(*r).leaf;
        format!(
            "rec(obj{:x} key{:x} rt{:x} off{:x} len{:x})",
            l.base.obj_id, l.base.key, l.base.rec_type, l.data_offset, l.data_len
        )
    }
}

/// # Safety
///
/// `s` is null or a C string.
unsafe fn c_text(s: *const c_char) -> String {
    if s.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract.
    unsafe { core::ffi::CStr::from_ptr(s) }
        .to_string_lossy()
        .into_owned()
}

fn call(
    g: &trace::NeighbourGuard,
    func: &'static str,
    obj: usize,
    args: &[i64],
    text: Option<String>,
) {
    if g.outer {
        trace::neighbour_event(func, Kind::Call, obj, args, text);
    }
}

fn ret(
    g: &trace::NeighbourGuard,
    func: &'static str,
    obj: usize,
    args: &[i64],
    text: Option<String>,
) {
    if g.outer {
        trace::neighbour_event(func, Kind::Return, obj, args, text);
    }
}

macro_rules! lock_entry {
    ($name:ident, $untraced:path) => {
        #[no_mangle]
        /// Traced C entry point (see the module documentation).
        ///
        /// # Safety
        ///
        /// As the untraced body.
        pub unsafe extern "C-unwind" fn $name(lock: *mut ffi::hammer_lock) {
            let g = trace::neighbour_enter();
            call(&g, stringify!($name), lock as usize, &[], None);
            // SAFETY: forwarded contract.
            unsafe { $untraced(lock) }
        }
    };
}

lock_entry!(hammer_ref, super::lock::hammer_ref_untraced);
lock_entry!(hammer_rel, super::lock::hammer_rel_untraced);
lock_entry!(hammer_unlock, super::lock::hammer_unlock_untraced);

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_lock_ex_ident(
    lock: *mut ffi::hammer_lock,
    ident: *const c_char,
) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: ident is a C string.
        let t = unsafe { c_text(ident) };
        call(&g, "hammer_lock_ex_ident", lock as usize, &[], Some(t));
    }
    // SAFETY: forwarded contract.
    unsafe { super::lock::hammer_lock_ex_ident_untraced(lock, ident) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_try_interlock_norefs(lock: *mut ffi::hammer_lock) -> c_int {
    let g = trace::neighbour_enter();
    call(&g, "hammer_try_interlock_norefs", lock as usize, &[], None);
    // SAFETY: forwarded contract.
    let r = unsafe { super::lock::hammer_try_interlock_norefs_untraced(lock) };
    ret(
        &g,
        "hammer_try_interlock_norefs",
        lock as usize,
        &[r as i64],
        None,
    );
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_put_interlock(lock: *mut ffi::hammer_lock, error: c_int) {
    let g = trace::neighbour_enter();
    call(
        &g,
        "hammer_put_interlock",
        lock as usize,
        &[error as i64],
        None,
    );
    // SAFETY: forwarded contract.
    unsafe { super::lock::hammer_put_interlock_untraced(lock, error) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_blockmap_lookup(
    hmp: ffi::hammer_mount_t,
    zone_offset: ffi::hammer_off_t,
    errorp: *mut c_int,
) -> ffi::hammer_off_t {
    let g = trace::neighbour_enter();
    call(&g, "hammer_blockmap_lookup", 0, &[zone_offset as i64], None);
    // SAFETY: forwarded contract.
    let r = unsafe { blockmap::hammer_blockmap_lookup_untraced(hmp, zone_offset, errorp) };
    if g.outer {
        // SAFETY: errorp is the caller's error variable.
        let e = unsafe { *errorp };
        ret(&g, "hammer_blockmap_lookup", 0, &[r as i64, e as i64], None);
    }
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_critical_error(
    hmp: ffi::hammer_mount_t,
    ip: ffi::hammer_inode_t,
    error: c_int,
    msg: *const c_char,
) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: ip is null or live; msg a C string.
        let (ino, t) = unsafe { (if ip.is_null() { -1 } else { (*ip).obj_id }, c_text(msg)) };
        call(
            &g,
            "hammer_critical_error",
            0,
            &[error as i64, ino],
            Some(t),
        );
    }
    // SAFETY: forwarded contract.
    unsafe { mount::hammer_critical_error_untraced(hmp, ip, error, msg) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_rel_node(node: ffi::hammer_node_t) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: node is live.
        let off = unsafe { (*node).node_offset as i64 };
        call(&g, "hammer_rel_node", 0, &[off], None);
    }
    // SAFETY: forwarded contract.
    unsafe { objects::hammer_rel_node_untraced(node) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_get_vnode(
    ip: *mut ffi::hammer_inode,
    vpp: *mut *mut ffi::vnode,
) -> c_int {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: ip is live.
        let ino = unsafe { (*ip).obj_id };
        call(&g, "hammer_get_vnode", 0, &[ino], None);
    }
    // SAFETY: forwarded contract.
    let r = unsafe { objects::hammer_get_vnode_untraced(ip, vpp) };
    if g.outer {
        // The vnode by its kernel id (an address may carry a stale name).
        let vn = if r == 0 {
            // SAFETY: *vpp was set on success.
            unsafe { crate::hosted::kern::vnode_id(*vpp) as i64 }
        } else {
            -1
        };
        ret(&g, "hammer_get_vnode", 0, &[r as i64, vn], None);
    }
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_rel_inode(ip: ffi::hammer_inode_t, flush: c_int) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: ip is live.
        let ino = unsafe { (*ip).obj_id };
        call(&g, "hammer_rel_inode", 0, &[ino, flush as i64], None);
    }
    // SAFETY: forwarded contract.
    unsafe { objects::hammer_rel_inode_untraced(ip, flush) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_scan_inode_snapshots(
    hmp: ffi::hammer_mount_t,
    iinfo: ffi::hammer_inode_info_t,
    callback: Option<
        unsafe extern "C-unwind" fn(ip: ffi::hammer_inode_t, data: *mut c_void) -> c_int,
    >,
    data: *mut c_void,
) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: iinfo is live.
        let obj = unsafe { (*iinfo).obj_id };
        call(&g, "hammer_scan_inode_snapshots", 0, &[obj], None);
    }
    // The callback is I/O code: it runs as an entry into it, so the
    // neighbour calls it makes are traced.
    let Some(cb) = callback else {
        // SAFETY: forwarded contract.
        return unsafe { objects::hammer_scan_inode_snapshots_untraced(hmp, iinfo, None, data) };
    };
    let old = SCAN_CB.with(|c| c.replace(Some(cb)));
    struct Restore(Option<ScanCb>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCAN_CB.with(|c| c.set(self.0));
        }
    }
    let _r = Restore(old);
    // SAFETY: forwarded contract; the trampoline calls `cb` with the same
    // arguments.
    unsafe { objects::hammer_scan_inode_snapshots_untraced(hmp, iinfo, Some(scan_tramp), data) }
}

type ScanCb = unsafe extern "C-unwind" fn(ip: ffi::hammer_inode_t, data: *mut c_void) -> c_int;

std::thread_local! {
    /// The I/O code's callback of the scan in progress on this thread.
    static SCAN_CB: core::cell::Cell<Option<ScanCb>> = const { core::cell::Cell::new(None) };
}

unsafe extern "C-unwind" fn scan_tramp(ip: ffi::hammer_inode_t, data: *mut c_void) -> c_int {
    let cb = SCAN_CB
        .with(|c| c.get())
        .expect("hammer_scan_inode_snapshots: no callback");
    // SAFETY: the scan's own contract for its callback.
    trace::fs_entry(|| unsafe { cb(ip, data) })
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_ip_replace_bulk(
    hmp: ffi::hammer_mount_t,
    record: ffi::hammer_record_t,
) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: record is live.
        let t = unsafe { record_text(record) };
        call(&g, "hammer_ip_replace_bulk", 0, &[], Some(t));
    }
    // SAFETY: forwarded contract.
    unsafe { objects::hammer_ip_replace_bulk_untraced(hmp, record) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_rel_mem_record(record: ffi::hammer_record_t) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: record is live.
        let t = unsafe { record_text(record) };
        call(&g, "hammer_rel_mem_record", 0, &[], Some(t));
    }
    // SAFETY: forwarded contract.
    unsafe { objects::hammer_rel_mem_record_untraced(record) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_get_volume(
    hmp: ffi::hammer_mount_t,
    vol_no: i32,
    errorp: *mut c_int,
) -> ffi::hammer_volume_t {
    let g = trace::neighbour_enter();
    call(&g, "hammer_get_volume", 0, &[vol_no as i64], None);
    // SAFETY: forwarded contract.
    let v = unsafe { ondisk::hammer_get_volume_untraced(hmp, vol_no, errorp) };
    if g.outer {
        // SAFETY: errorp is the caller's variable; v null or live.
        let (e, n) = unsafe { (*errorp as i64, self::vol_no(v)) };
        ret(&g, "hammer_get_volume", 0, &[e, n], None);
    }
    v
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_rel_volume(volume: ffi::hammer_volume_t, locked: c_int) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: volume is live.
        let n = unsafe { vol_no(volume) };
        call(&g, "hammer_rel_volume", 0, &[n, locked as i64], None);
    }
    // SAFETY: forwarded contract.
    unsafe { ondisk::hammer_rel_volume_untraced(volume, locked) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_rel_buffer(buffer: ffi::hammer_buffer_t, locked: c_int) {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: buffer is live.
        let t = unsafe { buffer_text(buffer) };
        call(&g, "hammer_rel_buffer", 0, &[locked as i64], Some(t));
    }
    // SAFETY: forwarded contract.
    unsafe { ondisk::hammer_rel_buffer_untraced(buffer, locked) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_bread(
    hmp: *mut ffi::hammer_mount,
    buf_offset: ffi::hammer_off_t,
    errorp: *mut c_int,
    bufferp: *mut *mut ffi::hammer_buffer,
) -> *mut c_void {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: *bufferp is null or a buffer the caller holds.
        let t = unsafe { buffer_text(*bufferp) };
        call(&g, "hammer_bread", 0, &[buf_offset as i64], Some(t));
    }
    // SAFETY: forwarded contract.
    let p = unsafe { ondisk::hammer_bread_untraced(hmp, buf_offset, errorp, bufferp) };
    if g.outer {
        // SAFETY: as above, after the call; p points into the buffer's data.
        let (e, t, rel) = unsafe {
            let b = *bufferp;
            let rel = if p.is_null() || b.is_null() || (*b).ondisk.is_null() {
                -1
            } else {
                p as i64 - (*b).ondisk as i64
            };
            (*errorp as i64, buffer_text(b), rel)
        };
        ret(&g, "hammer_bread", 0, &[e, rel], Some(t));
    }
    p
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_sync_buffers(
    hmp: ffi::hammer_mount_t,
    base_offset: ffi::hammer_off_t,
    bytes: c_int,
) {
    let g = trace::neighbour_enter();
    call(
        &g,
        "hammer_sync_buffers",
        0,
        &[base_offset as i64, bytes as i64],
        None,
    );
    // SAFETY: forwarded contract.
    unsafe { ondisk::hammer_sync_buffers_untraced(hmp, base_offset, bytes) }
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_del_buffers(
    hmp: ffi::hammer_mount_t,
    base_offset: ffi::hammer_off_t,
    zone2_offset: ffi::hammer_off_t,
    bytes: c_int,
    report_conflicts: c_int,
) -> c_int {
    let g = trace::neighbour_enter();
    call(
        &g,
        "hammer_del_buffers",
        0,
        &[
            base_offset as i64,
            zone2_offset as i64,
            bytes as i64,
            report_conflicts as i64,
        ],
        None,
    );
    // SAFETY: forwarded contract.
    let r = unsafe {
        ondisk::hammer_del_buffers_untraced(hmp, base_offset, zone2_offset, bytes, report_conflicts)
    };
    ret(&g, "hammer_del_buffers", 0, &[r as i64], None);
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_generate_undo(
    trans: ffi::hammer_transaction_t,
    zone_off: ffi::hammer_off_t,
    base: *mut c_void,
    len: c_int,
) -> c_int {
    let g = trace::neighbour_enter();
    if g.outer {
        // The saved bytes, by hash (FNV-1a).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        if !base.is_null() && len > 0 {
            // SAFETY: base points to len readable bytes.
            let s = unsafe { core::slice::from_raw_parts(base as *const u8, len as usize) };
            for &b in s {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        call(
            &g,
            "hammer_generate_undo",
            0,
            &[zone_off as i64, len as i64, h as i64],
            None,
        );
    }
    // SAFETY: forwarded contract.
    let r = unsafe { undo::hammer_generate_undo_untraced(trans, zone_off, base, len) };
    ret(&g, "hammer_generate_undo", 0, &[r as i64], None);
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_undo_reclaim(io: ffi::hammer_io_t) -> c_int {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: io is live.
        let t = unsafe { io_text(io) };
        call(&g, "hammer_undo_reclaim", 0, &[], Some(t));
    }
    // SAFETY: forwarded contract.
    let r = unsafe { undo::hammer_undo_reclaim_untraced(io) };
    ret(&g, "hammer_undo_reclaim", 0, &[r as i64], None);
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_NEXT(
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    let g = trace::neighbour_enter();
    if g.outer {
        // SAFETY: elm is live.
        let n = unsafe { vol_no(elm) };
        call(&g, "hammer_vol_rb_tree_RB_NEXT", 0, &[n], None);
    }
    // SAFETY: forwarded contract.
    let r = unsafe { trees::hammer_vol_rb_tree_RB_NEXT_untraced(elm) };
    if g.outer {
        // SAFETY: r is null or live.
        let n = unsafe { vol_no(r) };
        ret(&g, "hammer_vol_rb_tree_RB_NEXT", 0, &[n], None);
    }
    r
}

/// Traced C entry point (see the module documentation).
///
/// # Safety
///
/// As the untraced body.
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_MINMAX(
    head: *mut ffi::hammer_vol_rb_tree,
    val: c_int,
) -> *mut ffi::hammer_volume {
    let g = trace::neighbour_enter();
    call(&g, "hammer_vol_rb_tree_RB_MINMAX", 0, &[val as i64], None);
    // SAFETY: forwarded contract.
    let r = unsafe { trees::hammer_vol_rb_tree_RB_MINMAX_untraced(head, val) };
    if g.outer {
        // SAFETY: r is null or live.
        let n = unsafe { vol_no(r) };
        ret(&g, "hammer_vol_rb_tree_RB_MINMAX", 0, &[n], None);
    }
    r
}
