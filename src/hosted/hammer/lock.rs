//! `struct hammer_lock`: HAMMER's structural reference count with its
//! interlock bits, plus the exclusive/shared lock word (hammer_subs.c).
//!
//! `refs` holds the count of active references in its low bits and three
//! transition bits on top: `HAMMER_REFS_LOCKED` is the interlock (one
//! thread at a time may load or tear down the structure behind the lock),
//! `HAMMER_REFS_WANTED` says a thread sleeps on the interlock, and
//! `HAMMER_REFS_CHECK` says the structure needs a (re)load check because
//! the count went 0->1 without anyone validating it yet. `lockval` is the
//! ordinary lock: a holder count, `HAMMER_LOCKF_EXCLUSIVE` when the holder
//! is exclusive (owner in `lowner`) and `HAMMER_LOCKF_WANTED` when someone
//! sleeps on it.
//!
//! Every update is a compare-and-swap loop over the whole word, as in the
//! kernel, so the functions are correct under real concurrency. Sleeping
//! goes through the hosted kernel's `tsleep_interlock` / `tsleep` (which
//! gives up every LWKT token the thread holds while it is asleep), waking
//! through `wakeup`, on the address of the word concerned.

use core::ffi::{c_char, c_int, c_void};
use core::ptr::{self, addr_of_mut};
use core::sync::atomic::{AtomicU32, Ordering};

use super::globals::{HAMMER_CONTENTION_COUNT, HAMMER_DEBUG_LOCKS};
use crate::sys::ffi;

/// `HAMMER_REFS_LOCKED`
pub const REFS_LOCKED: u32 = ffi::HAMMER_REFS_LOCKED;
/// `HAMMER_REFS_WANTED`
pub const REFS_WANTED: u32 = ffi::HAMMER_REFS_WANTED;
/// `HAMMER_REFS_CHECK`
pub const REFS_CHECK: u32 = ffi::HAMMER_REFS_CHECK;
/// `HAMMER_REFS_FLAGS`
pub const REFS_FLAGS: u32 = REFS_LOCKED | REFS_WANTED | REFS_CHECK;
/// `HAMMER_LOCKF_EXCLUSIVE`
pub const LOCKF_EXCLUSIVE: u32 = ffi::HAMMER_LOCKF_EXCLUSIVE;
/// `HAMMER_LOCKF_WANTED`
pub const LOCKF_WANTED: u32 = ffi::HAMMER_LOCKF_WANTED;

pub use super::ntrace::{
    hammer_lock_ex_ident, hammer_put_interlock, hammer_ref, hammer_rel,
    hammer_try_interlock_norefs, hammer_unlock,
};
use super::{curthread, kpanic, kprint};

/// The `refs` word of `lock` as an atomic.
///
/// # Safety
///
/// `lock` points to a live `hammer_lock` that outlives `'a`.
unsafe fn refs<'a>(lock: *mut ffi::hammer_lock) -> &'a AtomicU32 {
    // SAFETY: `refs` is a properly aligned u32 inside a live lock (caller
    // contract); every access to it goes through atomics or through C code
    // using the kernel's atomic functions.
    unsafe { AtomicU32::from_ptr(addr_of_mut!((*lock).refs)) }
}

/// The `lockval` word of `lock` as an atomic.
///
/// # Safety
///
/// As for [`refs`].
unsafe fn lockval<'a>(lock: *mut ffi::hammer_lock) -> &'a AtomicU32 {
    // SAFETY: as in `refs`.
    unsafe { AtomicU32::from_ptr(addr_of_mut!((*lock).lockval)) }
}

