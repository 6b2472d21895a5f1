//! Data-parallel 5×5 box blur of an RGB image (guide §2.4): the guide's
//! naive filter, serial and parallel, and a separable sliding-window filter
//! that gives the same bytes an order of magnitude faster.
//!
//! **What.** Every output pixel is the average of the pixels of the 5×5
//! window centred on it, per channel. At the borders only the in-bounds
//! pixels count, exactly as in the guide: `sum / count` in integers (`u32`
//! in the guide), truncating, where `count` is the number of in-bounds
//! pixels of the window (from 1 for a 1×1 image up to 25). All the filters
//! below give identical bytes (checked by proptest in `tests/blur_props.rs`,
//! including 1×1, 1×N, N×1 and images smaller than the kernel):
//!
//! | function | work per channel value | threads |
//! | --- | --- | --- |
//! | [`blur_naive`] | 25 reads, bounds checks (the guide's serial filter) | 1 |
//! | [`blur_naive_parallel`] | the same, one rayon task per row (the guide's parallel filter) | rayon |
//! | [`blur_separable`] (and [`blur_separable_into`]) | 1 add + 1 subtract down, 4 adds across, 1 multiply-high (vectorised; AVX2 when available) | 1 |
//! | [`blur_separable_parallel`] (and [`blur_separable_parallel_into`]) | the same, one rayon task per band of rows | rayon |
//!
//! **How the separable filter stays exact.** A box sum is separable: the
//! 5×5 sum is the sum, over the window's 5 rows, of each row's 5-wide
//! horizontal sum. With clipping at the borders the in-bounds window is
//! still a rectangle, `cx(x)` columns by `cy(y)` rows, so the in-bounds
//! count is `cx(x) · cy(y)`. Integer sums are exact (at most 25 · 255 =
//! 6375, so `u16` holds them), hence dividing the 2-D sum by that count
//! gives exactly the naive result, with no rounding drift.
//!
//! **How it is fast.** One pass over memory: the input is read once from
//! memory and the output written once; no full-size intermediate image.
//! Each rayon task walks its band of rows top to bottom with one
//! column-sum array of `3w` `u16`s (24 KiB for a 4096-wide row, it stays
//! in L1/L2):
//! - vertical running sums: `col[i]` is the sum of value `i` over the
//!   input rows of the current window. Moving down one row subtracts the
//!   row that leaves the window and adds the row that enters it: O(1) per
//!   value, row by row over contiguous memory (vectorised), never walking
//!   a column;
//! - then the 5-tap horizontal sum of `col` (4 adds per value) and the
//!   division by the in-bounds count, written straight to the output row.
//!   The two loops are fused block by block (512 values): slide a block,
//!   then emit the outputs whose window is complete, so `col` is re-read
//!   from L1 and the loads of the entering row overlap with arithmetic
//!   (about 5–10 % faster than two whole-row loops, measured on a noisy
//!   machine).
//!
//! Summing vertically first and horizontally second gives the same
//! integers as the other order and needs no ring of per-row horizontal
//! sums. The horizontal sum is a direct 5-tap sum rather than a running
//! sum: for the fixed radius 2 both are O(1) per value, but a running sum
//! along the row is a serial dependency chain that does not vectorise,
//! while five shifted slices add up 8 values per SSE2 instruction. The
//! division uses a multiply-high that is exact for these sums (see
//! `Divisor`), one `pmulhuw` and one shift per 8 values.
//!
//! **AVX2.** The loop is bound by arithmetic, not memory (a 1-thread run
//! writing its output to one reused row took 80–90 % of the full run's
//! time), so on x86-64 the band loop is compiled twice: the portable code
//! for the baseline target (SSE2, 8 `u16` lanes) and, when the CPU reports
//! AVX2 at run time, the same code with AVX2 enabled (16 lanes), with the
//! horizontal kernel written with intrinsics, 32 values per iteration. On
//! the 2-core bench machine that took the parallel filter from 0.45–0.57×
//! to 0.61–0.75× of `memcpy` (see `BENCHMARKS.md`). Other targets use the
//! portable code; both give the same bytes (a unit test compares the two
//! kernels, and the property tests run whichever the CPU selects). A two-pass
//! version ("blur rows into a temporary image, then blur its columns")
//! would write and re-read a `u16` image twice the input's size and, done
//! naively, walk it by columns.
//!
//! **When.** Any stencil over a large 2-D buffer: split the output into
//! disjoint bands (`par_chunks_mut`), read the shared input immutably. No
//! locks, no atomics: rayon's work stealing balances the bands.
//!
//! **Compared to.** The guide's naive filter is kept as the reference
//! ([`blur_naive`]) and its rayon version ([`blur_naive_parallel`]); they
//! do 25 bounds-checked reads per value. The `image`/`imageproc` crates
//! offer box and Gaussian filters (with their own border and rounding
//! rules, so not bit-identical to the guide); a prefix-sum (summed-area
//! table) filter is O(1) per pixel for any radius but needs a full `u32`
//! table, an extra memory pass. `benches/blur.rs` measures the filters beside a
//! plain `copy_from_slice` of the same buffer (the memory-bandwidth
//! ceiling) on a 4096×4096 image.
//!
//! # Example
//!
//! ```
//! use heddle::parallel::blur::{Image, blur_naive, blur_separable_parallel};
//!
//! let image = Image::test_pattern(64, 48)?; // the guide's gradient
//! let fast = blur_separable_parallel(&image);
//! assert_eq!(fast, blur_naive(&image)); // bit for bit
//!
//! // The length is checked: 2×2 RGB needs 12 bytes.
//! assert!(Image::new(2, 2, vec![0; 11]).is_err());
//! # Ok::<(), heddle::parallel::blur::BlurError>(())
//! ```

