//! The trace of one scenario: everything visible at the I/O layer's
//! boundary, with pointers replaced by stable identities, as text lines.
//!
//! Sources:
//! - the hosted kernel's trace hook (every buffer-cache, bio, sleep/wakeup
//!   and token call the implementation makes, every bioops callback and
//!   device request), turned into lines by [`kernel_line`];
//! - a tracing [`IoImpl`] placed between the HAMMER neighbours and the
//!   implementation under test ([`tracing_impl`]): each of the 37 exports
//!   records its call with identified arguments, its result, and the
//!   fields of the io structures involved after the call;
//! - the executor's own lines (operation markers, state after each
//!   operation, final device image and mod trees).
//!
//! Calls of the atomic_* helpers, crc32 and bcopy/bzero are not events:
//! they are judged by the values they leave (counters and data), so the
//! port is free to compute CRCs with crc32fast and to copy memory its own
//! way.
//!
//! A trace is either kept (dump mode: lines written to a file as they
//! come, so a crash leaves the prefix) or only hashed (batch mode).

use core::ffi::{c_char, c_int, c_void};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::boxed::Box;
use std::fmt::Write as _;
use std::format;
use std::io::Write as _;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use crate::hosted::hammer::ioimpl::IoImpl;
use crate::hosted::kern;
use crate::hosted::kern::trace::{Event, Kind, ObjId};
use crate::rbtree::ScanFn;
use crate::sys::ffi;

/// Where trace lines go.
pub struct Collector {
    hash: u64,
    count: u64,
    /// Dump mode: lines are written here (flushed at every operation).
    out: Option<std::io::BufWriter<std::fs::File>>,
    /// Keep lines in memory too (tests).
    keep: Option<Vec<String>>,
    /// The operation being executed (for diagnostics).
    pub op_index: Option<usize>,
}

static COLLECTOR: Mutex<Option<Collector>> = Mutex::new(None);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Starts a new trace. `out`: write lines to that file; `keep`: keep them
/// in memory.
pub fn start(out: Option<std::fs::File>, keep: bool) {
    *COLLECTOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(Collector {
        hash: FNV_OFFSET,
        count: 0,
        out: out.map(std::io::BufWriter::new),
        keep: keep.then(Vec::new),
        op_index: None,
    });
}

/// Ends the trace: (line count, hash, kept lines).
pub fn finish() -> (u64, u64, Vec<String>) {
    let c = COLLECTOR.lock().unwrap_or_else(|e| e.into_inner()).take();
    match c {
        Some(mut c) => {
            if let Some(o) = c.out.as_mut() {
                let _ = o.flush();
            }
            (c.count, c.hash, c.keep.unwrap_or_default())
        }
        None => (0, FNV_OFFSET, Vec::new()),
    }
}

/// Records one line.
pub fn line(s: &str) {
    let mut g = COLLECTOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = g.as_mut() {
        c.hash =
            (c.hash.rotate_left(5) ^ super::exec::hash_bytes(s.as_bytes())).wrapping_mul(FNV_PRIME);
        c.count += 1;
        if let Some(o) = c.out.as_mut() {
            let _ = o.write_all(s.as_bytes());
            let _ = o.write_all(b"\n");
        }
        if let Some(k) = c.keep.as_mut() {
            k.push(s.into());
        }
    }
}

/// Flushes the dump file (called at each operation and from the panic
/// hook, so a crashing run leaves its trace up to the crash).
pub fn flush() {
    if let Ok(mut g) = COLLECTOR.try_lock() {
        if let Some(o) = g.as_mut().and_then(|c| c.out.as_mut()) {
            let _ = o.flush();
        }
    }
}

/// Marks the operation being executed.
pub fn set_op(i: Option<usize>) {
    if let Some(c) = COLLECTOR.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        c.op_index = i;
    }
}

/// The operation being executed.
pub fn current_op() -> Option<usize> {
    COLLECTOR
        .try_lock()
        .ok()
        .and_then(|g| g.as_ref().and_then(|c| c.op_index))
}

// ---------------------------------------------------------------------
// Kernel events
// ---------------------------------------------------------------------

fn obj_str(o: &ObjId) -> String {
    match o {
        ObjId::Named(n) => n.clone(),
        ObjId::Vnode(v) => format!("vn{v}"),
        // Unnamed objects are stack placemarkers (hammer_io_wait_all's
        // dummy io): their addresses depend on each implementation's
        // stack frames, so their numbering is not compared.
        ObjId::Anon(_) => "anon".into(),
    }
}