/// Compare-and-swap with the kernel's `atomic_cmpset_int` meaning.
fn cmpset(word: &AtomicU32, old: u32, new: u32) -> bool {
    word.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Sets an owner field (`lowner` / `rowner`).
///
/// # Safety
///
/// `field` points into a live lock.
unsafe fn set_owner(field: *mut *mut ffi::thread, td: *mut ffi::thread) {
    // SAFETY: caller contract.
    unsafe { ptr::write_volatile(field, td) }
}

/// Reads an owner field.
///
/// # Safety
///
/// `field` points into a live lock.
unsafe fn owner(field: *mut *mut ffi::thread) -> *mut ffi::thread {
    // SAFETY: caller contract.
    unsafe { ptr::read_volatile(field) }
}

/// Queues the thread on `ident` before the word is re-checked, so a wakeup
/// issued between the check and the sleep is not lost.
fn sleep_interlock(ident: *const c_void) {
    super::kcall::tsleep_interlock(ident);
}

/// Sleeps on `ident` after [`sleep_interlock`].
fn sleep_interlocked(ident: *const c_void, wmesg: &str) {
    super::kcall::tsleep(ident, ffi::PINTERLOCKED, wmesg, 0);
}

/// The wait message a C caller passed.
fn wmesg_of(ident: *const c_char) -> std::string::String {
    if ident.is_null() {
        return std::string::String::from("hmrlck");
    }
    // SAFETY: callers pass NUL-terminated strings.
    unsafe { core::ffi::CStr::from_ptr(ident) }
        .to_string_lossy()
        .into_owned()
}

/// Wakes every thread sleeping on `ident`.
fn wake(ident: *const c_void) {
    super::kcall::wakeup(ident);
}

/// `hammer_isactive`: number of active references.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn isactive(lock: *mut ffi::hammer_lock) -> u32 {
    // SAFETY: caller contract.
    unsafe { refs(lock) }.load(Ordering::SeqCst) & !REFS_FLAGS
}

/// `hammer_oneref`.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn oneref(lock: *mut ffi::hammer_lock) -> bool {
    // SAFETY: caller contract.
    unsafe { isactive(lock) == 1 }
}

/// `hammer_norefs`.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn norefs(lock: *mut ffi::hammer_lock) -> bool {
    // SAFETY: caller contract.
    unsafe { isactive(lock) == 0 }
}

/// The raw `refs` word (count and transition bits).
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn refs_word(lock: *mut ffi::hammer_lock) -> u32 {
    // SAFETY: caller contract.
    unsafe { refs(lock) }.load(Ordering::SeqCst)
}

/// The raw `lockval` word.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn lockval_word(lock: *mut ffi::hammer_lock) -> u32 {
    // SAFETY: caller contract.
    unsafe { lockval(lock) }.load(Ordering::SeqCst)
}

/// `hammer_lock_ex_ident`: takes the lock exclusively, recursively for its
/// owner, sleeping on `lockval` with `ident` as the wait message while
/// another thread holds it.
///
/// # Safety
///
/// `lock` points to a live lock the caller holds a reference on; `ident`
/// is a NUL-terminated string valid for the call.
/// Untraced body of the C entry point `hammer_lock_ex_ident` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_lock_ex_ident_untraced(
    lock: *mut ffi::hammer_lock,
    ident: *const c_char,
) {
    let td = curthread();
    // SAFETY: caller contract.
    let (lv_word, refs_now) = unsafe { (lockval(lock), refs_word(lock)) };
    if refs_now == 0 {
        kpanic("hammer_lock_ex_ident: lock has no references");
    }
    loop {
        let lv = lv_word.load(Ordering::SeqCst);
        if lv == 0 {
            if cmpset(lv_word, lv, 1 | LOCKF_EXCLUSIVE) {
                // SAFETY: the lock is live and now ours.
                unsafe { set_owner(addr_of_mut!((*lock).lowner), td) };
                break;
            }
        // SAFETY: the lock is live.
        } else if lv & LOCKF_EXCLUSIVE != 0 && unsafe { owner(addr_of_mut!((*lock).lowner)) } == td
        {
            if cmpset(lv_word, lv, lv + 1) {
                break;
            }
        } else {
            if HAMMER_DEBUG_LOCKS.load(Ordering::Relaxed) != 0 {
                kprint("hammer_lock_ex: held by another thread");
            }
            HAMMER_CONTENTION_COUNT.fetch_add(1, Ordering::Relaxed);
            let chan = lv_word.as_ptr() as *const c_void;
            sleep_interlock(chan);
            if cmpset(lv_word, lv, lv | LOCKF_WANTED) {
                sleep_interlocked(chan, &wmesg_of(ident));
            }
        }
    }
}

