//! HAMMER's buffer-cache I/O layer (`sys/vfs/hammer/hammer_io.c`) in Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

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
