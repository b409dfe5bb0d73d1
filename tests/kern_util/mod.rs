//! Helpers for the hosted-kernel tests: a scriptable bioops table standing
//! in for HAMMER, buffer data access and small wrappers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use hammer_io::hosted::kern::{self, LockOwner, Queue};
use hammer_io::sys::ffi;

pub const BS: i32 = 16384;

/// What the fake io_deallocate does for a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dealloc {
    /// Drop the dependency (buf_dep_init).
    Release,
    /// Refuse: set B_LOCKED.
    Lock,
}

/// A callback invocation, with the buffer state the callback saw.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: &'static str,
    pub bp: usize,
    pub loffset: i64,
    pub flags: u32,
    pub queue: Queue,
    pub lock: LockOwner,
    pub cmd: u32,
    pub thread: u32,
}

#[derive(Default)]
pub struct Fake {
    pub calls: Vec<Call>,
    pub dealloc: HashMap<i64, Dealloc>,
    /// checkwrite answer by loffset (default 0) and whether to set B_LOCKED
    /// on a veto.
    pub checkwrite: HashMap<i64, (i32, bool)>,
    pub checkread: HashMap<i64, i32>,
    pub countdeps: HashMap<i64, i32>,
    /// io_complete clears B_ERROR for these offsets.
    pub complete_clears_error: Vec<i64>,
    /// io_complete drops the dependency for these offsets.
    pub complete_releases: Vec<i64>,
    /// worklist elements by buffer address.
    pub deps: HashMap<usize, Dep>,
}

/// A heap worklist element standing in for a hammer_io.
pub struct Dep(pub Box<ffi::worklist>);
// SAFETY: only touched by the thread that owns the buffer at the time.
unsafe impl Send for Dep {}

static FAKE: Mutex<Option<Fake>> = Mutex::new(None);

pub fn fake() -> MutexGuard<'static, Option<Fake>> {
    FAKE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn reset_fake() {
    *fake() = Some(Fake::default());
}

pub fn calls() -> Vec<Call> {
    fake().as_ref().map(|f| f.calls.clone()).unwrap_or_default()
}

pub fn calls_named(name: &str) -> Vec<Call> {
    calls().into_iter().filter(|c| c.name == name).collect()
}

fn record(name: &'static str, bp: *mut ffi::buf) {
    let s = kern::snapshot(bp);
    let c = Call {
        name,
        bp: bp as usize,
        loffset: s.loffset,
        flags: s.flags,
        queue: s.queue,
        lock: s.lock,
        cmd: s.cmd,
        thread: kern::current_thread_id(),
    };
    if let Some(f) = fake().as_mut() {
        f.calls.push(c);
    }
}

pub fn flags(bp: *mut ffi::buf) -> u32 {
    // SAFETY: test buffers stay allocated during the test.
    unsafe { std::ptr::addr_of!((*bp).b_flags).read_volatile() }
}

pub fn set_flags(bp: *mut ffi::buf, f: u32) {
    // SAFETY: as above; the caller owns the buffer.
    unsafe { std::ptr::addr_of_mut!((*bp).b_flags).write_volatile(f) }
}

pub fn or_flags(bp: *mut ffi::buf, f: u32) {
    set_flags(bp, flags(bp) | f);
}

pub fn clear_flags(bp: *mut ffi::buf, f: u32) {
    set_flags(bp, flags(bp) & !f);
}

fn loff(bp: *mut ffi::buf) -> i64 {
    kern::snapshot(bp).loffset
}

/// buf_dep_init().
pub fn dep_init(bp: *mut ffi::buf) {
    // SAFETY: the caller owns the buffer.
    unsafe {
        (*bp).b_ops = std::ptr::null_mut();
        (*bp).b_dep.lh_first = std::ptr::null_mut();
    }
    if let Some(f) = fake().as_mut() {
        f.deps.remove(&(bp as usize));
    }
}

unsafe extern "C-unwind" fn fk_start(bp: *mut ffi::buf) {
    record("io_start", bp);
}

unsafe extern "C-unwind" fn fk_complete(bp: *mut ffi::buf) {
    record("io_complete", bp);
    let o = loff(bp);
    let clear = fake()
        .as_ref()
        .is_some_and(|f| f.complete_clears_error.contains(&o));
    if clear {
        clear_flags(bp, ffi::B_ERROR);
    }
    let rel = fake()
        .as_ref()
        .is_some_and(|f| f.complete_releases.contains(&o));
    if rel {
        dep_init(bp);
    }
}

