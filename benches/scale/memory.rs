//! What the scale bench measures memory with: a counting allocator and `/proc/self/statm`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

/// Heap bytes allocated and not yet freed, counted while `COUNTING` is on (off while timing,
/// so builds are timed with the plain system allocator).
struct Counting;
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_add(layout.size() as i64, Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes and resident bytes allocated by `f`, still held when it returns with `T`.
pub fn held_by<T>(f: impl FnOnce() -> T) -> (T, i64, i64) {
    let (heap, rss) = (LIVE_BYTES.load(Relaxed), resident());
    COUNTING.store(true, Relaxed);
    let kept = f();
    COUNTING.store(false, Relaxed);
    (kept, LIVE_BYTES.load(Relaxed) - heap, resident() - rss)
}

/// Resident bytes of this process (`/proc/self/statm`, Linux; 0 elsewhere).
fn resident() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
