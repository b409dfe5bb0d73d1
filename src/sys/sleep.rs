//! `tsleep()` / `wakeup()`.
//!
//! A wait channel is only an address the sleep queues are keyed on, never
//! dereferenced, so building one from any pointer is harmless.

use core::ffi::{c_char, c_int, c_void, CStr};

use super::ffi;
use super::flags::SleepFlags;

pub use super::counters::hz;

/// The identifier sleepers and wakers agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitChan(*const c_void);

impl WaitChan {
    /// The channel named by the address `p`.
    pub fn of<T>(p: *const T) -> Self {
        Self(p.cast())
    }
}

/// A `tsleep()` wait message: a NUL-terminated string that outlives the
/// sleep (the kernel shows it in process listings).
#[derive(Clone, Copy, Debug)]
pub struct WMesg(*const c_char);

impl WMesg {
    pub const fn new(s: &'static CStr) -> Self {
        Self(s.as_ptr())
    }

    /// # Safety
    ///
    /// `s` is a NUL-terminated string alive for as long as the wait
    /// message is in use.
    pub unsafe fn from_raw(s: *const c_char) -> Self {
        Self(s)
    }

    pub(crate) fn as_ptr(self) -> *const c_char {
        self.0
    }
}

/// `tsleep(chan, flags, wmesg, timo)`: sleeps until a `wakeup(chan)`, the
/// timeout (`timo` ticks, 0 = none) or, with `PINTERLOCKED`, returns at
/// once if a wakeup came after the matching `tsleep_interlock()`.
pub fn tsleep(chan: WaitChan, flags: SleepFlags, wmesg: WMesg, timo: c_int) -> c_int {
    // SAFETY: the channel is only used as a key; `WMesg` is a valid string.
    unsafe { ffi::tsleep(chan.0, flags.bits(), wmesg.0, timo) }
}

/// `tsleep_interlock(chan, flags)`: queue this thread on `chan` before
/// re-testing the condition, so a wakeup in between is not lost.
pub fn tsleep_interlock(chan: WaitChan, flags: SleepFlags) {
    // SAFETY: the channel is only used as a key.
    unsafe { ffi::tsleep_interlock(chan.0, flags.bits()) }
}

/// `wakeup(chan)`: wakes every thread sleeping on `chan`.
pub fn wakeup(chan: WaitChan) {
    // SAFETY: the channel is only used as a key.
    unsafe { ffi::wakeup(chan.0) }
}
