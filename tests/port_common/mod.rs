//! Shared helpers of the `port_*` tests: every scenario runs once against
//! the Rust port and once against the C reference (when it is compiled
//! in), with the same assertions, so a scenario passing on both shows the
//! port does what the original does.
//!
//! The helpers read the state the I/O layer keeps (the `hammer_io`
//! bitfields, its trees and lists, the mount's counters) and the kernel's
//! view of a buffer (flags, queue, lock owner, `b_dep`).
#![allow(dead_code, unused_imports)]

use core::ffi::{c_int, c_void};
use core::ptr::{addr_of_mut, null_mut};

pub use hammer_io::hosted::hammer::invariants;
pub use hammer_io::hosted::hammer::lock;
pub use hammer_io::hosted::hammer::objects;
pub use hammer_io::hosted::hammer::{globals, BufRef, IoImpl, Mount, VolRef, Zone};
pub use hammer_io::hosted::kern::{self, Config, Fault, FaultOp, LockOwner, Queue};
pub use hammer_io::sys::ffi;

/// Size of a HAMMER buffer.
pub const BUFSIZE: usize = ffi::HAMMER_BUFSIZE as usize;

/// Kernel entry points the tests call directly, with their real
/// (unwinding) ABI.
pub mod k {
    use super::ffi;
    use core::ffi::{c_int, c_void};

    extern "C-unwind" {
        pub fn getblk(
            vp: *mut ffi::vnode,
            loffset: ffi::off_t,
            size: c_int,
            blkflags: c_int,
            slptimeo: c_int,
        ) -> *mut ffi::buf;
        pub fn findblk(vp: *mut ffi::vnode, loffset: ffi::off_t, flags: c_int) -> *mut ffi::buf;
        pub fn regetblk(bp: *mut ffi::buf);
        pub fn bremfree(bp: *mut ffi::buf);
        pub fn bqrelse(bp: *mut ffi::buf);
        pub fn brelse(bp: *mut ffi::buf);
        pub fn bdwrite(bp: *mut ffi::buf);
        pub fn bawrite(bp: *mut ffi::buf);
        pub fn bundirty(bp: *mut ffi::buf);
        pub fn breadnx(
            vp: *mut ffi::vnode,
            loffset: ffi::off_t,
            size: c_int,
            raoffset: *mut ffi::off_t,
            rabsize: *mut c_int,
            cnt: c_int,
            bpp: *mut *mut ffi::buf,
        ) -> c_int;
        pub fn push_bio(bio: *mut ffi::bio) -> *mut ffi::bio;
        pub fn vput(vp: *mut ffi::vnode);
        pub fn crc32(buf: *const c_void, size: usize) -> u32;
    }
}

// ---------------------------------------------------------------------
// Running a scenario against both implementations
// ---------------------------------------------------------------------

/// Runs `body` against `imp`, or says loudly that the implementation is
/// not compiled in.
pub fn run(imp: Option<IoImpl>, which: &str, body: fn(IoImpl)) {
    match imp {
        Some(imp) => body(imp),
        None => eprintln!(
            "!!! the {which} implementation of hammer_io.c is not compiled in: \
             this test is SKIPPED !!!"
        ),
    }
}

