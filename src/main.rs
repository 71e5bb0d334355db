//! The `oxresty` binary: everything it does is nginx's command line, which lives in compat.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// mimalloc instead of the system allocator: allocation is a large share of the CPU a
/// request costs (bench/bench.py), and mimalloc's thread-local free lists make it cheap.
#[global_allocator]
static GLOBAL: Alloc = Alloc;

// mimalloc's unaligned entry points (linked in by the mimalloc crate's static library).
extern "C" {
    fn mi_malloc(size: usize) -> *mut c_void;
    fn mi_zalloc(size: usize) -> *mut c_void;
    fn mi_realloc(p: *mut c_void, newsize: usize) -> *mut c_void;
}

/// mimalloc's blocks are aligned to at least a word whatever their size.
const WORD: usize = std::mem::size_of::<usize>();

/// `mimalloc::MiMalloc` calls `mi_malloc_aligned` for every allocation; most of Rust's ask
/// for a word's alignment or less, which plain `mi_malloc` gives, on its shorter path (about
/// half the instructions per allocation). Larger alignments go to `MiMalloc`.
struct Alloc;

// SAFETY: every block comes from mimalloc and goes back to `mi_free` (MiMalloc's dealloc);
// the unaligned calls are used only when mimalloc's word alignment satisfies the layout.
unsafe impl GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_malloc(layout.size()).cast()
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_zalloc(layout.size()).cast()
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        mimalloc::MiMalloc.dealloc(ptr, layout)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            mi_realloc(ptr.cast(), new_size).cast()
        } else {
            mimalloc::MiMalloc.realloc(ptr, layout, new_size)
        }
    }
}

fn main() {
    std::process::exit(compat::main());
}
