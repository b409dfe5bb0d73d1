//! vmtest: boots DragonFly BSD under QEMU, builds and loads the HAMMER
//! module that links our Rust `hammer_io` archive, and runs file system
//! workloads on a fresh disk, watching the serial console for panics.
//!
//! The pieces are independent of DragonFly where they can be, so that the
//! stand-in integration test (a Debian kernel with a busybox initramfs) runs
//! the same console protocol code a real run uses:
//!
//! * [`qemu`]: command line (KVM or TCG), start-up;
//! * [`console`]: serial console reading, panic detection, login, steps
//!   between unique markers;
//! * [`runner`]: a list of steps -> a [`report::Report`];
//! * [`archive`]: ustar (the payload disk) and cpio newc (initramfs) writers;
//! * [`dfly`]: the DragonFly run itself (configuration, payload, guest plan).

pub mod archive;
pub mod console;
pub mod dfly;
pub mod qemu;
pub mod report;
pub mod runner;