/// `both!(name, |imp| { ... })`: a scenario run against both
/// implementations, as the tests `name::rust` and `name::reference`.
macro_rules! both {
    ($(#[$m:meta])* $name:ident, |$imp:ident| $body:block) => {
        $(#[$m])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($imp: IoImpl) $body

            #[test]
            fn rust() {
                run(IoImpl::try_rust(), "Rust port", body)
            }

            #[test]
            fn reference() {
                run(IoImpl::try_reference(), "C reference", body)
            }
        }
    };
}

/// Takes the machine and boots it with `cfg`; HAMMER's counters and
/// tunables are reset and the console is emptied.
pub fn machine(cfg: Config) -> kern::ExclusiveGuard {
    let g = kern::exclusive();
    kern::boot(cfg);
    globals::reset();
    kern::console_take();
    g
}

/// A deterministic machine (I/O completes only when the test says so).
pub fn det(seed: u64) -> kern::ExclusiveGuard {
    machine(Config::deterministic(seed))
}

/// A mount of `nvol` volumes running `imp`.
pub fn mount(imp: IoImpl, nvol: usize) -> Mount {
    Mount::builder().implementation(imp).volumes(nvol).build()
}

/// The I/O layer's invariants hold (and the kernel did not panic).
pub fn check(m: &Mount, step: &str) {
    let mut errs = invariants::check(m);
    if let Some(p) = kern::panic_message() {
        errs.push(format!("kernel panicked: {p}"));
    }
    assert!(
        errs.is_empty(),
        "[{}] invariants after {step}:\n  {}",
        m.implementation().name,
        errs.join("\n  ")
    );
}

/// Lets all I/O finish, checks the invariants, unmounts and checks that
/// every counter went back to zero.
pub fn finish(m: Mount) {
    let name = m.implementation().name;
    kern::quiesce();
    check(&m, "the test");
    m.unmount();
    kern::quiesce();
    let errs = invariants::check_quiescent();
    assert!(
        errs.is_empty(),
        "[{name}] after unmount:\n  {}",
        errs.join("\n  ")
    );
    assert!(
        kern::background_panics().is_empty(),
        "{:?}",
        kern::background_panics()
    );
}

// ---------------------------------------------------------------------
// hammer_io state
// ---------------------------------------------------------------------

/// Which of the mount's trees an io is on (`io->mod_root`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    None,
    Volu,
    Meta,
    Undo,
    Data,
    Lose,
    Other,
}

/// Everything the I/O layer keeps in a `hammer_io`, plus its membership
/// of `iorun_list` and its reference count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoSnap {
    pub running: bool,
    pub waiting: bool,
    pub ioerror: bool,
    pub modified: bool,
    pub released: bool,
    pub waitdep: bool,
    pub waitmod: bool,
    pub reclaim: bool,
    pub gencrc: bool,
    pub modify_refs: c_int,
    pub root: Root,
    pub on_iorun: bool,
    pub has_bp: bool,
    pub refs: u32,
}

/// `io->mod_root` named.
pub fn root_of(m: &Mount, io: *mut ffi::hammer_io) -> Root {
    let hmp = m.hmp();
    // SAFETY: the mount and io are live; only addresses are compared.
    unsafe {
        let r = (*io).mod_root;
        if r.is_null() {
            Root::None
        } else if r == addr_of_mut!((*hmp).volu_root) {
            Root::Volu
        } else if r == addr_of_mut!((*hmp).meta_root) {
            Root::Meta
        } else if r == addr_of_mut!((*hmp).undo_root) {
            Root::Undo
        } else if r == addr_of_mut!((*hmp).data_root) {
            Root::Data
        } else if r == addr_of_mut!((*hmp).lose_root) {
            Root::Lose
        } else {
            Root::Other
        }
    }
}

/// The ios on `hmp->iorun_list`, head first (placemarkers included).
pub fn iorun(m: &Mount) -> Vec<*mut ffi::hammer_io> {
    let mut v = Vec::new();
    // SAFETY: the list links of a live mount; read without io_token, which
    // is fine on a machine where nothing else runs.
    unsafe {
        let mut io = (*m.hmp()).iorun_list.tqh_first;
        while !io.is_null() {
            v.push(io);
            io = (*io).iorun_entry.tqe_next;
        }
    }
    v
}

/// A snapshot of `io`.
pub fn io_snap(m: &Mount, io: *mut ffi::hammer_io) -> IoSnap {
    let on_iorun = iorun(m).contains(&io);
    // SAFETY: `io` is a live io of the mount.
    unsafe {
        IoSnap {
            running: (*io).running() != 0,
            waiting: (*io).waiting() != 0,
            ioerror: (*io).ioerror() != 0,
            modified: (*io).modified() != 0,
            released: (*io).released() != 0,
            waitdep: (*io).waitdep() != 0,
            waitmod: (*io).waitmod() != 0,
            reclaim: (*io).reclaim() != 0,
            gencrc: (*io).gencrc() != 0,
            modify_refs: (*io).modify_refs,
            root: root_of(m, io),
            on_iorun,
            has_bp: !(*io).bp.is_null(),
            refs: lock::isactive(addr_of_mut!((*io).lock)),
        }
    }
}