/// `hammer_lock_ex`: [`hammer_lock_ex_ident`] with the kernel's default
/// wait message.
///
/// # Safety
///
/// As for [`hammer_lock_ex_ident`].
pub unsafe fn hammer_lock_ex(lock: *mut ffi::hammer_lock) {
    // SAFETY: forwarded contract; the message is a static C string.
    unsafe { hammer_lock_ex_ident(lock, c"hmrlck".as_ptr()) }
}

/// `hammer_lock_ex_try`: like [`hammer_lock_ex_ident`] but returns EAGAIN
/// instead of sleeping.
///
/// # Safety
///
/// `lock` points to a live lock the caller holds a reference on.
pub unsafe fn hammer_lock_ex_try(lock: *mut ffi::hammer_lock) -> c_int {
    let td = curthread();
    // SAFETY: caller contract.
    let lv_word = unsafe { lockval(lock) };
    loop {
        let lv = lv_word.load(Ordering::SeqCst);
        if lv == 0 {
            if cmpset(lv_word, lv, 1 | LOCKF_EXCLUSIVE) {
                // SAFETY: the lock is live and now ours.
                unsafe { set_owner(addr_of_mut!((*lock).lowner), td) };
                return 0;
            }
        // SAFETY: the lock is live.
        } else if lv & LOCKF_EXCLUSIVE != 0 && unsafe { owner(addr_of_mut!((*lock).lowner)) } == td
        {
            if cmpset(lv_word, lv, lv + 1) {
                return 0;
            }
        } else {
            return ffi::EAGAIN;
        }
    }
}

/// `hammer_lock_sh`: takes the lock shared. Pending exclusive requests get
/// no priority (that could deadlock); an exclusive owner asking for a
/// shared lock just gets another exclusive count.
///
/// # Safety
///
/// `lock` points to a live lock the caller holds a reference on.
pub unsafe fn hammer_lock_sh(lock: *mut ffi::hammer_lock) {
    let td = curthread();
    // SAFETY: caller contract.
    let lv_word = unsafe { lockval(lock) };
    loop {
        let lv = lv_word.load(Ordering::SeqCst);
        // Shared holders just count; an exclusive owner asking for shared
        // gets one more (exclusive) count rather than deadlocking.
        // SAFETY: the lock is live.
        if lv & LOCKF_EXCLUSIVE == 0 || unsafe { owner(addr_of_mut!((*lock).lowner)) } == td {
            if cmpset(lv_word, lv, lv + 1) {
                break;
            }
        } else {
            HAMMER_CONTENTION_COUNT.fetch_add(1, Ordering::Relaxed);
            let chan = lv_word.as_ptr() as *const c_void;
            sleep_interlock(chan);
            if cmpset(lv_word, lv, lv | LOCKF_WANTED) {
                sleep_interlocked(chan, "hmrlck");
            }
        }
    }
}

/// `hammer_lock_sh_try`: like [`hammer_lock_sh`] but returns EAGAIN
/// instead of sleeping.
///
/// # Safety
///
/// `lock` points to a live lock the caller holds a reference on.
pub unsafe fn hammer_lock_sh_try(lock: *mut ffi::hammer_lock) -> c_int {
    let td = curthread();
    // SAFETY: caller contract.
    let lv_word = unsafe { lockval(lock) };
    loop {
        let lv = lv_word.load(Ordering::SeqCst);
        // SAFETY: the lock is live.
        if lv & LOCKF_EXCLUSIVE == 0 || unsafe { owner(addr_of_mut!((*lock).lowner)) } == td {
            if cmpset(lv_word, lv, lv + 1) {
                return 0;
            }
        } else {
            return ffi::EAGAIN;
        }
    }
}

