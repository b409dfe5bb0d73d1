//! HAMMER's buffer-cache I/O layer (`sys/vfs/hammer/hammer_io.c`) in Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "hosted")]
extern crate std;

// The kernel object's panic handler; every other build gets std's.
#[cfg(all(not(test), not(feature = "hosted")))]
mod kernel_panic;

pub mod sys;

#[cfg(feature = "hosted")]
pub mod hosted;
