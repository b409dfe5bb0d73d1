//! HAMMER's buffer-cache I/O layer (`sys/vfs/hammer/hammer_io.c`) in Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
// Every unsafe block says why it is sound, every unsafe fn when it may be
// called (the generated bindings in sys::ffi are exempt).
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[cfg(feature = "hosted")]
extern crate std;

// The kernel object's panic handler (only without `test` and `hosted`; every
// other build gets std's). Unit tests build the module for its formatting.
#[cfg(any(test, not(feature = "hosted")))]
mod kernel_panic;

// First, so its C-ABI macros are visible to the modules below.
#[macro_use]
pub mod sys;

pub mod io;
pub mod rbtree;

#[cfg(feature = "hosted")]
pub mod hosted;