/// `hammer_unlock`: drops one hold of the lock; the last one clears the
/// owner and wakes sleepers.
///
/// # Safety
///
/// `lock` points to a live lock the caller holds.
/// Untraced body of the C entry point `hammer_unlock` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_unlock_untraced(lock: *mut ffi::hammer_lock) {
    let td = curthread();
    // SAFETY: caller contract.
    let lv_word = unsafe { lockval(lock) };
    let lv = lv_word.load(Ordering::SeqCst);
    if lv == 0 {
        kpanic("hammer_unlock: lock is not held");
    }
    // SAFETY: the lock is live.
    if lv & LOCKF_EXCLUSIVE != 0 && unsafe { owner(addr_of_mut!((*lock).lowner)) } != td {
        kpanic("hammer_unlock: exclusive lock held by another thread");
    }
    loop {
        let lv = lv_word.load(Ordering::SeqCst);
        let count = lv & !(LOCKF_EXCLUSIVE | LOCKF_WANTED);
        if count > 1 {
            if cmpset(lv_word, lv, lv - 1) {
                break;
            }
        } else if count == 1 {
            if lv & LOCKF_EXCLUSIVE != 0 {
                // SAFETY: the lock is live and ours.
                unsafe { set_owner(addr_of_mut!((*lock).lowner), ptr::null_mut()) };
            }
            if cmpset(lv_word, lv, 0) {
                if lv & LOCKF_WANTED != 0 {
                    wake(lv_word.as_ptr() as *const c_void);
                }
                break;
            }
        } else {
            kpanic("hammer_unlock: lock is not held");
        }
    }
}

/// `hammer_ref`: adds a reference; a 0->1 transition also sets CHECK.
/// Nothing is serialised: the interlock functions deal with races.
///
/// # Safety
///
/// `lock` points to a live lock.
/// Untraced body of the C entry point `hammer_ref` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_ref_untraced(lock: *mut ffi::hammer_lock) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        let nlv = if lv & !REFS_FLAGS == 0 {
            (lv + 1) | REFS_CHECK
        } else {
            if (lv + 1) as i32 <= 0 {
                kpanic("hammer_ref: reference count overflow");
            }
            lv + 1
        };
        if cmpset(word, lv, nlv) {
            return;
        }
    }
}

/// `hammer_rel`: drops a reference; a 1->0 transition also clears CHECK.
///
/// # Safety
///
/// `lock` points to a live lock with a reference to drop.
/// Untraced body of the C entry point `hammer_rel` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_untraced(lock: *mut ffi::hammer_lock) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        let nlv = if lv & !REFS_FLAGS == 1 {
            (lv - 1) & !REFS_CHECK
        } else {
            if lv as i32 <= 0 {
                kpanic("hammer_rel: no reference to drop");
            }
            lv - 1
        };
        if cmpset(word, lv, nlv) {
            return;
        }
    }
}