unsafe extern "C-unwind" fn fk_deallocate(bp: *mut ffi::buf) {
    record("io_deallocate", bp);
    let o = loff(bp);
    let act = fake()
        .as_ref()
        .and_then(|f| f.dealloc.get(&o).copied())
        .unwrap_or(Dealloc::Release);
    match act {
        Dealloc::Release => dep_init(bp),
        Dealloc::Lock => or_flags(bp, ffi::B_LOCKED),
    }
}

unsafe extern "C-unwind" fn fk_checkwrite(bp: *mut ffi::buf) -> i32 {
    record("io_checkwrite", bp);
    let o = loff(bp);
    let (r, lockit) = fake()
        .as_ref()
        .and_then(|f| f.checkwrite.get(&o).copied())
        .unwrap_or((0, false));
    if r != 0 && lockit {
        or_flags(bp, ffi::B_LOCKED);
    }
    r
}

unsafe extern "C-unwind" fn fk_checkread(bp: *mut ffi::buf) -> i32 {
    record("io_checkread", bp);
    let o = loff(bp);
    fake()
        .as_ref()
        .and_then(|f| f.checkread.get(&o).copied())
        .unwrap_or(0)
}

unsafe extern "C-unwind" fn fk_countdeps(bp: *mut ffi::buf, _n: i32) -> i32 {
    record("io_countdeps", bp);
    let o = loff(bp);
    fake()
        .as_ref()
        .and_then(|f| f.countdeps.get(&o).copied())
        .unwrap_or(0)
}

unsafe extern "C-unwind" fn fk_fsync(_vp: *mut ffi::vnode) -> i32 {
    0
}

unsafe extern "C-unwind" fn fk_sync(_mp: *mut ffi::mount) -> i32 {
    0
}

unsafe extern "C-unwind" fn fk_movedeps(_a: *mut ffi::buf, _b: *mut ffi::buf) {}

/// The fake bioops table (static, like hammer_bioops).
pub fn fake_ops() -> *mut ffi::bio_ops {
    use std::sync::OnceLock;
    struct Ops(Box<ffi::bio_ops>);
    // SAFETY: the table is immutable after creation.
    unsafe impl Send for Ops {}
    // SAFETY: as above.
    unsafe impl Sync for Ops {}
    static OPS: OnceLock<Ops> = OnceLock::new();
    let o = OPS.get_or_init(|| {
        // SAFETY: an all-zero list entry is the empty initial state.
        unsafe {
            Ops(Box::new(ffi::bio_ops {
                entry: std::mem::zeroed(),
                io_start: Some(fk_start),
                io_complete: Some(fk_complete),
                io_deallocate: Some(fk_deallocate),
                io_fsync: Some(fk_fsync),
                io_sync: Some(fk_sync),
                io_movedeps: Some(fk_movedeps),
                io_countdeps: Some(fk_countdeps),
                io_checkread: Some(fk_checkread),
                io_checkwrite: Some(fk_checkwrite),
            }))
        }
    });
    (&*o.0 as *const ffi::bio_ops).cast_mut()
}

/// Attach a fake dependency (like HAMMER's io) to a buffer the caller owns.
pub fn attach_dep(bp: *mut ffi::buf) {
    let mut wl: Box<ffi::worklist> = Box::new(
        // SAFETY: a worklist is two pointers; all-zero is valid.
        unsafe { std::mem::zeroed() },
    );
    // SAFETY: the caller owns the buffer; wl outlives the association
    // (kept in the fake's map until dep_init()).
    unsafe {
        (*bp).b_ops = fake_ops();
        wl.node.le_next = std::ptr::null_mut();
        wl.node.le_prev = std::ptr::addr_of_mut!((*bp).b_dep.lh_first);
        (*bp).b_dep.lh_first = &mut *wl;
    }
    if let Some(f) = fake().as_mut() {
        f.deps.insert(bp as usize, Dep(wl));
    }
}

