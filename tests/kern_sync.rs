//! Threaded behaviour of the hosted kernel: LWKT tokens released while
//! their holder blocks, tsleep/wakeup and the interlock, buffer locks
//! across threads, background daemons, panics, kprintf, CRC-32.
#![cfg(feature = "hosted")]

mod kern_util;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hammer_io::hosted::kern::{self, Device, LockOwner, Queue};
use hammer_io::sys::ffi;
use kern_util::*;

/// An LWKT token in shared memory.
struct Tok(Box<ffi::lwkt_token>);
// SAFETY: tokens are designed to be shared between threads.
unsafe impl Send for Tok {}
// SAFETY: as above.
unsafe impl Sync for Tok {}
impl Tok {
    fn new() -> Arc<Tok> {
        // SAFETY: all-zero is a free token.
        Arc::new(Tok(Box::new(unsafe { std::mem::zeroed() })))
    }
    fn p(&self) -> *mut ffi::lwkt_token {
        (&*self.0 as *const ffi::lwkt_token).cast_mut()
    }
}

fn chan(x: &'static u8) -> *const core::ffi::c_void {
    x as *const u8 as *const _
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn boot_mt() {
    reset_fake();
    let cfg = kern::Config {
        buf_daemon: false,
        syncer: false,
        ..kern::Config::default()
    };
    kern::boot(cfg);
}

#[test]
fn token_is_released_while_its_holder_sleeps() {
    let _x = kern::exclusive();
    boot_mt();
    static X: u8 = 0;
    let t = Tok::new();
    let log = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let a_id = Arc::new(AtomicU32::new(u32::MAX));

    let (t2, log2, a2) = (t.clone(), log.clone(), a_id.clone());
    let a = std::thread::spawn(move || {
        a2.store(kern::current_thread_id(), Ordering::SeqCst);
        kern::gettoken(t2.p());
        kern::gettoken(t2.p()); // recursive
        assert_eq!(kern::token_held(t2.p()), 2);
        let r = kern::tsleep(chan(&X), 0, "tokslp", 0);
        log2.lock().unwrap().push("A resumed");
        // Both references are back, and nobody else holds the token.
        assert_eq!(r, 0);
        assert_eq!(kern::token_held(t2.p()), 2);
        assert_eq!(kern::token_holder(t2.p()), Some(kern::current_thread_id()));
        kern::reltoken(t2.p());
        kern::reltoken(t2.p());
    });
    // While A sleeps its token is free...
    wait_until("A asleep", || {
        a_id.load(Ordering::SeqCst) != u32::MAX && kern::token_holder(t.p()).is_none()
    });
    // ...so we get it without blocking.
    kern::gettoken(t.p());
    assert_eq!(kern::token_holder(t.p()), Some(kern::current_thread_id()));
    kern::wakeup(chan(&X));
    // A is awake but cannot run until we let go.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        log.lock().unwrap().is_empty(),
        "A resumed without its token"
    );
    log.lock().unwrap().push("B released");
    kern::reltoken(t.p());
    a.join().unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["B released", "A resumed"]);
    assert!(kern::token_holder(t.p()).is_none());
}

#[test]
fn contended_token_drops_the_tokens_already_held() {
    let _x = kern::exclusive();
    boot_mt();
    let t1 = Tok::new();
    let t2 = Tok::new();
    kern::gettoken(t2.p()); // we hold T2
    let a_done = Arc::new(AtomicBool::new(false));
    let (t1a, t2a, done) = (t1.clone(), t2.clone(), a_done.clone());
    let a = std::thread::spawn(move || {
        kern::gettoken(t1a.p());
        kern::gettoken(t2a.p()); // contended: A deschedules, T1 goes too
        done.store(true, Ordering::SeqCst);
        assert_eq!(kern::token_held(t1a.p()), 1);
        assert_eq!(kern::token_held(t2a.p()), 1);
        kern::reltoken(t2a.p());
        kern::reltoken(t1a.p());
    });
    wait_until("A blocked on T2 with T1 released", || {
        kern::counters().token_collisions >= 1 && kern::token_holder(t1.p()).is_none()
    });
    // We can take T1 although A "holds" it.
    kern::gettoken(t1.p());
    assert!(!a_done.load(Ordering::SeqCst));
    kern::reltoken(t1.p());
    assert!(!a_done.load(Ordering::SeqCst), "A still needs T2");
    kern::reltoken(t2.p());
    a.join().unwrap();
    assert!(a_done.load(Ordering::SeqCst));
}

#[test]
fn reltoken_out_of_order_panics() {
    let _x = kern::exclusive();
    boot_mt();
    let t1 = Tok::new();
    let t2 = Tok::new();
    kern::gettoken(t1.p());
    kern::gettoken(t2.p());
    expect_kernel_panic("lwkt_reltoken", || kern::reltoken(t1.p()));
}

