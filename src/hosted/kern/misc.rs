//! Small kernel services: panic and console, the exported globals `hz`
//! and `panicstr`, atomic ops, bcopy/bzero, the kernel's CRC-32 and the
//! spinlocks used by RB_SCAN.

use std::prelude::rust_2021::*;
#[allow(unused_imports)]
use std::{eprint, format};

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::ffi::{CStr, CString};
use std::sync::Mutex;

use crate::sys::ffi;

use super::machine::me_nolock;
use super::trace;

/// Clock ticks per second (exported as the kernel's `int hz`).
#[no_mangle]
pub static hz: AtomicI32 = AtomicI32::new(100);

/// Non-NULL once the system has panicked (exported as `const char *panicstr`).
#[no_mangle]
pub static panicstr: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) fn set_hz(v: i32) {
    hz.store(v, Ordering::SeqCst);
}

struct PanicState {
    msg: Option<CString>,
    /// (machine generation, thread id) of the panicking kernel thread.
    who: Option<(u64, u32)>,
}

static PANIC: Mutex<PanicState> = Mutex::new(PanicState {
    msg: None,
    who: None,
});
static CONSOLE: Mutex<String> = Mutex::new(String::new());
static ECHO: AtomicU32 = AtomicU32::new(0);

pub(crate) fn set_echo(on: bool) {
    ECHO.store(on as u32, Ordering::SeqCst);
}

/// The panic message and panicking thread, if the system has panicked.
pub(crate) fn panic_info() -> Option<(String, Option<(u64, u32)>)> {
    if panicstr.load(Ordering::SeqCst).is_null() {
        return None;
    }
    let p = PANIC.lock().unwrap_or_else(|e| e.into_inner());
    let msg = p
        .msg
        .as_ref()
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some((msg, p.who))
}

pub(crate) fn clear_panic() {
    let mut p = PANIC.lock().unwrap_or_else(|e| e.into_inner());
    panicstr.store(core::ptr::null_mut(), Ordering::SeqCst);
    p.msg = None;
    p.who = None;
}

/// Panic the kernel: set `panicstr` (first panic wins), print the message
/// and unwind the calling thread with a Rust panic whose message starts
/// with "panic: ".
pub(crate) fn kpanic(msg: String) -> ! {
    {
        let mut p = PANIC.lock().unwrap_or_else(|e| e.into_inner());
        if p.msg.is_none() {
            let c = CString::new(msg.replace('\0', "?")).unwrap_or_default();
            p.msg = Some(c);
            p.who = Some(me_nolock());
            let ptr = p.msg.as_ref().map_or(core::ptr::null(), |c| c.as_ptr());
            panicstr.store(ptr as *mut c_char, Ordering::SeqCst);
        }
    }
    console_write(&format!("panic: {msg}\n"));
    if std::env::var_os("HOSTED_PANIC_ABORT").is_some() {
        std::process::abort();
    }
    trace::text_event("panic", &msg);
    super::machine::CV.notify_all();
    std::panic!("panic: {msg}");
}

/// The panic message, if the system has panicked.
pub fn panic_message() -> Option<String> {
    panic_info().map(|(m, _)| m)
}

/// Forget a panic so the machine can be used again (tests that provoke a
/// panic on purpose call this after catching it). Also drops the calling
/// thread's LWKT tokens and sleep-queue state, which the unwind skipped.
pub fn reset_after_panic() {
    clear_panic();
    let mut g = super::machine::lock();
    let me = super::machine::me(&mut g);
    let toks = std::mem::take(&mut g.threads[me as usize].toks);
    for t in toks {
        if g.tokens.get(&t) == Some(&me) {
            g.tokens.remove(&t);
        }
    }
    let t = &mut g.threads[me as usize];
    t.toks_held = true;
    t.tsleepq = false;
    t.wchan = 0;
    t.blocked_on = None;
    g.inline_depth = 0;
    super::machine::CV.notify_all();
}

pub(crate) fn console_write(s: &str) {
    CONSOLE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_str(s);
    if ECHO.load(Ordering::SeqCst) != 0 {
        eprint!("{s}");
    }
}

