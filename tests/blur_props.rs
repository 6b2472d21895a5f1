//! Property tests of the 5×5 blur (guide §2.4): the naive serial filter,
//! the naive parallel filter and the separable sliding-window filter
//! (serial, parallel, any band height) give identical bytes, on random
//! images of every small shape (1×1, 1×N, N×1, sizes below the kernel).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use heddle::parallel::blur::{
    BlurError, Image, blur_naive, blur_naive_parallel, blur_separable, blur_separable_bands_into,
    blur_separable_into, blur_separable_parallel, blur_separable_parallel_into,
};
use proptest::prelude::*;

/// A random `w × h` RGB image, `w, h` in `0..=max`.
fn image(max: usize) -> impl Strategy<Value = Image> {
    (0..=max, 0..=max).prop_flat_map(|(w, h)| {
        proptest::collection::vec(any::<u8>(), w * h * 3)
            .prop_map(move |px| Image::new(w, h, px).expect("generated with the right length"))
    })
}

/// Independent reference: for each pixel, average the in-bounds pixels of
/// the 5×5 window with the guide's integer division, written without the
/// guide's loop structure.
fn reference(img: &Image) -> Vec<u8> {
    let (w, h) = (img.width(), img.height());
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (mut sum, mut n) = ([0u32; 3], 0u32);
            for py in y.saturating_sub(2)..=(y + 2).min(h - 1) {
                for px in x.saturating_sub(2)..=(x + 2).min(w - 1) {
                    let p = img.pixel(px, py).expect("in bounds");
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                    n += 1;
                }
            }
            out.extend(sum.iter().map(|s| (s / n) as u8));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn all_variants_agree_bit_for_bit(img in image(13), band in 1usize..8) {
        let naive = blur_naive(&img);
        prop_assert_eq!(naive.pixels(), &reference(&img)[..]);
        prop_assert_eq!(&blur_naive_parallel(&img), &naive);
        prop_assert_eq!(&blur_separable(&img), &naive);
        prop_assert_eq!(&blur_separable_parallel(&img), &naive);
        let mut out = Image::new(img.width(), img.height(), vec![0xAA; img.pixels().len()])
            .expect("same size");
        blur_separable_bands_into(&img, &mut out, band).expect("same size");
        prop_assert_eq!(&out, &naive);
        blur_separable_parallel_into(&img, &mut out).expect("same size");
        prop_assert_eq!(&out, &naive);
        out.clone_from(&img);
        blur_separable_into(&img, &mut out).expect("same size");
        prop_assert_eq!(&out, &naive);
    }

    #[test]
    fn thin_images_agree(len in 1usize..40, vertical in any::<bool>(), seed in any::<u64>()) {
        let (w, h) = if vertical { (1, len) } else { (len, 1) };
        let mut x = seed | 1;
        let px = (0..w * h * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let img = Image::new(w, h, px).expect("right length");
        let naive = blur_naive(&img);
        prop_assert_eq!(naive.pixels(), &reference(&img)[..]);
        prop_assert_eq!(&blur_separable(&img), &naive);
        prop_assert_eq!(&blur_separable_parallel(&img), &naive);
        let mut out = Image::black(w, h).expect("small");
        blur_separable_bands_into(&img, &mut out, 1).expect("same size");
        prop_assert_eq!(&out, &naive);
    }

    /// Rows wide enough to span several of the fused loop's blocks (512
    /// values, about 171 pixels), so the block seams are exercised.
    #[test]
    fn wide_images_agree(w in 160usize..420, h in 1usize..9, seed in any::<u64>(), band in 1usize..4) {
        let mut x = seed | 1;
        let px = (0..w * h * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let img = Image::new(w, h, px).expect("right length");
        let naive = blur_naive(&img);
        prop_assert_eq!(&blur_separable(&img), &naive);
        let mut out = Image::black(w, h).expect("small");
        blur_separable_bands_into(&img, &mut out, band).expect("same size");
        prop_assert_eq!(&out, &naive);
    }

    #[test]
    fn extreme_values_agree(img in image(9), bright in any::<bool>()) {
        // All 0 or all 255 except random pixels: the sums hit their bounds.
        let fill = if bright { 255 } else { 0 };
        let px: Vec<u8> = img.pixels().iter().map(|&v| if v < 200 { fill } else { v }).collect();
        let img = Image::new(img.width(), img.height(), px).expect("same length");
        let naive = blur_naive(&img);
        prop_assert_eq!(&blur_separable(&img), &naive);
        prop_assert_eq!(&blur_separable_parallel(&img), &naive);
    }

    #[test]
    fn constructor_accepts_exactly_the_right_length(w in 0usize..20, h in 0usize..20, len in 0usize..1300) {
        match Image::new(w, h, vec![0; len]) {
            Ok(img) => prop_assert_eq!(img.pixels().len(), w * h * 3),
            Err(e) => prop_assert_eq!(
                e,
                BlurError::LengthMismatch { width: w, height: h, expected: w * h * 3, actual: len }
            ),
        }
    }
}

/// A larger image with many bands and several blocks per row, against the
/// naive filter.
#[test]
fn large_test_pattern_agrees_across_band_heights() {
    let img = Image::test_pattern(531, 97).expect("small enough");
    let naive = blur_naive(&img);
    assert_eq!(blur_separable(&img), naive);
    assert_eq!(blur_separable_parallel(&img), naive);
    let mut out = Image::black(531, 97).expect("small enough");
    for band in [1, 2, 3, 4, 5, 6, 7, 16, 96, 97, 1000] {
        blur_separable_bands_into(&img, &mut out, band).expect("same size");
        assert_eq!(out, naive, "band height {band}");
    }
}

/// The agreement property with the filter as a parameter: the separable
/// filter passes; a blur that replicates the border (clamps coordinates)
/// instead of averaging the in-bounds pixels, as the guide specifies, is
/// caught.
#[test]
fn the_agreement_property_catches_wrong_edge_handling() {
    fn clamped(img: &Image) -> Vec<u8> {
        let (w, h) = (img.width() as isize, img.height() as isize);
        let mut out = Vec::with_capacity(img.pixels().len());
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0u32; 3];
                for dy in -2..=2isize {
                    for dx in -2..=2isize {
                        let (px, py) = ((x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1));
                        let p = img
                            .pixel(px as usize, py as usize)
                            .expect("clamped in bounds");
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                    }
                }
                out.extend(sum.iter().map(|s| (s / 25) as u8));
            }
        }
        out
    }
    let run = |filter: fn(&Image) -> Vec<u8>| {
        common::deterministic_runner(256).run(&image(13), |img| {
            prop_assert_eq!(filter(&img), blur_naive(&img).into_pixels());
            Ok(())
        })
    };
    assert!(
        run(|img| blur_separable(img).into_pixels()).is_ok(),
        "the separable blur must pass"
    );
    assert!(
        run(clamped).is_err(),
        "the property missed border replication"
    );
}
