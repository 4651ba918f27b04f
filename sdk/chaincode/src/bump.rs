//! A bump allocator for chaincode that allocates little per call.
//!
//! Every invocation runs in a fresh instance that is thrown away afterwards,
//! so memory never has to be given back to anyone: allocation is a pointer
//! increment, and growing the last allocation (a `Vec` or `String` being
//! built) extends it in place. Freed memory is reused only when it was the
//! last allocation. A call that allocates and frees a lot in a loop (a scan
//! over many keys) uses more memory than with Rust's default allocator and
//! can hit the runtime's memory limit; such chaincode should keep the default.
//!
//! Opt in from the chaincode crate:
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOCATOR: weft_chaincode::BumpAllocator = weft_chaincode::BumpAllocator::new();
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::null_mut;

const PAGE_BYTES: usize = 65_536;

/// The allocator; see the module docs.
#[derive(Debug)]
pub struct BumpAllocator {
    /// The first free byte; 0 until the first allocation.
    next: Cell<usize>,
}

// SAFETY: chaincode runs single-threaded (the runtime enables no threads), so
// the cell is never accessed concurrently.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    /// An allocator that starts at the module's heap base.
    pub const fn new() -> Self {
        BumpAllocator { next: Cell::new(0) }
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

unsafe extern "C" {
    /// Set by the linker: where the heap starts, after the stack and data.
    static __heap_base: u8;
}

impl BumpAllocator {
    fn heap_start() -> usize {
        core::ptr::addr_of!(__heap_base) as usize
    }

    /// Reserves `size` bytes at `align` from the current position, growing
    /// memory when needed; null when memory cannot grow.
    fn bump(&self, size: usize, align: usize) -> *mut u8 {
        let next = match self.next.get() {
            0 => Self::heap_start(),
            n => n,
        };
        let Some(start) = next.checked_add(align - 1).map(|n| n & !(align - 1)) else {
            return null_mut();
        };
        let Some(end) = start.checked_add(size) else {
            return null_mut();
        };
        if !Self::ensure(end) {
            return null_mut();
        }
        self.next.set(end);
        start as *mut u8
    }

    /// Makes sure memory reaches `end`.
    fn ensure(end: usize) -> bool {
        let available = core::arch::wasm32::memory_size(0).saturating_mul(PAGE_BYTES);
        if end <= available {
            return true;
        }
        let pages = (end - available).div_ceil(PAGE_BYTES);
        core::arch::wasm32::memory_grow(0, pages) != usize::MAX
    }
}

// SAFETY: `alloc` returns memory inside the instance's linear memory that no
// other allocation overlaps (the pointer only moves forward, except when the
// last allocation is freed or resized in place), aligned as `layout` asks.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start + layout.size() == self.next.get() {
            // The last allocation: resize it where it is.
            let Some(end) = start.checked_add(new_size) else {
                return null_mut();
            };
            if !Self::ensure(end) {
                return null_mut();
            }
            self.next.set(end);
            return ptr;
        }
        let new = self.bump(new_size, layout.align());
        if !new.is_null() {
            // SAFETY: both regions are valid for the smaller size and do not
            // overlap (`new` lies past every live allocation).
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}