pub fn has_dep(bp: *mut ffi::buf) -> bool {
    // SAFETY: reading a field of a live buffer.
    unsafe {
        !std::ptr::addr_of!((*bp).b_dep.lh_first)
            .read_volatile()
            .is_null()
    }
}

pub fn write_data(bp: *mut ffi::buf, off: usize, data: &[u8]) {
    // SAFETY: the caller owns the buffer and stays within b_bcount.
    unsafe {
        let d = (*bp).b_data as *mut u8;
        assert!(!d.is_null());
        assert!(off + data.len() <= (*bp).b_bcount as usize);
        std::ptr::copy_nonoverlapping(data.as_ptr(), d.add(off), data.len());
    }
}

pub fn read_data(bp: *mut ffi::buf, off: usize, len: usize) -> Vec<u8> {
    // SAFETY: as write_data.
    unsafe {
        let d = (*bp).b_data as *const u8;
        assert!(off + len <= (*bp).b_bcount as usize);
        std::slice::from_raw_parts(d.add(off), len).to_vec()
    }
}

pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add((i * 7) as u8)).collect()
}

pub fn getblk(vp: *mut ffi::vnode, off: i64, size: i32) -> *mut ffi::buf {
    // SAFETY: vp is a vnode of the machine.
    unsafe { ffi::getblk(vp, off, size, 0, 0) }
}

pub fn bread(vp: *mut ffi::vnode, off: i64, size: i32) -> (i32, *mut ffi::buf) {
    let mut bp = std::ptr::null_mut();
    // SAFETY: bread() as the kernel's inline does it.
    let e = unsafe {
        ffi::breadnx(
            vp,
            off,
            size,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut bp,
        )
    };
    (e, bp)
}

pub fn kernproc(bp: *mut ffi::buf) {
    // SAFETY: BUF_KERNPROC on a buffer the caller holds.
    unsafe { ffi::lockmgr_kernproc(std::ptr::addr_of_mut!((*bp).b_lock)) }
}

pub fn bqrelse(bp: *mut ffi::buf) {
    // SAFETY: the caller holds the buffer.
    unsafe { ffi::bqrelse(bp) }
}

pub fn brelse(bp: *mut ffi::buf) {
    // SAFETY: the caller holds the buffer.
    unsafe { ffi::brelse(bp) }
}

pub fn bdwrite(bp: *mut ffi::buf) {
    // SAFETY: the caller holds the buffer.
    unsafe { ffi::bdwrite(bp) }
}

pub fn bremfree(bp: *mut ffi::buf) {
    // SAFETY: the caller holds the buffer.
    unsafe { ffi::bremfree(bp) }
}

pub fn regetblk(bp: *mut ffi::buf) {
    // SAFETY: bp is a buffer of the machine.
    unsafe { ffi::regetblk(bp) }
}

pub fn findblk(vp: *mut ffi::vnode, off: i64, flags: i32) -> *mut ffi::buf {
    // SAFETY: vp is a vnode of the machine.
    unsafe { ffi::findblk(vp, off, flags) }
}

/// A dirty (bdwrite'n) buffer at `off` filled with `pat`, optionally with
/// a fake dependency and B_CLUSTEROK.
pub fn dirty_buf(
    vp: *mut ffi::vnode,
    off: i64,
    pat: u8,
    dep: bool,
    clusterok: bool,
) -> *mut ffi::buf {
    let bp = getblk(vp, off, BS);
    write_data(bp, 0, &pattern(pat, BS as usize));
    if dep {
        attach_dep(bp);
    }
    if clusterok {
        or_flags(bp, ffi::B_CLUSTEROK);
    }
    bdwrite(bp);
    bp
}

/// Assert that `f` panics the kernel with a message containing `needle`,
/// then reset the panic state.
pub fn expect_kernel_panic<R>(needle: &str, f: impl FnOnce() -> R) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let err = match r {
        Ok(_) => panic!("expected a kernel panic containing {needle:?}"),
        Err(e) => e,
    };
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains(needle),
        "panic message {msg:?} does not contain {needle:?}"
    );
    assert!(kern::panic_message().is_some(), "panicstr was not set");
    kern::reset_after_panic();
    assert!(kern::panic_message().is_none());
}

/// Boot a deterministic machine with a fresh fake.
pub fn boot_det(seed: u64) {
    reset_fake();
    kern::boot(kern::Config::deterministic(seed));
}