/// `hammer_ref_interlock`: adds a reference and takes the interlock when
/// the structure needs checking (0->1 transition, or CHECK already set by
/// a racing `hammer_ref`). Returns 1 with the interlock held (the caller
/// must validate/load and then call [`ref_interlock_done`]), or 0 when
/// nothing needs doing. If another thread holds the interlock with CHECK
/// set, sleeps until it is resolved.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn ref_interlock(lock: *mut ffi::hammer_lock) -> bool {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv == 0 {
            if cmpset(word, lv, 1 | REFS_LOCKED | REFS_CHECK) {
                // SAFETY: live lock, interlock now ours.
                unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
                return true;
            }
            continue;
        }
        let mut nlv = lv + 1;
        if lv & !REFS_FLAGS == 0 {
            nlv |= REFS_CHECK;
        }
        if nlv & REFS_CHECK == 0 {
            if cmpset(word, lv, nlv) {
                return false;
            }
        } else if lv & REFS_LOCKED != 0 {
            if cmpset(word, lv, nlv) {
                break;
            }
        } else if cmpset(word, lv, nlv | REFS_LOCKED) {
            // SAFETY: live lock, interlock now ours.
            unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
            return true;
        }
    }

    // Our reference is in, but someone else holds the interlock while the
    // check is pending: wait until they resolve it or we can take over.
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv & REFS_CHECK == 0 {
            return false;
        }
        if lv & REFS_LOCKED != 0 {
            let chan = word.as_ptr() as *const c_void;
            sleep_interlock(chan);
            if cmpset(word, lv, lv | REFS_WANTED) {
                sleep_interlocked(chan, "h1lk");
            }
        } else if cmpset(word, lv, lv | REFS_LOCKED) {
            // SAFETY: live lock, interlock now ours.
            unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
            return true;
        }
    }
}

/// `hammer_ref_interlock_true`: the 0->1 transition with the interlock, on
/// a lock that is known to have no references and no interlock.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn ref_interlock_true(lock: *mut ffi::hammer_lock) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv != 0 {
            kpanic("hammer_ref_interlock_true: lock has references or is interlocked");
        }
        if cmpset(word, lv, 1 | REFS_LOCKED | REFS_CHECK) {
            // SAFETY: live lock, interlock now ours.
            unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
            return;
        }
    }
}

/// `hammer_ref_interlock_done`: releases the interlock after a successful
/// load and clears CHECK, keeping the count.
///
/// # Safety
///
/// `lock` points to a live lock whose interlock the caller holds.
pub unsafe fn ref_interlock_done(lock: *mut ffi::hammer_lock) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if cmpset(word, lv, lv & !REFS_FLAGS) {
            if lv & REFS_WANTED != 0 {
                wake(word.as_ptr() as *const c_void);
            }
            return;
        }
    }
}

/// `hammer_rel_interlock`: drops a reference and takes the interlock on
/// the 1->0 transition (returns true, interlock held), else returns false.
/// With `locked` the caller already holds the interlock (failure/unload
/// path): just drop the reference and return true.
///
/// # Safety
///
/// `lock` points to a live lock with a reference to drop.
pub unsafe fn rel_interlock(lock: *mut ffi::hammer_lock, locked: bool) -> bool {
    if locked {
        // SAFETY: forwarded contract.
        unsafe { hammer_rel(lock) };
        return true;
    }
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv == 1 {
            if cmpset(word, lv, REFS_LOCKED) {
                // SAFETY: live lock, interlock now ours.
                unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
                return true;
            }
        } else if lv & !REFS_FLAGS == 1 {
            if lv & REFS_LOCKED == 0 {
                if cmpset(word, lv, (lv - 1) | REFS_LOCKED) {
                    // SAFETY: live lock, interlock now ours.
                    unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
                    return true;
                }
            } else {
                let chan = word.as_ptr() as *const c_void;
                sleep_interlock(chan);
                if cmpset(word, lv, lv | REFS_WANTED) {
                    sleep_interlocked(chan, "h0lk");
                }
            }
        } else {
            if lv & !REFS_FLAGS == 0 {
                kpanic("hammer_rel_interlock: no reference to drop");
            }
            if cmpset(word, lv, lv - 1) {
                return false;
            }
        }
    }
}

/// `hammer_rel_interlock_done`: releases the interlock taken by
/// [`rel_interlock`], clearing CHECK if no references are left.
///
/// # Safety
///
/// `lock` points to a live lock whose interlock the caller holds.
pub unsafe fn rel_interlock_done(lock: *mut ffi::hammer_lock, _orig_locked: bool) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        let mut nlv = lv & !(REFS_LOCKED | REFS_WANTED);
        if lv & !REFS_FLAGS == 0 {
            nlv &= !REFS_CHECK;
        }
        if cmpset(word, lv, nlv) {
            if lv & REFS_WANTED != 0 {
                wake(word.as_ptr() as *const c_void);
            }
            return;
        }
    }
}