use rayon::prelude::*;

/// Side of the square kernel.
pub const KERNEL: usize = 5;
/// Kernel radius: the window of `(x, y)` is `x-2..=x+2` × `y-2..=y+2`.
pub const RADIUS: usize = KERNEL / 2;
/// Bytes per pixel (RGB, interleaved).
pub const CHANNELS: usize = 3;

/// Offset, in bytes, from a value to the same channel of the pixel `RADIUS`
/// columns away.
const EDGE: usize = RADIUS * CHANNELS;

/// Errors of the blur module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlurError {
    /// The pixel buffer does not hold `width · height · 3` bytes.
    #[error("a {width}x{height} RGB image needs {expected} bytes, got {actual}")]
    LengthMismatch {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// `width · height · 3`.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// `width · height · 3` overflows `usize`.
    #[error("a {width}x{height} RGB image is too large to address")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// The output image of an `_into` call has other dimensions than the input.
    #[error("output is {out_width}x{out_height}, input is {width}x{height}")]
    SizeMismatch {
        /// Input width.
        width: usize,
        /// Input height.
        height: usize,
        /// Output width.
        out_width: usize,
        /// Output height.
        out_height: usize,
    },
}

/// An RGB image: `width · height` pixels, row-major, 3 bytes per pixel
/// (R, G, B interleaved). The length is checked at construction, so every
/// `Image` is well formed. Zero width or height is allowed (an empty image).
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

fn byte_len(width: usize, height: usize) -> Result<usize, BlurError> {
    width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(CHANNELS))
        .ok_or(BlurError::TooLarge { width, height })
}

