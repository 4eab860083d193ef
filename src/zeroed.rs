//! A cache-line-aligned slice allocated zeroed through `calloc`.
//!
//! `std`'s `alloc_zeroed` falls back to allocate-then-`memset` for alignments
//! above 16 bytes, which touches (and commits) every page of a large table at
//! build time. Allocating with 16-byte alignment instead lets the allocator
//! use fresh, lazily-zeroed pages (`mmap` for large sizes); the slice is then
//! placed at the first 64-byte boundary inside the allocation.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, Index};
use std::ptr::NonNull;

const LINE: usize = 64;

/// A heap slice of `T`s that starts zeroed and is aligned to 64 bytes.
pub(crate) struct ZeroedSlice<T> {
    data: NonNull<T>,
    len: usize,
    raw: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `ZeroedSlice<T>` owns its `T`s exactly as a `Box<[T]>` does; the
// raw pointers are never shared outside it.
unsafe impl<T: Send> Send for ZeroedSlice<T> {}
// SAFETY: shared access only hands out `&[T]`, as `Box<[T]>` does.
unsafe impl<T: Sync> Sync for ZeroedSlice<T> {}

impl<T> ZeroedSlice<T> {
    /// Allocates `len` zeroed `T`s, or `None` if the allocation fails.
    ///
    /// # Safety
    ///
    /// All-zero bytes must be a valid value of `T`, and `T` must not need
    /// more than 64-byte alignment.
    pub(crate) unsafe fn new(len: usize) -> Option<Self> {
        const { assert!(std::mem::align_of::<T>() <= LINE) };
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)?
            .checked_add(LINE)?;
        let layout = Layout::from_size_align(bytes, 16).ok()?;
        // SAFETY: `layout` has a non-zero size (at least `LINE` bytes).
        let raw = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        let offset = raw.as_ptr().align_offset(LINE);
        // SAFETY: `offset < LINE` and the allocation has `LINE` spare bytes,
        // so the `len` elements starting there are inside it.
        let data = unsafe { NonNull::new_unchecked(raw.as_ptr().add(offset).cast::<T>()) };
        Some(ZeroedSlice {
            data,
            len,
            raw,
            layout,
        })
    }
}

impl<T> ZeroedSlice<T> {
    /// The number of elements, read without going through [`Deref`].
    /// (Loom builds leave out the table code that reads it.)
    #[inline]
    #[cfg_attr(clockcache_loom, allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// One element, without going through [`Deref`]: the same bounds check and
/// address as slice indexing. Under Miri's Tree Borrows, the `&[T]` that
/// `Deref` creates is retagged element by element (it looks for interior
/// mutability), so a table lookup through it costs time proportional to the
/// whole table there; a reference to the one element costs O(1).
impl<T> Index<usize> for ZeroedSlice<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        if i >= self.len {
            out_of_bounds(i, self.len);
        }
        // SAFETY: `i < len`, so the element is inside the allocation, is an
        // initialised and aligned `T` (see `deref`) and is owned by self.
        unsafe { &*self.data.as_ptr().add(i) }
    }
}

/// The panic of a failed bounds check, kept out of line as `std` does.
#[cold]
#[inline(never)]
#[track_caller]
fn out_of_bounds(i: usize, len: usize) -> ! {
    panic!("index out of bounds: the len is {len} but the index is {i}")
}

impl<T> Deref for ZeroedSlice<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `data` points to `len` initialised (zeroed, which the
        // constructor's contract makes valid) and aligned `T`s owned by self.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }
}

impl<T> Drop for ZeroedSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the elements are valid `T`s owned by this slice and dropped
        // exactly once here; then the allocation is returned with the layout
        // it was made with.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.data.as_ptr(),
                self.len,
            ));
            dealloc(self.raw.as_ptr(), self.layout);
        }
    }
}