#[test]
fn tsleep_interlock_does_not_lose_a_wakeup() {
    let _x = kern::exclusive();
    boot_mt();
    static X: u8 = 0;
    kern::tsleep_interlock(chan(&X));
    std::thread::spawn(|| kern::wakeup(chan(&X)))
        .join()
        .unwrap();
    let t0 = Instant::now();
    let r = kern::tsleep(chan(&X), kern::PINTERLOCKED, "ilock", 500);
    assert_eq!(r, 0, "the wakeup between interlock and tsleep was kept");
    assert!(t0.elapsed() < Duration::from_millis(400));

    // Without the interlock the earlier wakeup is gone: the sleep times out.
    std::thread::spawn(|| kern::wakeup(chan(&X)))
        .join()
        .unwrap();
    let t0 = Instant::now();
    let r = kern::tsleep(chan(&X), 0, "noilock", 10); // 10 ticks = 100 ms
    assert_eq!(r, kern::EWOULDBLOCK);
    assert!(t0.elapsed() >= Duration::from_millis(90));
}

#[test]
fn wakeup_wakes_every_sleeper() {
    let _x = kern::exclusive();
    boot_mt();
    static X: u8 = 0;
    let woke = Arc::new(AtomicU32::new(0));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let w = woke.clone();
            std::thread::spawn(move || {
                assert_eq!(kern::tsleep(chan(&X), 0, "many", 0), 0);
                w.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    wait_until("3 sleepers", || kern::counters().tsleeps >= 3);
    std::thread::sleep(Duration::from_millis(20));
    kern::wakeup(chan(&X));
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(woke.load(Ordering::SeqCst), 3);
}

struct SendBuf(*mut ffi::buf);
// SAFETY: buffers are shared between kernel threads by design.
unsafe impl Send for SendBuf {}

#[test]
fn buffer_lock_handoff_between_threads() {
    let _x = kern::exclusive();
    boot_mt();
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode() as usize;
    let bp = getblk(vp as *mut _, 0, BS);
    // Owned by us: another thread may not release it.
    let b = SendBuf(bp);
    let r = std::thread::spawn(move || {
        let b = b;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bqrelse(b.0))).is_err()
    })
    .join()
    .unwrap();
    assert!(r, "releasing another thread's buffer lock panics");
    assert!(kern::panic_message()
        .unwrap()
        .contains("held exclusively by thread"));
    // (The buffer was already requeued when BUF_UNLOCK panicked, as in the
    // kernel; start over on a fresh machine.)
    boot_mt();
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode() as usize;
    let bp = getblk(vp as *mut _, 0, BS);
    assert!(matches!(kern::lock_owner(bp), LockOwner::Thread(_)));
    // Handed to the kernel: any thread may release it.
    kernproc(bp);
    let b = SendBuf(bp);
    std::thread::spawn(move || {
        let b = b;
        bqrelse(b.0)
    })
    .join()
    .unwrap();
    let s = kern::snapshot(bp);
    assert_eq!(s.lock, LockOwner::Unlocked);
    assert_eq!(s.queue, Queue::Clean);
}

#[test]
fn getblk_on_a_busy_buffer_waits_and_releases_tokens() {
    let _x = kern::exclusive();
    boot_mt();
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode() as usize;
    let bp = getblk(vp as *mut _, 0, BS);
    let t = Tok::new();
    let got = Arc::new(AtomicBool::new(false));
    let (t2, g2) = (t.clone(), got.clone());
    let h = std::thread::spawn(move || {
        kern::gettoken(t2.p());
        let b = getblk(vp as *mut _, 0, BS);
        g2.store(true, Ordering::SeqCst);
        assert_eq!(kern::token_held(t2.p()), 1, "token back after the wait");
        assert_eq!(
            kern::lock_owner(b),
            LockOwner::Thread(kern::current_thread_id())
        );
        bqrelse(b);
        kern::reltoken(t2.p());
        b as usize
    });
    wait_until("waiter blocked, token released", || {
        kern::counters().buflock_waits >= 1 && kern::token_holder(t.p()).is_none()
    });
    assert!(!got.load(Ordering::SeqCst));
    bqrelse(bp);
    let b = h.join().unwrap();
    assert_eq!(b, bp as usize);
}

#[test]
fn threaded_io_completes_on_the_disk_thread() {
    let _x = kern::exclusive();
    boot_mt();
    let dev = Device::memory("d0", 1 << 20);
    dev.write_stable(32768, &pattern(2, BS as usize));
    let vp = dev.vnode();
    let (e, bp) = bread(vp, 32768, BS);
    assert_eq!(e, 0);
    assert_eq!(read_data(bp, 0, 32), pattern(2, 32));
    bqrelse(bp);
    // Async completion with deps: io_complete runs on another thread.
    let bp = dirty_buf(vp, 0, 4, true, false);
    or_flags(bp, ffi::B_LOCKED);
    regetblk(bp);
    clear_flags(bp, ffi::B_LOCKED);
    let me = kern::current_thread_id();
    extern "C-unwind" {
        fn bawrite(bp: *mut ffi::buf);
    }
    // SAFETY: we hold the buffer.
    unsafe { bawrite(bp) };
    kern::quiesce();
    let c = calls_named("io_complete");
    assert_eq!(c.len(), 1);
    assert_ne!(c[0].thread, me);
    assert_eq!(kern::thread_name(c[0].thread), "disk");
    assert_eq!(dev.read_current(0, 8), pattern(4, 8));
}