/// `io->bp`.
pub fn bp_of(io: *mut ffi::hammer_io) -> *mut ffi::buf {
    // SAFETY: live io.
    unsafe { (*io).bp }
}

/// `io->bytes`.
pub fn bytes_of(io: *mut ffi::hammer_io) -> i64 {
    // SAFETY: live io.
    unsafe { (*io).bytes as i64 }
}

/// `hmp->io_running_space`.
pub fn io_running_space(m: &Mount) -> i64 {
    // SAFETY: live mount.
    unsafe { (*m.hmp()).io_running_space }
}

/// `hmp->locked_dirty_space`.
pub fn locked_dirty_space(m: &Mount) -> i64 {
    // SAFETY: live mount.
    unsafe { (*m.hmp()).locked_dirty_space }
}

/// `HAMMER_MOUNT_CRITICAL_ERROR` is set on the mount.
pub fn critical(m: &Mount) -> bool {
    m.critical_error()
}

/// `volume->vol_flags`.
pub fn vol_flags(v: ffi::hammer_volume_t) -> c_int {
    // SAFETY: live volume.
    unsafe { (*v).vol_flags }
}

/// The volume structure of volume `vol_no` (not referenced: volumes live
/// as long as the mount).
pub fn volume_ptr(m: &Mount, vol_no: i32) -> ffi::hammer_volume_t {
    let v = m.get_volume(vol_no).expect("volume");
    let p = v.as_ptr();
    m.rel_volume(v);
    p
}

/// The device vnode of volume `vol_no`.
pub fn devvp(m: &Mount, vol_no: usize) -> *mut ffi::vnode {
    m.devices()[vol_no].vnode()
}

// ---------------------------------------------------------------------
// Buffers
// ---------------------------------------------------------------------

/// The kernel's view of a buffer.
pub fn bsnap(bp: *mut ffi::buf) -> kern::BufSnapshot {
    kern::snapshot(bp)
}

/// Whether all of `f` are set in the buffer's flags.
pub fn bflag(bp: *mut ffi::buf, f: u32) -> bool {
    bsnap(bp).flags & f == f
}

/// Who holds the buffer lock.
pub fn owner(bp: *mut ffi::buf) -> LockOwner {
    bsnap(bp).lock
}

/// The calling thread as a buffer-lock owner.
pub fn me() -> LockOwner {
    LockOwner::Thread(kern::current_thread_id())
}

/// Locks a passively associated (or B_LOCKED) buffer like HAMMER does:
/// `regetblk`.
pub fn relock(bp: *mut ffi::buf) {
    // SAFETY: a buffer of the machine with a dependency or B_LOCKED.
    unsafe { k::regetblk(bp) }
}

/// `bqrelse(bp)`.
pub fn bqrelse(bp: *mut ffi::buf) {
    // SAFETY: a buffer the caller holds locked.
    unsafe { k::bqrelse(bp) }
}

/// `brelse(bp)`.
pub fn brelse(bp: *mut ffi::buf) {
    // SAFETY: a buffer the caller holds locked.
    unsafe { k::brelse(bp) }
}

/// The buffer at a device offset, locked and off its queue
/// (`findblk(vp, off, 0)` + `bremfree`).
pub fn grab(vp: *mut ffi::vnode, off: i64) -> *mut ffi::buf {
    // SAFETY: vp is a vnode of the machine.
    unsafe {
        let bp = k::findblk(vp, off, 0);
        assert!(!bp.is_null(), "no buffer at {off:#x}");
        k::bremfree(bp);
        bp
    }
}

/// A copy of a buffer's data.
pub fn bdata(bp: *mut ffi::buf) -> Vec<u8> {
    // SAFETY: a live buffer maps b_bufsize bytes at b_data.
    unsafe {
        core::slice::from_raw_parts((*bp).b_data as *const u8, (*bp).b_bufsize as usize).to_vec()
    }
}

/// The bioops table of an implementation.
pub fn ops(imp: IoImpl) -> &'static ffi::bio_ops {
    // SAFETY: a static table that is never written.
    unsafe { &*imp.bioops }
}