/// Console text with addresses (`0x` and 9 or more hex digits, what `%p`
/// prints) masked: they differ between runs and implementations.
pub fn mask_pointers(t: &str) -> String {
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && i + 1 < b.len() && b[i + 1] == b'x' {
            let n = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if n >= 9 {
                out.push_str("0x<ptr>");
                i += 2 + n;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// The line of a kernel event.
pub fn kernel_line(e: &Event) -> String {
    let kind = match e.kind {
        Kind::Call => "K",
        Kind::Return => "K<",
        Kind::Callback => "KB",
        Kind::Disk => "KD",
        Kind::Text => "KT",
    };
    let mut s = format!("{kind} {} t{}", e.func, e.thread);
    if let Some(b) = &e.buf {
        let _ = write!(s, " buf={}:{:x}:{:x}", b.vnode, b.offset, b.size);
    }
    if let Some(l) = e.bio_layer {
        let _ = write!(s, " bio{l}");
    }
    if let Some(o) = &e.obj {
        let _ = write!(s, " {}", obj_str(o));
    }
    // bio_done's argument is the callback's address, which differs
    // between implementations (and runs); the callback's effects are
    // traced on their own.
    if !e.args.is_empty() && e.func != "bio_done" {
        s.push_str(" [");
        for (i, a) in e.args.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{a:x}");
        }
        s.push(']');
    }
    if let Some(f) = e.flags {
        let _ = write!(s, " fl={f:x}");
    }
    if let Some(t) = &e.text {
        let _ = write!(s, " {:?}", mask_pointers(t.trim_end()));
    }
    s
}

/// Kernel helpers judged by the values they leave, not by being called:
/// the atomics (counters are compared), crc32 (the CRCs land in the data
/// that is compared; the port uses crc32fast) and memory copies.
pub fn judged_by_effect(func: &str) -> bool {
    func.starts_with("atomic_")
        || matches!(
            func,
            "crc32" | "crc32_ext" | "bcopy" | "bzero" | "memcpy" | "memmove" | "memset"
        )
}

/// Installs the kernel trace sink feeding the collector.
pub fn install_kernel_sink() {
    kern::trace::set_sink(Some(Arc::new(|e: &Event| {
        if !judged_by_effect(e.func) {
            line(&kernel_line(e));
        }
    })));
}

// ---------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------

/// Stable identity of an io: type letter, volume number, zone-2 offset.
///
/// # Safety
///
/// `io` is null or points to a live io.
pub unsafe fn io_id(io: *const ffi::hammer_io) -> String {
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

/// Stable identity of a buffer-cache buffer: vnode id, logical offset,
/// size.
///
/// # Safety
///
/// `bp` is null or a live buffer of the current machine.
pub unsafe fn buf_id(bp: *const ffi::buf) -> String {
    if bp.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract.
    unsafe {
        let vp = (*bp).b_vp;
        let vn = if vp.is_null() { 0 } else { kern::vnode_id(vp) };
        format!(
            "{vn}:{:x}:{:x}",
            (*bp).b_bio_array[0].bio_offset,
            (*bp).b_bcount
        )
    }
}

/// Stable identity of a bio: its buffer and layer.
///
/// # Safety
///
/// `bio` is null or a bio embedded in a live buffer.
pub unsafe fn bio_id(bio: *const ffi::bio) -> String {
    if bio.is_null() {
        return "-".into();
    }
    // SAFETY: caller contract.
    unsafe {
        let bp = (*bio).bio_buf;
        if bp.is_null() {
            return "bio?".into();
        }
        let base = (*bp).b_bio_array.as_ptr();
        let layer = (bio as usize - base as usize) / core::mem::size_of::<ffi::bio>();
        format!("{}/bio{layer}@{:x}", buf_id(bp), (*bio).bio_offset)
    }
}

/// Which of the mount's mod trees `root` is.
///
/// # Safety
///
/// `io` is live with a live mount.
unsafe fn tree_name(io: *const ffi::hammer_io) -> &'static str {
    // SAFETY: caller contract.
    unsafe {
        let r = (*io).mod_root;
        if r.is_null() {
            return "-";
        }
        let hmp = (*io).hmp;
        if hmp.is_null() {
            return "?";
        }
        root_name(hmp, r)
    }
}

/// Name of a mod tree head of `hmp`.
///
/// # Safety
///
/// `hmp` is live.
pub unsafe fn root_name(
    hmp: ffi::hammer_mount_t,
    r: *const ffi::hammer_mod_rb_tree,
) -> &'static str {
    // SAFETY: only addresses are compared.
    unsafe {
        if r == core::ptr::addr_of!((*hmp).volu_root) {
            "volu"
        } else if r == core::ptr::addr_of!((*hmp).meta_root) {
            "meta"
        } else if r == core::ptr::addr_of!((*hmp).undo_root) {
            "undo"
        } else if r == core::ptr::addr_of!((*hmp).data_root) {
            "data"
        } else if r == core::ptr::addr_of!((*hmp).lose_root) {
            "lose"
        } else {
            "other"
        }
    }
}

/// The fields of an io that the I/O layer owns, on one line.
///
/// # Safety
///
/// `io` is live.
pub unsafe fn io_state(io: *const ffi::hammer_io) -> String {
    // SAFETY: caller contract.
    unsafe {
        let i = &*io;
        format!(
            "{} m{}r{}R{}w{}e{}c{}d{}W{}g{} mr={} tree={} bp={} refs={:x} lv={:x} bytes={:x}",
            io_id(io),
            i.modified(),
            i.released(),
            i.running(),
            i.waiting(),
            i.ioerror(),
            i.reclaim(),
            i.waitdep(),
            i.waitmod(),
            i.gencrc(),
            i.modify_refs,
            tree_name(io),
            buf_id(i.bp),
            i.lock.refs,
            i.lock.lockval,
            i.bytes
        )
    }
}

// ---------------------------------------------------------------------
// The tracing implementation
// ---------------------------------------------------------------------

static INNER: AtomicPtr<IoImpl> = AtomicPtr::new(null_mut());

fn inner() -> &'static IoImpl {
    let p = INNER.load(Ordering::Acquire);
    assert!(
        !p.is_null(),
        "conformance: tracing implementation used before install"
    );
    // SAFETY: set once from a leaked Box and never freed.
    unsafe { &*p }
}

