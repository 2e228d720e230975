//! The counting global allocator of this test binary, shared by its tests:
//! per thread, the heap held, its peak and the allocation calls.
//!
//! Per thread because the tests run side by side on threads of their own
//! and the harness's main thread allocates now and then (it did, inside a
//! measurement, in CI): a test measures only what its own thread did. The
//! counters are `const` thread-locals of `Cell`s, which need no lazy
//! initialisation and no destructor, so counting never allocates (and never
//! re-enters the allocator).

// Each test file reads a subset; some files are compiled out without
// features.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Where a thread's count of heap held starts: high, so that freeing
/// memory another thread allocated cannot wrap it.
const START: usize = 1 << 40;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(START) };
    static PEAK: Cell<usize> = const { Cell::new(START) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

// `try_with`: a thread's locals may be gone while it shuts down.
fn grow(bytes: usize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + bytes;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(bytes: usize) {
    let _ = HELD.try_with(|held| held.set(held.get() - bytes));
}

fn count_call() {
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        count_call();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        count_call();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    // The system's realloc (which can grow in place), counted as the change.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grow(new_size - layout.size());
        } else {
            shrink(layout.size() - new_size);
        }
        count_call();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap this thread holds (net of what it freed), from an arbitrary
/// origin: compare two readings.
pub fn held() -> usize {
    HELD.with(Cell::get)
}

/// The most this thread held since [`reset_peak`] (or since it started).
pub fn peak() -> usize {
    PEAK.with(Cell::get)
}

/// Starts a new peak from what this thread holds now.
pub fn reset_peak() {
    PEAK.with(|peak| peak.set(held()));
}

/// Allocation calls (alloc, alloc_zeroed, realloc) this thread made.
pub fn calls() -> u64 {
    CALLS.with(Cell::get)
}