/// `bp->b_ops->io_checkwrite(bp)`.
pub fn checkwrite(imp: IoImpl, bp: *mut ffi::buf) -> c_int {
    // SAFETY: bp is a locked buffer carrying an io of `imp`.
    unsafe { (ops(imp).io_checkwrite.expect("io_checkwrite"))(bp) }
}

/// `bp->b_ops->io_deallocate(bp)`.
pub fn deallocate(imp: IoImpl, bp: *mut ffi::buf) {
    // SAFETY: as for `checkwrite`.
    unsafe { (ops(imp).io_deallocate.expect("io_deallocate"))(bp) }
}

/// `bp->b_ops->io_complete(bp)`.
pub fn complete(imp: IoImpl, bp: *mut ffi::buf) {
    // SAFETY: as for `checkwrite`.
    unsafe { (ops(imp).io_complete.expect("io_complete"))(bp) }
}

/// A recognisable pattern.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------------
// Driving the I/O layer
// ---------------------------------------------------------------------

/// Modifies a referenced buffer (no UNDO) through the implementation.
pub fn dirty(m: &Mount, b: &BufRef, seed: u8) {
    m.modify(None, b, 0, &pattern(seed, 64), false);
}

/// `hammer_io_write_interlock` + `hammer_io_flush(io, reclaim)` +
/// `hammer_io_done_interlock`, the flusher's way of writing an io.
pub fn flush(imp: IoImpl, io: *mut ffi::hammer_io, reclaim: c_int) {
    // SAFETY: the caller holds a reference on the io.
    unsafe {
        (imp.write_interlock)(io);
        (imp.flush)(io, reclaim);
        (imp.done_interlock)(io);
    }
}

/// Drops the last reference of a buffer the way `hammer_rel_buffer` does
/// (interlock on the 1->0 transition, `hammer_io_release(io, flush)`,
/// interlock released) but returns what `hammer_io_release` returned
/// instead of disposing of it; the caller must `brelse` a non-NULL result.
/// The `hammer_buffer` structure is kept (the mount's teardown unloads it).
pub fn release_last(imp: IoImpl, b: BufRef, flush: c_int) -> *mut ffi::buf {
    let buffer = b.as_ptr();
    // SAFETY: the handle held the only reference.
    unsafe {
        let io = addr_of_mut!((*buffer).io);
        let lk = addr_of_mut!((*io).lock);
        assert!(lock::oneref(lk), "release_last needs the only reference");
        assert!(lock::rel_interlock(lk, false));
        let bp = (imp.release)(io, flush);
        lock::rel_interlock_done(lk, false);
        bp
    }
}

/// [`release_last`] for a volume.
pub fn release_last_volume(imp: IoImpl, v: VolRef, flush: c_int) -> *mut ffi::buf {
    let volume = v.as_ptr();
    // SAFETY: the handle held the only reference.
    unsafe {
        let io = addr_of_mut!((*volume).io);
        let lk = addr_of_mut!((*io).lock);
        assert!(
            lock::oneref(lk),
            "release_last_volume needs the only reference"
        );
        assert!(lock::rel_interlock(lk, false));
        (*volume).ondisk = null_mut();
        let bp = (imp.release)(io, flush);
        lock::rel_interlock_done(lk, false);
        bp
    }
}

/// Expects `f` to panic the hosted kernel with a message containing
/// `needle`; then forgets the panic (and the tokens the unwinding thread
/// still held).
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
    let pm = kern::panic_message().expect("panicstr was set");
    assert!(
        pm.contains(needle),
        "panicstr {pm:?} does not contain {needle:?}"
    );
    kern::reset_after_panic();
    assert!(kern::panic_message().is_none());
}