/// `hammer_get_interlock`: takes the interlock, sleeping while another
/// thread has it. Returns whether CHECK was set.
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn get_interlock(lock: *mut ffi::hammer_lock) -> bool {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv & REFS_LOCKED != 0 {
            let chan = word.as_ptr() as *const c_void;
            sleep_interlock(chan);
            if cmpset(word, lv, lv | REFS_WANTED) {
                sleep_interlocked(chan, "hilk");
            }
        } else if cmpset(word, lv, lv | REFS_LOCKED) {
            // SAFETY: live lock, interlock now ours.
            unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
            return lv & REFS_CHECK != 0;
        }
    }
}

/// `hammer_try_interlock_norefs`: takes the interlock only if the lock has
/// no references and nobody holds the interlock (the whole word is 0).
/// Never sleeps: the buffer-cache callbacks use it. Returns 1 on success.
///
/// # Safety
///
/// `lock` points to a live lock.
/// Untraced body of the C entry point `hammer_try_interlock_norefs` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_try_interlock_norefs_untraced(
    lock: *mut ffi::hammer_lock,
) -> c_int {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv != 0 {
            return 0;
        }
        if cmpset(word, lv, REFS_LOCKED) {
            // SAFETY: live lock, interlock now ours.
            unsafe { set_owner(addr_of_mut!((*lock).rowner), curthread()) };
            return 1;
        }
    }
}

/// `hammer_put_interlock`: releases the interlock. CHECK ends up set only
/// if references remain and `error` is non-zero (the structure then needs
/// a reload by the next referencer), cleared otherwise.
///
/// # Safety
///
/// `lock` points to a live lock whose interlock the caller holds.
/// Untraced body of the C entry point `hammer_put_interlock` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_put_interlock_untraced(
    lock: *mut ffi::hammer_lock,
    error: c_int,
) {
    // SAFETY: caller contract.
    let word = unsafe { refs(lock) };
    loop {
        let lv = word.load(Ordering::SeqCst);
        if lv & REFS_LOCKED == 0 {
            kpanic("hammer_put_interlock: interlock not held");
        }
        let mut nlv = lv & !(REFS_LOCKED | REFS_WANTED);
        if nlv & !REFS_FLAGS == 0 || error == 0 {
            nlv &= !REFS_CHECK;
        } else {
            nlv |= REFS_CHECK;
        }
        if cmpset(word, lv, nlv) {
            if lv & REFS_WANTED != 0 {
                wake(word.as_ptr() as *const c_void);
            }
            return;
        }
    }
}

/// Whether the calling thread owns `lock` exclusively
/// (`hammer_lock_excl_owned`).
///
/// # Safety
///
/// `lock` points to a live lock.
pub unsafe fn excl_owned(lock: *mut ffi::hammer_lock) -> bool {
    // SAFETY: caller contract.
    unsafe {
        lockval_word(lock) & LOCKF_EXCLUSIVE != 0
            && owner(addr_of_mut!((*lock).lowner)) == curthread()
    }
}

/// Compile-time proof that the exports have the C types of the
/// prototypes bindgen read from hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    use super::sig::*;
    same2(ffi::hammer_lock_ex_ident, hammer_lock_ex_ident);
    same1(ffi::hammer_unlock, hammer_unlock);
    same1(ffi::hammer_ref, hammer_ref);
    same1(ffi::hammer_rel, hammer_rel);
    same1(
        ffi::hammer_try_interlock_norefs,
        hammer_try_interlock_norefs,
    );
    same2(ffi::hammer_put_interlock, hammer_put_interlock);
}