fn rec(s: String) {
    line(&s);
}

/// Names `io` in kernel trace events (sleep channels) after its identity.
///
/// # Safety
///
/// `io` is null or live.
pub unsafe fn name_io(io: *const ffi::hammer_io) {
    if io.is_null() || !NAMING.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: caller contract.
    let key = unsafe {
        let vol = if (*io).volume.is_null() {
            -1
        } else {
            (*(*io).volume).vol_no
        };
        ((*io).type_, vol, (*io).offset)
    };
    let mut guard = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = guard.get_or_insert_with(std::collections::HashMap::new);
    if names.get(&(io as usize)) != Some(&key) {
        names.insert(io as usize, key);
        drop(guard);
        // SAFETY: caller contract; only the lock's address is computed.
        let (id, lk) = unsafe { (io_id(io), core::ptr::addr_of!((*io).lock)) };
        // The lock first: were it the io's first field it would share
        // the address, and the io's name must win.
        name(lk as *const c_void, &format!("io:{id}.lock"));
        name(io as *const c_void, &format!("io:{id}"));
    }
}

type NameKey = (u32, i32, i64);
static NAMES: Mutex<Option<std::collections::HashMap<usize, NameKey>>> = Mutex::new(None);

/// Names the object at `p` in kernel events.
pub fn name(p: *const c_void, n: &str) {
    kern::trace::name_object(p, n);
}

/// A new machine starts: names given to addresses under the previous one
/// must not label whatever lives there now, so all of them are dropped
/// (an unnamed address prints as `anon`, whose numbering is not compared);
/// objects of the new machine get their names before they appear in
/// events. Dropping them, rather than relabelling every address ever
/// named, keeps a boot's cost independent of how many scenarios the
/// process ran before.
pub fn forget_names() {
    *NAMES.lock().unwrap_or_else(|e| e.into_inner()) = None;
    kern::trace::forget_all_names();
}

/// Whether objects get names in kernel events (see `exec`).
pub static NAMING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// # Safety
/// `io` live.
unsafe fn st(io: *const ffi::hammer_io) -> String {
    // SAFETY: caller contract.
    unsafe { io_state(io) }
}