#[test]
fn buf_daemon_and_syncer_threads_write_dirty_buffers() {
    let _x = kern::exclusive();
    reset_fake();
    let cfg = kern::Config {
        lodirtybufspace: Some(2 * 65536),
        syncer: false,
        ..kern::Config::default()
    };
    kern::boot(cfg);
    let dev = Device::memory("d0", 4 << 20);
    let vp = dev.vnode();
    // Enough dirty kva to cross the daemon's threshold.
    for i in 0..8 {
        dirty_buf(vp, i * 16384, i as u8, false, true);
    }
    wait_until("buf_daemon flushed", || kern::counters().daemon_flushes > 0);
    kern::quiesce();
    wait_until("data on the device", || {
        dev.read_current(0, 4) == pattern(0, 4)
    });

    // The syncer thread: a single dirty buffer below the daemon's limits.
    reset_fake();
    let cfg = kern::Config {
        buf_daemon: false,
        syncer_interval: Duration::from_millis(20),
        syncer_delay: Duration::from_millis(50),
        ..kern::Config::default()
    };
    kern::boot(cfg);
    let dev = Device::memory("d1", 1 << 20);
    let vp = dev.vnode();
    let bp = dirty_buf(vp, 16384, 9, false, false);
    wait_until("syncer wrote it", || {
        dev.read_current(16384, 4) == pattern(9, 4)
    });
    wait_until("buffer clean", || {
        kern::snapshot(bp).flags & ffi::B_DELWRI == 0
    });
    assert!(kern::counters().syncer_writes >= 1);
}

#[test]
fn panic_unwinds_through_c_and_sets_panicstr() {
    let _x = kern::exclusive();
    boot_mt();
    assert!(kern::panic_message().is_none());
    // SAFETY: calling the kernel's variadic panic() with a matching format.
    expect_kernel_panic("boom 7 x", || unsafe {
        ffi::panic(c"boom %d %s".as_ptr(), 7, c"x".as_ptr())
    });
    // SAFETY: as above for kprintf().
    let n = unsafe { ffi::kprintf(c"doff %016jx %s\n".as_ptr(), 0x4000u64, c"meta".as_ptr()) };
    assert_eq!(n, 27);
    assert!(kern::console().contains("doff 0000000000004000 meta\n"));
}

#[test]
fn background_panic_reaches_the_waiting_test_thread() {
    let _x = kern::exclusive();
    boot_mt();
    let dev = Device::memory("d0", 1 << 20);
    let vp = dev.vnode();
    // io_complete of this buffer panics on the disk thread.
    unsafe extern "C-unwind" fn bad_complete(_bp: *mut ffi::buf) {
        // SAFETY: variadic panic() with a matching format.
        unsafe { ffi::panic(c"io_complete exploded".as_ptr()) }
    }
    // SAFETY: replacing io_complete in a private copy of the fake table.
    let ops: &'static mut ffi::bio_ops = Box::leak(Box::new(unsafe { *fake_ops() }));
    ops.io_complete = Some(bad_complete);
    let bp = getblk(vp, 0, BS);
    attach_dep(bp);
    // SAFETY: we own the buffer.
    unsafe { (*bp).b_ops = ops };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut p = bp;
        // A synchronous read whose completion panics elsewhere.
        // SAFETY: bread on a buffer we hold (B_CACHE clear).
        unsafe {
            ffi::breadnx(
                vp,
                0,
                BS,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
                &mut p,
            )
        }
    }));
    let msg = match r {
        Ok(_) => panic!("expected the waiter to see the panic"),
        Err(e) => e.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(msg.contains("io_complete exploded"), "{msg}");
    wait_until("recorded", || !kern::background_panics().is_empty());
    assert!(kern::background_panics()[0].contains("io_complete exploded"));
    kern::reset_after_panic();
}

#[test]
fn crc32_is_the_kernels_crc32() {
    // Reflected IEEE polynomial, init ~0, final ~: the standard check value.
    assert_eq!(kern::crc32_bytes(0, b"123456789"), 0xCBF4_3926);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    // SAFETY: valid buffer.
    let c = unsafe { ffi::crc32(data.as_ptr().cast(), data.len()) };
    assert_eq!(
        c,
        crc32fast::hash(&data),
        "must agree with the port's crc32fast"
    );
    // crc32_ext continues a running CRC like crc32fast's initial state.
    let (a, b) = data.split_at(4321);
    let mut h = crc32fast::Hasher::new_with_initial(kern::crc32_bytes(0, a));
    h.update(b);
    assert_eq!(h.finalize(), c);
    assert_eq!(kern::crc32_bytes(kern::crc32_bytes(0, a), b), c);
}
