//! nginx's slab allocator (ngx_slab.c) as a model: which pages and chunks of a shared zone
//! are taken, not the memory itself. `ngx.shared.DICT` keeps its values on the Rust heap and
//! asks this model whether nginx would have found room, so `forcible`, "no memory" and
//! `free_space()` come out as the reference's for the same sequence of operations.

use std::collections::{BTreeMap, VecDeque};

const PAGE: usize = 4096;
const PAGE_SHIFT: u32 = 12;
/// nginx: the pool's `min_shift` for shared zones (8-byte chunks).
const MIN_SHIFT: u32 = 3;
/// nginx: ngx_slab_exact_shift on 64-bit (a page's bitmap fits one word).
const EXACT_SHIFT: u32 = 6;
/// nginx: ngx_slab_max_size; larger allocations take whole pages.
const MAX_CHUNK: usize = PAGE / 2;
const SLOTS: usize = (PAGE_SHIFT - MIN_SHIFT) as usize;
/// sizeof(ngx_slab_pool_t) on 64-bit Linux.
const POOL_HEADER: usize = 200;
/// sizeof(ngx_slab_page_t) and sizeof(ngx_slab_stat_t).
const PAGE_DESC: usize = 24;
const STAT_DESC: usize = 32;

/// Where an allocation lives: its page and, for chunk pages, the chunk's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alloc {
    page: usize,
    chunk: Option<u16>,
}

#[derive(Debug, Clone)]
enum Page {
    /// Part of a free run (the run itself is in `Slab::runs`).
    Free,
    /// The first page of `n` pages handed out whole.
    Pages(usize),
    /// A later page of such a run.
    Busy,
    /// A page cut into chunks of `1 << shift` bytes; `used` marks the taken ones (a small
    /// page's own bitmap occupies its first chunks); `listed` while it has a free chunk.
    Chunks {
        shift: u32,
        used: [u64; 8],
        listed: bool,
    },
}

/// A zone's pages (nginx: ngx_slab_pool_t).
#[derive(Debug)]
pub(crate) struct Slab {
    pages: Vec<Page>,
    /// Free runs by first page: their length.
    runs: BTreeMap<usize, usize>,
    /// The free runs' list, head first (nginx: `pool->free`): first fit walks it in order.
    free_list: VecDeque<usize>,
    /// Pages with a free chunk per size class, head first (nginx: the slots).
    slots: [VecDeque<usize>; SLOTS],
    /// Free pages (nginx: `pool->pfree`).
    pfree: usize,
}

/// Chunks per page of this size class.
fn chunks(shift: u32) -> usize {
    PAGE >> shift
}

/// The chunks a small page's own bitmap takes (nginx: the `n` of ngx_slab_alloc_locked).
fn bitmap_chunks(shift: u32) -> usize {
    if shift < EXACT_SHIFT {
        ((PAGE >> shift) / ((1 << shift) * 8)).max(1)
    } else {
        0
    }
}

fn is_set(used: &[u64; 8], i: usize) -> bool {
    used[i / 64] & (1 << (i % 64)) != 0
}

impl Slab {
    /// The pages of a zone of `size` bytes (nginx: ngx_slab_init).
    pub(crate) fn new(size: usize) -> Slab {
        let head = POOL_HEADER + SLOTS * (PAGE_DESC + STAT_DESC);
        let mut pages = size.saturating_sub(head) / (PAGE + PAGE_DESC);
        let start = (head + pages * PAGE_DESC).div_ceil(PAGE) * PAGE;
        pages = pages.min(size.saturating_sub(start) / PAGE);
        let mut s = Slab {
            pages: vec![Page::Free; pages],
            runs: BTreeMap::new(),
            free_list: VecDeque::new(),
            slots: Default::default(),
            pfree: pages,
        };
        if pages > 0 {
            s.runs.insert(0, pages);
            s.free_list.push_back(0);
        }
        s
    }

    /// Bytes in free pages (nginx: `pool->pfree * ngx_pagesize`).
    pub(crate) fn free_bytes(&self) -> usize {
        self.pfree * PAGE
    }