impl Image {
    /// Wraps `pixels` (RGB interleaved, row-major) as a `width × height`
    /// image; fails unless `pixels.len() == width · height · 3`.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self, BlurError> {
        let expected = byte_len(width, height)?;
        if pixels.len() != expected {
            return Err(BlurError::LengthMismatch {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// An all-black `width × height` image.
    pub fn black(width: usize, height: usize) -> Result<Self, BlurError> {
        let len = byte_len(width, height)?;
        Self::new(width, height, vec![0; len])
    }

    /// The guide's test image: red grows left to right, green top to
    /// bottom, blue is 128.
    pub fn test_pattern(width: usize, height: usize) -> Result<Self, BlurError> {
        let mut image = Self::black(width, height)?;
        if width > 0 {
            for (y, row) in image.pixels.chunks_exact_mut(width * CHANNELS).enumerate() {
                let g = (y as f32 / height as f32 * 255.0) as u8;
                for (x, px) in row.chunks_exact_mut(CHANNELS).enumerate() {
                    px[0] = (x as f32 / width as f32 * 255.0) as u8;
                    px[1] = g;
                    px[2] = 128;
                }
            }
        }
        Ok(image)
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel bytes, RGB interleaved, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixel at `(x, y)` as `[r, g, b]`, or `None` out of bounds.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * CHANNELS;
        Some([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]])
    }

    /// Gives the pixel buffer back.
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// Bytes per row.
    fn stride(&self) -> usize {
        self.width * CHANNELS
    }

    /// An all-black image of the same size (cannot overflow: `self` exists).
    fn blank_like(&self) -> Self {
        Self {
            width: self.width,
            height: self.height,
            pixels: vec![0; self.pixels.len()],
        }
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pixels would be megabytes of noise.
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The guide's serial filter, loop for loop: for every pixel, sum the
/// in-bounds pixels of the 5×5 window per channel and divide by their count.
/// The reference the faster versions are checked against.
pub fn blur_naive(image: &Image) -> Image {
    let mut out = image.blank_like();
    if image.width > 0 {
        for (y, row) in out.pixels.chunks_mut(image.stride()).enumerate() {
            naive_row(image, y, row);
        }
    }
    out
}

/// The guide's parallel filter: the naive per-pixel loop, one rayon task
/// per output row (`par_chunks_mut`).
pub fn blur_naive_parallel(image: &Image) -> Image {
    let mut out = image.blank_like();
    if image.width > 0 {
        out.pixels
            .par_chunks_mut(image.stride())
            .enumerate()
            .for_each(|(y, row)| naive_row(image, y, row));
    }
    out
}

/// Output row `y` of the naive filter: the guide's inner loops.
fn naive_row(image: &Image, y: usize, row: &mut [u8]) {
    let (w, h) = (image.width as isize, image.height as isize);
    let half = RADIUS as isize;
    for x in 0..image.width {
        let (mut r_sum, mut g_sum, mut b_sum, mut count) = (0u32, 0u32, 0u32, 0u32);
        for ky in 0..KERNEL as isize {
            for kx in 0..KERNEL as isize {
                let px = x as isize + (kx - half);
                let py = y as isize + (ky - half);
                if px >= 0 && px < w && py >= 0 && py < h {
                    let index = (py as usize * image.width + px as usize) * CHANNELS;
                    r_sum += u32::from(image.pixels[index]);
                    g_sum += u32::from(image.pixels[index + 1]);
                    b_sum += u32::from(image.pixels[index + 2]);
                    count += 1;
                }
            }
        }
        // `count >= 1`: the centre pixel is always in bounds. The quotient
        // of a sum of `count` bytes by `count` is at most 255.
        let out = x * CHANNELS;
        row[out] = (r_sum / count) as u8;
        row[out + 1] = (g_sum / count) as u8;
        row[out + 2] = (b_sum / count) as u8;
    }
}

/// The separable sliding-window filter on one thread. Same bytes as
/// [`blur_naive`].
pub fn blur_separable(image: &Image) -> Image {
    let mut out = image.blank_like();
    if image.width > 0 && image.height > 0 {
        let mut col = vec![0; image.stride()];
        band_dispatch(image, 0, &mut out.pixels, &mut col);
    }
    out
}

/// [`blur_separable`] into an existing image of the same size.
pub fn blur_separable_into(image: &Image, out: &mut Image) -> Result<(), BlurError> {
    check_same_size(image, out)?;
    if image.width > 0 && image.height > 0 {
        let mut col = vec![0; image.stride()];
        band_dispatch(image, 0, &mut out.pixels, &mut col);
    }
    Ok(())
}

/// The separable sliding-window filter, one rayon task per band of rows.
/// The fastest variant; same bytes as [`blur_naive`].
pub fn blur_separable_parallel(image: &Image) -> Image {
    let mut out = image.blank_like();
    separable_parallel(image, &mut out.pixels, default_band_rows(image.height));
    out
}

/// [`blur_separable_parallel`] into an existing image of the same size (no
/// allocation, no page faults on a fresh buffer): what a video loop would
/// call once per frame.
pub fn blur_separable_parallel_into(image: &Image, out: &mut Image) -> Result<(), BlurError> {
    check_same_size(image, out)?;
    separable_parallel(image, &mut out.pixels, default_band_rows(image.height));
    Ok(())
}

/// [`blur_separable_parallel_into`] with an explicit band height (rows per
/// rayon task; `0` counts as 1). For tuning and for tests of the band
/// seams: the result does not depend on it.
pub fn blur_separable_bands_into(
    image: &Image,
    out: &mut Image,
    band_rows: usize,
) -> Result<(), BlurError> {
    check_same_size(image, out)?;
    separable_parallel(image, &mut out.pixels, band_rows.max(1));
    Ok(())
}

fn check_same_size(image: &Image, out: &Image) -> Result<(), BlurError> {
    if image.width != out.width || image.height != out.height {
        return Err(BlurError::SizeMismatch {
            width: image.width,
            height: image.height,
            out_width: out.width,
            out_height: out.height,
        });
    }
    Ok(())
}

/// About four bands per rayon thread: enough to balance, few enough that
/// the 4 warm-up rows of each band cost little.
fn default_band_rows(height: usize) -> usize {
    height.div_ceil(rayon::current_num_threads() * 4).max(1)
}

fn separable_parallel(image: &Image, out: &mut [u8], band_rows: usize) {
    if image.width == 0 || image.height == 0 {
        return;
    }
    let stride = image.stride();
    out.par_chunks_mut(band_rows * stride)
        .enumerate()
        .for_each_init(
            || vec![0; stride],
            |col, (band, rows)| band_dispatch(image, band * band_rows, rows, col),
        );
}

/// [`separable_band`] with the fastest kernel the CPU supports, chosen at
/// run time (a cached CPUID test, once per band).
#[inline]
fn band_dispatch(image: &Image, y0: usize, out: &mut [u8], col: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(avx2) = avx2::Avx2::detect() {
        // SAFETY: `band` only requires AVX2, and the `Avx2` token exists, so
        // the CPU has it.
        unsafe { avx2::band(avx2, image, y0, out, col) };
        return;
    }
    separable_band(Portable, image, y0, out, col);
}

/// The inner kernel of the horizontal pass, [`sum5_divide`], in one of its
/// implementations; [`separable_band`] is generic over it so that each
/// version is compiled (and inlined) on its own.
trait Kernel: Copy {
    /// `out[j] = (col[j] + col[j+3] + col[j+6] + col[j+9] + col[j+12]) / d`
    /// for every `j < out.len()`; `col.len() >= out.len() + 12`.
    fn sum5_divide(self, col: &[u16], out: &mut [u8], d: Divisor);
}

/// Plain Rust; the compiler vectorises it for the target's baseline (SSE2
/// on x86-64).
#[derive(Clone, Copy)]
struct Portable;

impl Kernel for Portable {
    #[inline(always)]
    fn sum5_divide(self, col: &[u16], out: &mut [u8], d: Divisor) {
        sum5_divide(col, out, d);
    }
}

/// Blurs output rows `y0 .. y0 + out.len() / stride` into `out`. `col` is
/// working memory of `stride` values (its contents do not matter).
///
/// Vertical first: `col[i]` is the running sum of value `i` over the input
/// rows of the current window, updated row by row (the leaving row
/// subtracted, the entering row added: contiguous, vectorised). Each output
/// row is then the 5-tap horizontal sum of `col`, divided by the count,
/// fused into one pass. Summation order does not matter for integers.
#[inline(always)]
fn separable_band<K: Kernel>(kernel: K, image: &Image, y0: usize, out: &mut [u8], col: &mut [u16]) {
    let stride = image.stride();
    let h = image.height;
    let row = |r: usize| &image.pixels[r * stride..][..stride];
    col.fill(0);
    // The input rows currently summed in `col`: `lo..hi` (empty at first).
    let mut lo = y0.saturating_sub(RADIUS);
    let mut hi = lo;
    for (dy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let y = y0 + dy;
        let (want_lo, want_hi) = (y.saturating_sub(RADIUS), (y + RADIUS + 1).min(h));
        if want_lo == lo + 1 && want_hi == hi + 1 {
            // Steady state: one row leaves the window, one enters.
            slide_and_divide(kernel, col, row(lo), row(hi), out_row, (hi - lo) as u16);
            (lo, hi) = (want_lo, want_hi);
        } else {
            // Top and bottom borders, and the first row of a band.
            for r in lo..want_lo.min(hi) {
                for (c, &v) in col.iter_mut().zip(row(r)) {
                    *c -= u16::from(v);
                }
            }
            for r in hi.max(want_lo)..want_hi {
                for (c, &v) in col.iter_mut().zip(row(r)) {
                    *c += u16::from(v);
                }
            }
            (lo, hi) = (want_lo, want_hi);
            horizontal_divide(kernel, col, out_row, (hi - lo) as u16);
        }
    }
}

/// Values per block of [`slide_and_divide`]: a few KiB of `col`, so each
/// block is still in L1 when the horizontal pass reads it back.
const BLOCK: usize = 512;

/// The steady-state row, fused block by block: slide `col` down one row
/// over a block, then produce every output value whose horizontal window
/// is now up to date. The block of `col` is re-read while still in L1, and
/// the loads of the entering row (the only data from beyond L2) overlap
/// with the arithmetic of the horizontal pass.
#[inline(always)]
fn slide_and_divide<K: Kernel>(
    kernel: K,
    col: &mut [u16],
    leave: &[u8],
    enter: &[u8],
    out: &mut [u8],
    cy: u16,
) {
    let stride = col.len();
    let (start, end) = interior(stride);
    let d = Divisor::new(5 * cy);
    let mut done = start;
    let mut k = 0;
    while k < stride {
        let k_end = (k + BLOCK).min(stride);
        slide(&mut col[k..k_end], &leave[k..k_end], &enter[k..k_end]);
        k = k_end;
        // Interior values `j` whose window `j-6..=j+6` is all updated.
        let ready = if k == stride {
            end
        } else {
            (k - EDGE).min(end)
        };
        if ready > done {
            // `done >= start == EDGE` here, and `ready + EDGE <= stride`.
            kernel.sum5_divide(&col[done - EDGE..ready + EDGE], &mut out[done..ready], d);
            done = ready;
        }
    }
    divide_borders(col, out, cy);
}

/// `col[i] += enter[i] - leave[i]`: the vertical running sum moves down one
/// row. Never underflows: `leave` was added before.
#[inline(always)]
fn slide(col: &mut [u16], leave: &[u8], enter: &[u8]) {
    for ((c, &l), &e) in col.iter_mut().zip(leave).zip(enter) {
        *c = *c + u16::from(e) - u16::from(l);
    }
}

/// Number of in-bounds columns of the window of column `x` in a row of
/// `width` pixels.
fn window_cols(x: usize, width: usize) -> u16 {
    ((x + RADIUS + 1).min(width) - x.saturating_sub(RADIUS)) as u16
}

/// The range of value indices of a row of `stride` values whose whole
/// horizontal window is in bounds (`cx == 5`); empty for rows under 5 pixels.
fn interior(stride: usize) -> (usize, usize) {
    let start = EDGE.min(stride);
    let end = stride.saturating_sub(EDGE).max(start);
    (start, end)
}

/// `out[i]` = (sum of `col` over the in-bounds values of the same channel
/// within 2 pixels of value `i`) / (`cx(i) · cy`), truncating, as the
/// guide does.
#[inline(always)]
fn horizontal_divide<K: Kernel>(kernel: K, col: &[u16], out: &mut [u8], cy: u16) {
    let stride = col.len();
    let (start, end) = interior(stride);
    if end > start {
        // Interior: `cx == 5`, so the divisor is the same for the whole row.
        kernel.sum5_divide(col, &mut out[start..end], Divisor::new(5 * cy));
    }
    divide_borders(col, out, cy);
}

/// The values whose horizontal window is clipped: the first and last two
/// pixels of the row (every value, for rows narrower than the kernel).
#[inline(always)]
fn divide_borders(col: &[u16], out: &mut [u8], cy: u16) {
    let stride = col.len();
    let (start, end) = interior(stride);
    let width = stride / CHANNELS;
    for i in (0..start).chain(end..stride) {
        let first = i % CHANNELS + i.saturating_sub(EDGE) / CHANNELS * CHANNELS;
        let last = (i + EDGE).min(stride - CHANNELS + i % CHANNELS);
        let sum: u16 = col[first..=last].iter().step_by(CHANNELS).sum();
        out[i] = (sum / (window_cols(i / CHANNELS, width) * cy)) as u8;
    }
}

/// `out[j] = (col[j] + col[j+3] + col[j+6] + col[j+9] + col[j+12]) / d`:
/// the interior values, `out` starting at value 6 of the row. Five
/// contiguous slices of the same length, no bounds checks in the loop: it
/// vectorises.
#[inline(always)]
fn sum5_divide(col: &[u16], out: &mut [u8], d: Divisor) {
    let n = out.len();
    let taps = col[..n]
        .iter()
        .zip(&col[CHANNELS..][..n])
        .zip(&col[2 * CHANNELS..][..n])
        .zip(&col[3 * CHANNELS..][..n])
        .zip(&col[4 * CHANNELS..][..n]);
    for (o, ((((a, b), c), e), f)) in out.iter_mut().zip(taps) {
        // At most 25 · 255 = 6375: no overflow, and the quotient fits a byte.
        *o = d.divide(a + b + c + e + f);
    }
}

/// The AVX2 version of the band filter (x86-64 only): the same code as the
/// portable one, compiled with AVX2 enabled (16 `u16` lanes per
/// instruction instead of SSE2's 8), and the horizontal kernel written
/// with intrinsics, because the compiler does not turn the 16-bit
/// multiply-high of [`Divisor`] into one `vpmulhuw` per 16 values by itself
/// (it widens to 32 bits and packs back, twice the instructions).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{CHANNELS, Divisor, Image, Kernel, separable_band, sum5_divide};
    use std::arch::asm;
    use std::arch::x86_64::{
        __m256i, _mm_cvtsi32_si128, _mm256_add_epi16, _mm256_loadu_si256, _mm256_packus_epi16,
        _mm256_permute4x64_epi64, _mm256_set1_epi16, _mm256_setzero_si256, _mm256_srl_epi16,
        _mm256_storeu_si256,
    };

    /// Proof that the CPU supports AVX2: a value exists only if
    /// [`Avx2::detect`] found it.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    impl Avx2 {
        /// `Some` if and only if the CPU supports AVX2 (std caches the test).
        #[inline]
        pub(super) fn detect() -> Option<Self> {
            std::arch::is_x86_feature_detected!("avx2").then_some(Self(()))
        }
    }

    impl Kernel for Avx2 {
        #[inline(always)]
        fn sum5_divide(self, col: &[u16], out: &mut [u8], d: Divisor) {
            // SAFETY: `self` proves the CPU supports AVX2.
            let done = unsafe { sum5_divide_avx2(col, out, d) };
            sum5_divide(&col[done..], &mut out[done..], d);
        }
    }

    /// [`separable_band`](super::separable_band) compiled with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 (the token is the proof, but the attribute
    /// makes the function `unsafe` to call before Rust 1.86).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn band(
        avx2: Avx2,
        image: &Image,
        y0: usize,
        out: &mut [u8],
        col: &mut [u16],
    ) {
        separable_band(avx2, image, y0, out, col);
    }

    /// The first `32 · ⌊out.len() / 32⌋` values of
    /// [`sum5_divide`](super::sum5_divide), 32 per iteration; returns how
    /// many it wrote (the caller finishes the rest).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn sum5_divide_avx2(col: &[u16], out: &mut [u8], d: Divisor) -> usize {
        /// Values per iteration: two vectors of 16 `u16` sums, packed into
        /// one vector of 32 bytes.
        const STEP: usize = 32;
        /// Reach of the 5 taps beyond the first.
        const TAPS: usize = 4 * CHANNELS;
        let n = out.len().min(col.len().saturating_sub(TAPS)) / STEP * STEP;
        // SAFETY: AVX2 is available (precondition); these only fill
        // registers. (Calling these intrinsics is safe inside an AVX2
        // function from Rust 1.87 on; the crate supports 1.85.)
        #[allow(unused_unsafe)]
        let (m, shift, zero) = unsafe {
            (
                _mm256_set1_epi16(d.multiplier as i16),
                _mm_cvtsi32_si128(d.shift as i32),
                _mm256_setzero_si256(),
            )
        };
        let mut i = 0;
        while i < n {
            // Bounds checked once per iteration: every load below reads
            // inside `taps` and every store writes inside `dst`.
            let taps = &col[i..i + STEP + TAPS];
            let dst = &mut out[i..i + STEP];
            // The two halves of 16 values: sum the 5 taps, divide.
            let mut quotients = [zero; 2];
            for (half, q) in quotients.iter_mut().enumerate() {
                let taps = &taps[16 * half..];
                // SAFETY: AVX2 is available (precondition), which the
                // intrinsics and the `vpmulhuw` instruction need. Each
                // unaligned load reads 16 `u16`s at offset `t` of `taps`
                // with `t + 16 <= 12 + 16 = taps.len() - 16 · half`;
                // `loadu` needs no alignment. The assembly reads two
                // registers and writes one, nothing else (`pure, nomem,
                // nostack, preserves_flags`).
                unsafe {
                    let p = taps.as_ptr();
                    let mut sum = _mm256_loadu_si256(p.cast::<__m256i>());
                    for t in 1..5 {
                        let tap = _mm256_loadu_si256(p.add(t * CHANNELS).cast::<__m256i>());
                        sum = _mm256_add_epi16(sum, tap);
                    }
                    // At most 25 · 255 = 6375 per sum: no overflow.
                    // `vpmulhuw`: the high halves of the 16 products. In
                    // assembly because LLVM rewrites `_mm256_mulhi_epu16`
                    // as a 32-bit multiply (zero-extend, two `vpmulhuw`,
                    // pack back), which made this loop a third slower.
                    let high: __m256i;
                    asm!(
                        "vpmulhuw {high}, {sum}, {m}",
                        high = lateout(ymm_reg) high,
                        sum = in(ymm_reg) sum,
                        m = in(ymm_reg) m,
                        options(pure, nomem, nostack, preserves_flags),
                    );
                    *q = _mm256_srl_epi16(high, shift);
                }
            }
            // SAFETY: AVX2 is available (precondition); the store writes
            // 32 bytes, `dst.len()`, and `storeu` needs no alignment.
            unsafe {
                // Each quotient is at most 255: the saturating pack is
                // exact. It interleaves 128-bit lanes (lo0 hi0 lo1 hi1), the
                // permutation puts them back in order.
                let packed = _mm256_packus_epi16(quotients[0], quotients[1]);
                let ordered = _mm256_permute4x64_epi64::<0b11_01_10_00>(packed);
                _mm256_storeu_si256(dst.as_mut_ptr().cast::<__m256i>(), ordered);
            }
            i += STEP;
        }
        n
    }
}