unsafe extern "C-unwind" fn w_init(
    io: ffi::hammer_io_t,
    volume: ffi::hammer_volume_t,
    t: ffi::hammer_io_type,
) {
    // SAFETY: forwarded; the io is identified after init (it may be fresh).
    unsafe {
        rec(format!("C io_init vol={} type={t}", (*volume).vol_no));
        kern::trace::fs_entry(|| (inner().init)(io, volume, t));
        name_io(io);
        rec(format!("R io_init | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_read(
    devvp: *mut ffi::vnode,
    io: *mut ffi::hammer_io,
    limit: c_int,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!(
            "C io_read vn{} {} limit={limit:x}",
            kern::vnode_id(devvp),
            io_id(io)
        ));
        let r = kern::trace::fs_entry(|| (inner().read)(devvp, io, limit));
        rec(format!("R io_read {r} | {}", st(io)));
        r
    }
}

unsafe extern "C-unwind" fn w_advance(io: *mut ffi::hammer_io) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_advance {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().advance)(io));
        rec(format!("R io_advance | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_new(devvp: *mut ffi::vnode, io: *mut ffi::hammer_io) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!(
            "C io_new vn{} {}",
            kern::vnode_id(devvp),
            io_id(io)
        ));
        let r = kern::trace::fs_entry(|| (inner().new)(devvp, io));
        rec(format!("R io_new {r} | {}", st(io)));
        r
    }
}

unsafe extern "C-unwind" fn w_inval(
    volume: ffi::hammer_volume_t,
    zone2: ffi::hammer_off_t,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        rec(format!("C io_inval vol={} {zone2:x}", (*volume).vol_no));
        let r = kern::trace::fs_entry(|| (inner().inval)(volume, zone2));
        rec(format!("R io_inval {r}"));
        r
    }
}

unsafe extern "C-unwind" fn w_release(io: *mut ffi::hammer_io, flush: c_int) -> *mut ffi::buf {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_release {} flush={flush}", io_id(io)));
        let r = kern::trace::fs_entry(|| (inner().release)(io, flush));
        rec(format!("R io_release {} | {}", buf_id(r), st(io)));
        r
    }
}