    /// nginx: ngx_slab_alloc_locked.
    pub(crate) fn alloc(&mut self, size: usize) -> Option<Alloc> {
        if size > MAX_CHUNK {
            let page = self.alloc_pages(size.div_ceil(PAGE))?;
            return Some(Alloc { page, chunk: None });
        }
        let shift = if size > 1 << MIN_SHIFT {
            usize::BITS - (size - 1).leading_zeros()
        } else {
            MIN_SHIFT
        };
        let slot = (shift - MIN_SHIFT) as usize;
        if let Some(&page) = self.slots[slot].front() {
            if let Page::Chunks { used, listed, .. } = &mut self.pages[page] {
                let n = chunks(shift);
                if let Some(i) = (0..n).find(|&i| !is_set(used, i)) {
                    used[i / 64] |= 1 << (i % 64);
                    if (0..n).all(|i| is_set(used, i)) {
                        *listed = false;
                        self.slots[slot].pop_front();
                    }
                    return Some(Alloc {
                        page,
                        chunk: u16::try_from(i).ok(),
                    });
                }
            }
            return None;
        }
        let page = self.alloc_pages(1)?;
        let mut used = [0u64; 8];
        let first = bitmap_chunks(shift);
        for i in 0..=first {
            used[i / 64] |= 1 << (i % 64);
        }
        let listed = chunks(shift) > first + 1;
        self.pages[page] = Page::Chunks {
            shift,
            used,
            listed,
        };
        if listed {
            self.slots[slot].push_front(page);
        }
        Some(Alloc {
            page,
            chunk: u16::try_from(first).ok(),
        })
    }

    /// nginx: ngx_slab_free_locked.
    pub(crate) fn free(&mut self, a: Alloc) {
        let Some(p) = self.pages.get_mut(a.page) else {
            return;
        };
        match (p, a.chunk) {
            (Page::Pages(n), None) => {
                let n = *n;
                self.free_pages(a.page, n);
            }
            (
                Page::Chunks {
                    shift,
                    used,
                    listed,
                },
                Some(i),
            ) => {
                let i = usize::from(i);
                if i >= chunks(*shift) || !is_set(used, i) {
                    return;
                }
                let shift = *shift;
                let slot = (shift - MIN_SHIFT) as usize;
                used[i / 64] &= !(1 << (i % 64));
                if !*listed {
                    *listed = true;
                    self.slots[slot].push_front(a.page);
                }
                let first = bitmap_chunks(shift);
                if (first..chunks(shift)).all(|i| !is_set(used, i)) {
                    self.slots[slot].retain(|&q| q != a.page);
                    self.free_pages(a.page, 1);
                }
            }
            _ => {}
        }
    }

    /// nginx: ngx_slab_alloc_pages (first fit along the free list).
    fn alloc_pages(&mut self, n: usize) -> Option<usize> {
        let pos = self
            .free_list
            .iter()
            .position(|s| self.runs.get(s).is_some_and(|&len| len >= n))?;
        let start = self.free_list[pos];
        let len = self.runs.remove(&start)?;
        if len > n {
            self.runs.insert(start + n, len - n);
            self.free_list[pos] = start + n;
        } else {
            self.free_list.remove(pos);
        }
        self.pfree -= n;
        self.pages[start] = Page::Pages(n);
        for p in &mut self.pages[start + 1..start + n] {
            *p = Page::Busy;
        }
        Some(start)
    }

    /// nginx: ngx_slab_free_pages (joins the free runs on both sides, then goes to the
    /// head of the free list).
    fn free_pages(&mut self, mut start: usize, mut n: usize) {
        self.pfree += n;
        for p in &mut self.pages[start..start + n] {
            *p = Page::Free;
        }
        if let Some(next) = self.runs.remove(&(start + n)) {
            self.free_list.retain(|&s| s != start + n);
            n += next;
        }
        if let Some((&prev, &len)) = self.runs.range(..start).next_back() {
            if prev + len == start {
                self.runs.remove(&prev);
                self.free_list.retain(|&s| s != prev);
                start = prev;
                n += len;
            }
        }
        self.runs.insert(start, n);
        self.free_list.push_front(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_pages_as_nginx() {
        // free_space() of the reference right after start-up, plus the two allocations of
        // the dict's own init (128 and 32 bytes: a page each).
        for (size, free) in [
            (12288, 0),
            (17000, 4096),
            (33792, 20480),
            (102400, 90112),
            (1048576, 1032192),
            (10485760, 10412032),
        ] {
            let mut s = Slab::new(size);
            assert!(s.alloc(80).is_some());
            assert!(s.alloc(31).is_some());
            assert_eq!(s.free_bytes(), free, "zone of {size}");
        }
    }

    #[test]
    fn chunks_and_pages_come_back() {
        let mut s = Slab::new(102400);
        let all = s.free_bytes();
        let a: Vec<Alloc> = (0..100)
            .map(|_| s.alloc(100))
            .collect::<Option<_>>()
            .unwrap();
        let big = s.alloc(10000).unwrap();
        assert_eq!(s.free_bytes(), all - 4 * PAGE - 3 * PAGE);
        for x in a {
            s.free(x);
        }
        s.free(big);
        assert_eq!(s.free_bytes(), all);
        assert_eq!(s.runs.len(), 1);
    }
}