/// Exact division of a sum of at most `d` bytes (so at most `255 · d`) by
/// `2 ≤ d ≤ 25`, as a multiply-high and a shift.
///
/// Division by a non-constant is slow and does not vectorise; the
/// compiler's division by a constant must be right for every `u16`, which
/// for most divisors takes a fix-up after the multiply-high (subtract,
/// shift, add, shift). Knowing the dividend is at most `255 · d` allows a
/// multiplier below 2¹⁶ with no fix-up: one `pmulhuw` and one `psrlw` per 8
/// values on SSE2. The shift is a run-time value on purpose: a constant
/// one gets folded into a 32-bit shift of the full product, which no longer
/// maps onto `pmulhuw`.
#[derive(Clone, Copy, Debug)]
struct Divisor {
    /// `ceil(2ᵏ / d)`, below 2¹⁶.
    multiplier: u16,
    /// `k − 16`.
    shift: u32,
}

impl Divisor {
    /// `m = ceil(2ᵏ / d)` overshoots `2ᵏ / d` by `e / d` with
    /// `e = m·d − 2ᵏ < d`, so `floor(x · m / 2ᵏ) == floor(x / d)` whenever
    /// `x · e < 2ᵏ`: take the smallest `k ≥ 16` where that holds for
    /// `x = 255 · d` (checked exhaustively by a unit test for every `d`).
    fn new(d: u16) -> Self {
        let d = u64::from(d.clamp(2, 25));
        let max = 255 * d;
        let mut k = 16;
        loop {
            let m = (1u64 << k).div_ceil(d);
            let e = m * d - (1u64 << k);
            // For d ≤ 25, k = 16..=20 always succeeds with m < 2¹⁶.
            if max * e < (1u64 << k) || k == 20 {
                return Self {
                    multiplier: m as u16,
                    shift: k - 16,
                };
            }
            k += 1;
        }
    }