/// Kernel console output captured so far (kprintf and panics).
pub fn console() -> String {
    CONSOLE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Return and clear the captured console output.
pub fn console_take() -> String {
    std::mem::take(&mut *CONSOLE.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Target of the C shim's panic(): the formatted message.
///
/// # Safety
/// `msg` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C-unwind" fn hosted_panic_str(msg: *const c_char) -> ! {
    let s = if msg.is_null() {
        String::from("(null)")
    } else {
        // SAFETY: the shim passes its NUL-terminated format buffer.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    kpanic(s)
}

/// Target of the C shim's kprintf(): the formatted text.
///
/// # Safety
/// `msg` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C-unwind" fn hosted_kprintf_str(msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the shim passes its NUL-terminated format buffer.
    let s = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    trace::text_event("kprintf", &s);
    console_write(&s);
}

/// kprintf from Rust code of the environment.
pub(crate) fn kprintf(s: &str) {
    trace::text_event("kprintf", s);
    console_write(s);
}

// ---------------------------------------------------------------------------
// Atomic operations (machine/atomic.h, called as functions by modules).

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_add_int(p: *mut c_uint, v: c_uint) {
    trace::obj_call_args("atomic_add_int", p as usize, &[v as i32 as i64]);
    // SAFETY: caller guarantees a valid aligned u_int; all users are atomic.
    unsafe { AtomicU32::from_ptr(p) }.fetch_add(v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_subtract_int(p: *mut c_uint, v: c_uint) {
    trace::obj_call_args("atomic_subtract_int", p as usize, &[v as i64]);
    // SAFETY: as atomic_add_int.
    unsafe { AtomicU32::from_ptr(p) }.fetch_sub(v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_set_int(p: *mut c_uint, v: c_uint) {
    trace::obj_call_args("atomic_set_int", p as usize, &[v as i64]);
    // SAFETY: as atomic_add_int.
    unsafe { AtomicU32::from_ptr(p) }.fetch_or(v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_clear_int(p: *mut c_uint, v: c_uint) {
    trace::obj_call_args("atomic_clear_int", p as usize, &[v as i64]);
    // SAFETY: as atomic_add_int.
    unsafe { AtomicU32::from_ptr(p) }.fetch_and(!v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_long.
#[no_mangle]
pub unsafe extern "C" fn atomic_add_long(p: *mut c_ulong, v: c_ulong) {
    trace::obj_call_args("atomic_add_long", p as usize, &[v as i64]);
    // SAFETY: u_long is 64 bits on this target; caller guarantees validity.
    unsafe { AtomicU64::from_ptr(p.cast()) }.fetch_add(v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_long.
#[no_mangle]
pub unsafe extern "C" fn atomic_subtract_long(p: *mut c_ulong, v: c_ulong) {
    trace::obj_call_args("atomic_subtract_long", p as usize, &[v as i64]);
    // SAFETY: as atomic_add_long.
    unsafe { AtomicU64::from_ptr(p.cast()) }.fetch_sub(v, Ordering::SeqCst);
}

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_cmpset_int(p: *mut c_uint, expect: c_uint, src: c_uint) -> c_int {
    // SAFETY: as atomic_add_int.
    unsafe { AtomicU32::from_ptr(p) }
        .compare_exchange(expect, src, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok() as c_int
}

/// # Safety
/// `p` must point to a valid, aligned u_int.
#[no_mangle]
pub unsafe extern "C" fn atomic_fetchadd_int(p: *mut c_uint, v: c_uint) -> c_uint {
    // SAFETY: as atomic_add_int.
    unsafe { AtomicU32::from_ptr(p) }.fetch_add(v, Ordering::SeqCst)
}

// ---------------------------------------------------------------------------
// Byte operations.

/// bcopy(): overlapping-safe copy (memmove semantics, source first).
///
/// # Safety
/// Both ranges must be valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcopy(from: *const c_void, to: *mut c_void, len: usize) {
    trace::plain_call("bcopy", &[len as i64]);
    if len == 0 {
        return;
    }
    // SAFETY: caller guarantees both ranges; ptr::copy allows overlap.
    unsafe { core::ptr::copy(from.cast::<u8>(), to.cast::<u8>(), len) }
}

/// bzero(): zero `len` bytes.
///
/// # Safety
/// The range must be valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn bzero(buf: *mut c_void, len: usize) {
    trace::plain_call("bzero", &[len as i64]);
    if len == 0 {
        return;
    }
    // SAFETY: caller guarantees the range.
    unsafe { core::ptr::write_bytes(buf.cast::<u8>(), 0, len) }
}

// ---------------------------------------------------------------------------
// CRC-32 as libkern computes it: the reflected IEEE 802.3 polynomial
// (0xEDB88320), initial value all ones, final complement. The same
// function as zlib's crc32() and the `crc32fast` crate.

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// The kernel's crc32_ext() on a byte slice: continue a CRC started with
/// `ocrc` (0 to start).
pub fn crc32_bytes(ocrc: u32, data: &[u8]) -> u32 {
    let mut c = !ocrc;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// crc32(): CRC-32 of a buffer.
///
/// # Safety
/// `buf` must be valid for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn crc32(buf: *const c_void, size: usize) -> u32 {
    if size == 0 {
        return 0;
    }
    // SAFETY: caller guarantees the range.
    let s = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
    let c = crc32_bytes(0, s);
    trace::plain_call("crc32", &[size as i64, c as i64]);
    c
}

/// crc32_ext(): continue a CRC-32.
///
/// # Safety
/// `buf` must be valid for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn crc32_ext(buf: *const c_void, size: usize, ocrc: u32) -> u32 {
    if size == 0 {
        return ocrc;
    }
    // SAFETY: caller guarantees the range.
    let s = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
    crc32_bytes(ocrc, s)
}

// ---------------------------------------------------------------------------
// Spinlocks (rb_spin_lock / rb_spin_unlock guard RB_SCAN's in-progress list).

fn spin_word(spin: *mut ffi::spinlock) -> &'static AtomicI32 {
    // SAFETY: counta is an aligned int inside a spinlock the caller keeps
    // alive while locked; every access to it goes through these functions.
    unsafe { AtomicI32::from_ptr(core::ptr::addr_of_mut!((*spin).counta)) }
}

/// # Safety
/// `spin` must point to a valid spinlock.
#[no_mangle]
pub unsafe extern "C" fn rb_spin_lock(spin: *mut ffi::spinlock) {
    trace::obj_call("rb_spin_lock", spin as usize);
    let w = spin_word(spin);
    let mut n = 0u32;
    while w
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        n += 1;
        if n.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }
}

/// # Safety
/// `spin` must point to a spinlock held by the caller.
#[no_mangle]
pub unsafe extern "C" fn rb_spin_unlock(spin: *mut ffi::spinlock) {
    trace::obj_call("rb_spin_unlock", spin as usize);
    spin_word(spin).store(0, Ordering::Release);
}