/// The zone-2 offset of a zone-X offset of a blockmap zone.
pub fn zone2(zone_x: u64) -> u64 {
    (zone_x & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER
}

/// A `hammer_buffer` outside the mount's buffer tree, set up like
/// `hammer_get_buffer` does (io initialised through the implementation),
/// for driving `hammer_io_read` / `_new` / `_release` on their own.
pub struct Standalone {
    pub buffer: *mut ffi::hammer_buffer,
}

impl Standalone {
    /// An io of `type_` for zone-X offset `zone_x` at device offset
    /// `dev_off` of volume `vol_no`.
    pub fn new(
        imp: IoImpl,
        m: &Mount,
        vol_no: i32,
        type_: ffi::hammer_io_type,
        zone_x: u64,
        dev_off: i64,
    ) -> Standalone {
        let volume = volume_ptr(m, vol_no);
        // SAFETY: a fresh, zeroed structure (valid all-zero), kept alive by
        // the handle; the volume outlives it.
        unsafe {
            let buffer = Box::into_raw(Box::<ffi::hammer_buffer>::new_zeroed().assume_init());
            (imp.init)(addr_of_mut!((*buffer).io), volume, type_);
            (*buffer).zoneX_offset = zone_x;
            (*buffer).zone2_offset = zone2(zone_x);
            (*buffer).io.offset = dev_off;
            (*buffer).io.bytes = ffi::HAMMER_BUFSIZE;
            let clist = addr_of_mut!((*buffer).clist);
            (*clist).tqh_first = null_mut();
            (*clist).tqh_last = addr_of_mut!((*clist).tqh_first);
            hammer_io::hosted::hammer::lock::hammer_ref(addr_of_mut!((*buffer).io.lock));
            Standalone { buffer }
        }
    }

    pub fn io(&self) -> *mut ffi::hammer_io {
        // SAFETY: only the field address is computed.
        unsafe { addr_of_mut!((*self.buffer).io) }
    }

    /// Gives the buffer-cache buffer back (release with flush, then
    /// brelse), and frees the structure.
    pub fn destroy(self, imp: IoImpl) {
        // SAFETY: the structure is ours; nothing else references it.
        unsafe {
            let io = self.io();
            if (*io).modified() != 0 {
                (imp.clear_modify)(io, 1);
            }
            let bp = (imp.release)(io, 1);
            if !bp.is_null() {
                k::brelse(bp);
            }
            assert!((*io).bp.is_null(), "standalone io still has a buffer");
            (imp.clear_modlist)(io);
            drop(Box::from_raw(self.buffer));
        }
    }
}

/// Reads the 32-bit little-endian value at `at` of `v`.
pub fn le32(v: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(v[at..at + 4].try_into().unwrap())
}

/// Reads the 64-bit little-endian value at `at` of `v`.
pub fn le64(v: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(v[at..at + 8].try_into().unwrap())
}

/// `crc32()` of the hosted kernel.
pub fn crc32(data: &[u8]) -> u32 {
    kern::crc32_bytes(0, data)
}

/// Null `void *`.
pub fn nullv() -> *mut c_void {
    null_mut()
}

// ---------------------------------------------------------------------
// Kernel trace and panic state
// ---------------------------------------------------------------------

pub use hammer_io::hosted::kern::trace;

/// Installs a trace recorder (replacing any sink).
pub fn record() -> trace::Recorder {
    trace::Recorder::install()
}

/// Names `p` in trace events.
pub fn name_obj<T>(p: *const T, name: &str) {
    trace::name_object(p.cast(), name);
}

/// How many `func` calls on the object named `name` the events hold.
pub fn calls_on(ev: &[trace::Event], func: &str, name: &str) -> usize {
    ev.iter()
        .filter(|e| {
            e.func == func
                && e.kind == trace::Kind::Call
                && e.obj == Some(trace::ObjId::Named(name.to_string()))
        })
        .count()
}

/// How many `func` calls the events hold.
pub fn calls(ev: &[trace::Event], func: &str) -> usize {
    ev.iter()
        .filter(|e| e.func == func && e.kind == trace::Kind::Call)
        .count()
}

/// Sets or clears the kernel's `panicstr` directly (as if the system were
/// already panicking), without unwinding anything.
pub fn set_panicstr(on: bool) {
    static MSG: &core::ffi::CStr = c"test: already panicking";
    // SAFETY: the hosted kernel's `panicstr` is a plain pointer global
    // that is only read; the message is static.
    unsafe {
        ffi::panicstr = if on { MSG.as_ptr() } else { core::ptr::null() };
    }
}

/// Runs `f`, expecting a kernel panic containing `needle`, and leaves the
/// system in the panicked state (`panicstr` set); returns the message.
pub fn catch_kernel_panic<R>(needle: &str, f: impl FnOnce() -> R) -> String {
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
        "panic {msg:?} does not contain {needle:?}"
    );
    msg
}