    #[inline(always)]
    fn divide(self, x: u16) -> u8 {
        let high = ((u32::from(x) * u32::from(self.multiplier)) >> 16) as u16;
        (high >> self.shift) as u8
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn window_counts_match_the_naive_bounds() {
        for width in 1..12 {
            for x in 0..width {
                let naive = (0..KERNEL)
                    .filter(|k| {
                        let px = x as isize + *k as isize - RADIUS as isize;
                        px >= 0 && px < width as isize
                    })
                    .count();
                assert_eq!(usize::from(window_cols(x, width)), naive, "x={x} w={width}");
            }
        }
    }

    #[test]
    fn multiply_high_division_is_exact() {
        for d in 2..=25u16 {
            let div = Divisor::new(d);
            for x in 0..=255 * d {
                assert_eq!(u16::from(div.divide(x)), x / d, "{x} / {d} with {div:?}");
            }
        }
    }

    /// The AVX2 kernel against the portable one, for every divisor, on
    /// column sums up to their maximum (`cy · 255`), over lengths that
    /// cover whole 32-value steps and every remainder.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernel_matches_the_portable_one() {
        let Some(avx2) = avx2::Avx2::detect() else {
            return;
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for cy in 1..=5u16 {
            for cx in 2..=5u16 {
                let d = Divisor::new(cx * cy);
                for len in [0, 1, 31, 32, 33, 64, 95, 200] {
                    let col: Vec<u16> = (0..len + 4 * CHANNELS)
                        .map(|i| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            // Every fourth run of values at the maximum.
                            if i % 64 < 16 {
                                cy * 255
                            } else {
                                (x % u64::from(cy * 255 + 1)) as u16
                            }
                        })
                        .collect();
                    // Only sums of at most `cx` columns are valid for `d`:
                    // scale the 5-tap sums down when `cx < 5` by zeroing taps.
                    let col: Vec<u16> = col
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| {
                            if (i / CHANNELS) % 5 < usize::from(cx) {
                                c
                            } else {
                                0
                            }
                        })
                        .collect();
                    let (mut fast, mut slow) = (vec![0; len], vec![0; len]);
                    avx2.sum5_divide(&col, &mut fast, d);
                    Portable.sum5_divide(&col, &mut slow, d);
                    assert_eq!(fast, slow, "cx={cx} cy={cy} len={len}");
                }
            }
        }
    }

    #[test]
    fn one_by_one_is_the_identity() {
        let image = Image::new(1, 1, vec![7, 8, 9]).expect("3 bytes");
        assert_eq!(blur_separable(&image), image);
        assert_eq!(blur_naive(&image), image);
    }

    #[test]
    fn uniform_image_stays_uniform() {
        let image = Image::new(7, 6, vec![200; 7 * 6 * 3]).expect("right length");
        assert_eq!(blur_separable_parallel(&image), image);
    }

    #[test]
    fn constructor_checks_the_length() {
        assert_eq!(
            Image::new(2, 3, vec![0; 17]),
            Err(BlurError::LengthMismatch {
                width: 2,
                height: 3,
                expected: 18,
                actual: 17
            })
        );
        assert_eq!(
            Image::black(usize::MAX, 2),
            Err(BlurError::TooLarge {
                width: usize::MAX,
                height: 2
            })
        );
        let empty = Image::new(0, 5, Vec::new()).expect("empty image");
        assert_eq!(blur_separable_parallel(&empty), empty);
        assert_eq!(blur_naive_parallel(&empty), empty);
    }

    #[test]
    fn into_checks_the_size() {
        let image = Image::black(3, 3).expect("small");
        let mut out = Image::black(3, 4).expect("small");
        assert!(matches!(
            blur_separable_parallel_into(&image, &mut out),
            Err(BlurError::SizeMismatch { .. })
        ));
    }
}