unsafe extern "C-unwind" fn w_flush(io: *mut ffi::hammer_io, reclaim: c_int) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_flush {} reclaim={reclaim}", io_id(io)));
        kern::trace::fs_entry(|| (inner().flush)(io, reclaim));
        rec(format!("R io_flush | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_wait(io: *mut ffi::hammer_io) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_wait {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().wait)(io));
        rec(format!("R io_wait | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_wait_all(
    hmp: ffi::hammer_mount_t,
    ident: *const c_char,
    doflush: c_int,
) {
    // SAFETY: forwarded.
    unsafe {
        let id = if ident.is_null() {
            String::new()
        } else {
            core::ffi::CStr::from_ptr(ident)
                .to_string_lossy()
                .into_owned()
        };
        rec(format!("C io_wait_all {id} doflush={doflush}"));
        kern::trace::fs_entry(|| (inner().wait_all)(hmp, ident, doflush));
        rec(format!("R io_wait_all | {}", mount_state(hmp)));
    }
}

/// # Safety
/// `leaf` null or live.
unsafe fn leaf_id(leaf: ffi::hammer_btree_leaf_elm_t) -> String {
    if leaf.is_null() {
        return "leaf=-".into();
    }
    // SAFETY: caller contract.
    unsafe {
        let l = &*leaf;
        format!(
            "leaf=obj{:x}:key{:x}:rt{:x}:off{:x}:len{:x}:crc{:x}",
            l.base.obj_id, l.base.key, l.base.rec_type, l.data_offset, l.data_len, l.data_crc
        )
    }
}

/// # Safety
/// `r` live.
unsafe fn record_id(r: ffi::hammer_record_t) -> String {
    // SAFETY: caller contract.
    unsafe {
        format!(
            "rec(obj{:x} key{:x} off{:x} len{:x} fl{:x} gfl{:x} z2={:x})",
            (*r).leaf.base.obj_id,
            (*r).leaf.base.key,
            (*r).leaf.data_offset,
            (*r).leaf.data_len,
            (*r).flags,
            (*r).gflags,
            (*r).zone2_offset
        )
    }
}

unsafe extern "C-unwind" fn w_direct_read(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    leaf: ffi::hammer_btree_leaf_elm_t,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        rec(format!(
            "C io_direct_read {} {}",
            bio_id(bio),
            leaf_id(leaf)
        ));
        let r = kern::trace::fs_entry(|| (inner().direct_read)(hmp, bio, leaf));
        rec(format!("R io_direct_read {r}"));
        r
    }
}

unsafe extern "C-unwind" fn w_indirect_read(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    leaf: ffi::hammer_btree_leaf_elm_t,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        rec(format!(
            "C io_indirect_read {} {}",
            bio_id(bio),
            leaf_id(leaf)
        ));
        let r = kern::trace::fs_entry(|| (inner().indirect_read)(hmp, bio, leaf));
        rec(format!("R io_indirect_read {r}"));
        r
    }
}

unsafe extern "C-unwind" fn w_direct_write(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    record: ffi::hammer_record_t,
) -> c_int {
    // SAFETY: forwarded. The record may be destroyed by the call (error
    // path), so it is identified before only.
    unsafe {
        rec(format!(
            "C io_direct_write {} {}",
            bio_id(bio),
            record_id(record)
        ));
        let r = kern::trace::fs_entry(|| (inner().direct_write)(hmp, bio, record));
        rec(format!("R io_direct_write {r}"));
        r
    }
}

unsafe extern "C-unwind" fn w_direct_wait(record: ffi::hammer_record_t) {
    // SAFETY: forwarded.
    unsafe {
        rec(format!("C io_direct_wait {}", record_id(record)));
        kern::trace::fs_entry(|| (inner().direct_wait)(record));
        rec(format!("R io_direct_wait {}", record_id(record)));
    }
}

unsafe extern "C-unwind" fn w_direct_uncache(
    hmp: ffi::hammer_mount_t,
    leaf: ffi::hammer_btree_leaf_elm_t,
) {
    // SAFETY: forwarded.
    unsafe {
        rec(format!("C io_direct_uncache {}", leaf_id(leaf)));
        kern::trace::fs_entry(|| (inner().direct_uncache)(hmp, leaf));
        rec("R io_direct_uncache".into());
    }
}

unsafe extern "C-unwind" fn w_write_interlock(io: ffi::hammer_io_t) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_write_interlock {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().write_interlock)(io));
        rec(format!("R io_write_interlock | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_done_interlock(io: ffi::hammer_io_t) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_done_interlock {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().done_interlock)(io));
        rec(format!("R io_done_interlock | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_clear_modify(io: *mut ffi::hammer_io, inval: c_int) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_clear_modify {} inval={inval}", io_id(io)));
        kern::trace::fs_entry(|| (inner().clear_modify)(io, inval));
        rec(format!("R io_clear_modify | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_clear_modlist(io: *mut ffi::hammer_io) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_clear_modlist {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().clear_modlist)(io));
        rec(format!("R io_clear_modlist | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_flush_sync(hmp: ffi::hammer_mount_t) {
    // SAFETY: forwarded.
    unsafe {
        rec(format!("C io_flush_sync | {}", mount_state(hmp)));
        kern::trace::fs_entry(|| (inner().flush_sync)(hmp));
        rec(format!("R io_flush_sync | {}", mount_state(hmp)));
    }
}

unsafe extern "C-unwind" fn w_clear_error(io: *mut ffi::hammer_io) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_clear_error {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().clear_error)(io));
        rec(format!("R io_clear_error | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_clear_error_noassert(io: *mut ffi::hammer_io) {
    // SAFETY: forwarded.
    unsafe {
        name_io(io);
        rec(format!("C io_clear_error_noassert {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().clear_error_noassert)(io));
        rec(format!("R io_clear_error_noassert | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_notmeta(buffer: ffi::hammer_buffer_t) {
    // SAFETY: forwarded.
    unsafe {
        let io = core::ptr::addr_of_mut!((*buffer).io);
        rec(format!("C io_notmeta {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().notmeta)(buffer));
        rec(format!("R io_notmeta | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_limit_backlog(hmp: ffi::hammer_mount_t) {
    // SAFETY: forwarded.
    unsafe {
        rec("C io_limit_backlog".into());
        kern::trace::fs_entry(|| (inner().limit_backlog)(hmp));
        rec(format!("R io_limit_backlog | {}", mount_state(hmp)));
    }
}

/// # Safety
/// `base` inside the structure whose data starts at `ondisk` (or null).
unsafe fn rel(base: *mut c_void, ondisk: *mut c_void) -> String {
    if base.is_null() {
        "-".into()
    } else {
        format!("{:x}", base as isize - ondisk as isize)
    }
}

unsafe extern "C-unwind" fn w_modify_volume(
    t: ffi::hammer_transaction_t,
    v: ffi::hammer_volume_t,
    base: *mut c_void,
    len: c_int,
) {
    // SAFETY: forwarded.
    unsafe {
        let io = core::ptr::addr_of_mut!((*v).io);
        rec(format!(
            "C modify_volume trans={} {} at={} len={len:x}",
            (!t.is_null()) as u8,
            io_id(io),
            rel(base, (*v).ondisk as *mut c_void)
        ));
        kern::trace::fs_entry(|| (inner().modify_volume)(t, v, base, len));
        rec(format!("R modify_volume | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_modify_buffer(
    t: ffi::hammer_transaction_t,
    b: ffi::hammer_buffer_t,
    base: *mut c_void,
    len: c_int,
) {
    // SAFETY: forwarded.
    unsafe {
        let io = core::ptr::addr_of_mut!((*b).io);
        rec(format!(
            "C modify_buffer trans={} {} at={} len={len:x}",
            (!t.is_null()) as u8,
            io_id(io),
            rel(base, (*b).ondisk)
        ));
        kern::trace::fs_entry(|| (inner().modify_buffer)(t, b, base, len));
        rec(format!("R modify_buffer | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_modify_volume_done(v: ffi::hammer_volume_t) {
    // SAFETY: forwarded.
    unsafe {
        let io = core::ptr::addr_of_mut!((*v).io);
        rec(format!("C modify_volume_done {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().modify_volume_done)(v));
        rec(format!("R modify_volume_done | {}", st(io)));
    }
}

unsafe extern "C-unwind" fn w_modify_buffer_done(b: ffi::hammer_buffer_t) {
    // SAFETY: forwarded.
    unsafe {
        let io = core::ptr::addr_of_mut!((*b).io);
        rec(format!("C modify_buffer_done {}", io_id(io)));
        kern::trace::fs_entry(|| (inner().modify_buffer_done)(b));
        rec(format!("R modify_buffer_done | {}", st(io)));
    }
}

type ModHead = ffi::hammer_mod_rb_tree;
type Io = ffi::hammer_io;

/// # Safety
/// `head` is a mod tree head inside a live mount, or anything else.
unsafe fn head_name(head: *mut ModHead, elm: *mut Io) -> &'static str {
    // SAFETY: the mount is found through a live element when there is one.
    unsafe {
        if !elm.is_null() && !(*elm).hmp.is_null() {
            root_name((*elm).hmp, head)
        } else {
            "?"
        }
    }
}

unsafe extern "C-unwind" fn w_mod_insert_color(head: *mut ModHead, elm: *mut Io) {
    // SAFETY: forwarded.
    unsafe { kern::trace::fs_entry(|| (inner().mod_insert_color)(head, elm)) }
}

unsafe extern "C-unwind" fn w_mod_remove_color(head: *mut ModHead, parent: *mut Io, elm: *mut Io) {
    // SAFETY: forwarded.
    unsafe { kern::trace::fs_entry(|| (inner().mod_remove_color)(head, parent, elm)) }
}

unsafe extern "C-unwind" fn w_mod_remove(head: *mut ModHead, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        rec(format!(
            "C mod_remove {} {}",
            head_name(head, elm),
            io_id(elm)
        ));
        let r = kern::trace::fs_entry(|| (inner().mod_remove)(head, elm));
        rec(format!("R mod_remove {}", io_id(r)));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_insert(head: *mut ModHead, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        rec(format!(
            "C mod_insert {} {}",
            head_name(head, elm),
            io_id(elm)
        ));
        let r = kern::trace::fs_entry(|| (inner().mod_insert)(head, elm));
        rec(format!("R mod_insert {}", io_id(r)));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_find(head: *mut ModHead, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        let r = kern::trace::fs_entry(|| (inner().mod_find)(head, elm));
        rec(format!("C mod_find {} -> {}", io_id(elm), io_id(r)));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_scan(
    head: *mut ModHead,
    scancmp: ScanFn<Io>,
    cb: ScanFn<Io>,
    data: *mut c_void,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        rec("C mod_scan".into());
        let r = kern::trace::fs_entry(|| (inner().mod_scan)(head, scancmp, cb, data));
        rec(format!("R mod_scan {r}"));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_next(elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        let r = kern::trace::fs_entry(|| (inner().mod_next)(elm));
        rec(format!("C mod_next {} -> {}", io_id(elm), io_id(r)));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_prev(elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        let r = kern::trace::fs_entry(|| (inner().mod_prev)(elm));
        rec(format!("C mod_prev {} -> {}", io_id(elm), io_id(r)));
        r
    }
}

unsafe extern "C-unwind" fn w_mod_minmax(head: *mut ModHead, val: c_int) -> *mut Io {
    // SAFETY: forwarded.
    unsafe {
        let r = kern::trace::fs_entry(|| (inner().mod_minmax)(head, val));
        rec(format!(
            "C mod_minmax {} {val} -> {}",
            head_name(head, r),
            io_id(r)
        ));
        r
    }
}

/// The tracing wrapper around `imp`: the table the neighbours get. Only
/// one inner implementation per process (the conformance child runs one).
pub fn tracing_impl(imp: IoImpl) -> IoImpl {
    let old = INNER.swap(Box::into_raw(Box::new(imp)), Ordering::AcqRel);
    // The previous table (if any) is leaked on purpose: a wrapper that
    // still runs on another thread may be reading it.
    let _ = old;
    IoImpl {
        name: imp.name,
        init: w_init,
        read: w_read,
        advance: w_advance,
        new: w_new,
        inval: w_inval,
        release: w_release,
        flush: w_flush,
        wait: w_wait,
        wait_all: w_wait_all,
        direct_read: w_direct_read,
        indirect_read: w_indirect_read,
        direct_write: w_direct_write,
        direct_wait: w_direct_wait,
        direct_uncache: w_direct_uncache,
        write_interlock: w_write_interlock,
        done_interlock: w_done_interlock,
        clear_modify: w_clear_modify,
        clear_modlist: w_clear_modlist,
        flush_sync: w_flush_sync,
        clear_error: w_clear_error,
        clear_error_noassert: w_clear_error_noassert,
        notmeta: w_notmeta,
        limit_backlog: w_limit_backlog,
        modify_volume: w_modify_volume,
        modify_buffer: w_modify_buffer,
        modify_volume_done: w_modify_volume_done,
        modify_buffer_done: w_modify_buffer_done,
        bioops: imp.bioops,
        mod_insert_color: w_mod_insert_color,
        mod_remove_color: w_mod_remove_color,
        mod_remove: w_mod_remove,
        mod_insert: w_mod_insert,
        mod_find: w_mod_find,
        mod_scan: w_mod_scan,
        mod_next: w_mod_next,
        mod_prev: w_mod_prev,
        mod_minmax: w_mod_minmax,
    }
}

// ---------------------------------------------------------------------
// Mount-level state
// ---------------------------------------------------------------------

/// In-order walk of an RB tree given each element's (left, right).
///
/// # Safety
///
/// The tree is well-formed and its elements live.
pub unsafe fn rb_inorder<T>(
    root: *mut T,
    kids: impl Fn(*mut T) -> (*mut T, *mut T),
    out: &mut Vec<*mut T>,
) {
    let mut stack: Vec<*mut T> = Vec::new();
    let mut cur = root;
    let mut guard = 0usize;
    loop {
        while !cur.is_null() {
            stack.push(cur);
            cur = kids(cur).0;
            guard += 1;
            assert!(
                guard < 1_000_000,
                "conformance: RB tree walk does not terminate (corrupt tree)"
            );
        }
        match stack.pop() {
            None => break,
            Some(n) => {
                out.push(n);
                cur = kids(n).1;
            }
        }
    }
}

/// The ios of a mod tree, in order.
///
/// # Safety
///
/// `head` is a live mod tree.
pub unsafe fn mod_tree(head: *mut ffi::hammer_mod_rb_tree) -> Vec<*mut ffi::hammer_io> {
    let mut v = Vec::new();
    // SAFETY: caller contract.
    unsafe {
        rb_inorder(
            (*head).rbh_root,
            |n| ((*n).rb_node.rbe_left, (*n).rb_node.rbe_right),
            &mut v,
        );
    }
    v
}

/// Red-black invariants of a mod tree (parent links, no red-red, equal
/// black heights, order by the C comparator): a list of violations.
///
/// # Safety
///
/// `head` is a live mod tree.
pub unsafe fn check_mod_tree(head: *mut ffi::hammer_mod_rb_tree, name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    // SAFETY: caller contract.
    unsafe {
        fn key(io: *mut ffi::hammer_io) -> u64 {
            // SAFETY: live element (caller of check_mod_tree).
            unsafe {
                (((*io).offset as u64 & ffi::HAMMER_OFF_SHORT_MASK) << 8)
                    | (*(*io).volume).vol_no as u64
            }
        }
        fn walk(
            n: *mut ffi::hammer_io,
            parent: *mut ffi::hammer_io,
            errs: &mut Vec<String>,
            name: &str,
        ) -> i32 {
            if n.is_null() {
                return 1;
            }
            // SAFETY: live element.
            unsafe {
                let e = &(*n).rb_node;
                if e.rbe_parent != parent {
                    errs.push(format!("{name}: bad parent link at {}", io_id(n)));
                }
                if e.rbe_color == 1 && !parent.is_null() && (*parent).rb_node.rbe_color == 1 {
                    errs.push(format!("{name}: red-red at {}", io_id(n)));
                }
                let l = walk(e.rbe_left, n, errs, name);
                let r = walk(e.rbe_right, n, errs, name);
                if l != r {
                    errs.push(format!("{name}: black height {l}/{r} at {}", io_id(n)));
                }
                l + if e.rbe_color == 1 { 0 } else { 1 }
            }
        }
        let root = (*head).rbh_root;
        if !root.is_null() && (*root).rb_node.rbe_color == 1 {
            errs.push(format!("{name}: red root"));
        }
        walk(root, null_mut(), &mut errs, name);
        let v = mod_tree(head);
        for w in v.windows(2) {
            if key(w[0]) >= key(w[1]) {
                errs.push(format!(
                    "{name}: out of order {} {}",
                    io_id(w[0]),
                    io_id(w[1])
                ));
            }
        }
        for &io in &v {
            if root_name((*io).hmp, (*io).mod_root) != name {
                errs.push(format!(
                    "{name}: {} has mod_root {}",
                    io_id(io),
                    tree_name(io)
                ));
            }
        }
    }
    errs
}

/// The mount's I/O bookkeeping on one line: space counters, iorun list,
/// critical error flag, per-volume NEEDFLUSH.
///
/// # Safety
///
/// `hmp` is live.
pub unsafe fn mount_state(hmp: ffi::hammer_mount_t) -> String {
    // SAFETY: caller contract; the iorun list holds live ios (and dummy
    // placemarkers of waiters, which only a single-threaded run can't
    // have outside wait_all).
    unsafe {
        let mut s = format!(
            "mount lds={:x} irs={:x} crit={} iorun=[",
            (*hmp).locked_dirty_space,
            (*hmp).io_running_space,
            ((*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR != 0) as u8
        );
        let mut io = (*hmp).iorun_list.tqh_first;
        let mut n = 0;
        while !io.is_null() && n < 10_000 {
            let _ = write!(s, "{} ", io_id(io));
            io = (*io).iorun_entry.tqe_next;
            n += 1;
        }
        s.push_str("] vols=");
        let mut vols = Vec::new();
        rb_inorder(
            (*hmp).rb_vols_root.rbh_root,
            |v: *mut ffi::hammer_volume| ((*v).rb_node.rbe_left, (*v).rb_node.rbe_right),
            &mut vols,
        );
        for v in vols {
            let _ = write!(s, "{}:{:x} ", (*v).vol_no, (*v).vol_flags);
        }
        s
    }
}

/// The shared counters the I/O layer updates, on one line.
pub fn counters_line() -> String {
    use crate::hosted::hammer::globals as g;
    format!(
        "counters dirty={:x} locked={:x} rread={:x} rwrite={:x} sread={:x} swrite={:x}",
        g::hammer_count_dirtybufspace.load(Ordering::SeqCst),
        g::hammer_count_io_locked.load(Ordering::SeqCst),
        g::hammer_count_io_running_read.load(Ordering::SeqCst),
        g::hammer_count_io_running_write.load(Ordering::SeqCst),
        g::hammer_stats_disk_read.load(Ordering::SeqCst),
        g::hammer_stats_disk_write.load(Ordering::SeqCst),
    )
}

/// Every buffer of the machine: identity, flags, queue, lock owner, the
/// io on its b_dep, command and error.
pub fn buffers_lines() -> Vec<String> {
    buffers_keyed().into_iter().map(|x| x.1).collect()
}

/// [`buffers_lines`] keyed by buffer identity.
pub fn buffers_keyed() -> Vec<(String, String)> {
    let mut v: Vec<_> = kern::buffers()
        .into_iter()
        .map(|b| {
            // SAFETY: b_dep's first element is the io of a live HAMMER
            // structure while the buffer is associated.
            let dep = unsafe { io_id(b.dep_first as *const ffi::hammer_io) };
            (
                (b.id.vnode, b.id.offset),
                format!("{}:{:x}", b.id.vnode, b.id.offset),
                format!(
                    "buf {}:{:x}:{:x} fl={:x} q={:?} lk={:?} dep={} cmd={} err={} b2={:x} ops={}",
                    b.id.vnode,
                    b.id.offset,
                    b.id.size,
                    b.flags,
                    b.queue,
                    b.lock,
                    dep,
                    b.cmd,
                    b.error,
                    b.bio2_offset,
                    (!b.ops.is_null()) as u8
                ),
            )
        })
        .collect();
    v.sort_by_key(|a| a.0);
    v.into_iter().map(|x| (x.1, x.2)).collect()
}
