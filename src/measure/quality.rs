// SPDX-License-Identifier: MPL-2.0
//! Picture quality as a number: the one PSNR of the workspace, used by the
//! codec's tests, the integration tests, the benchmarks and
//! `streamkit-compare`, so that every figure in the docs is measured alike.

/// PSNR given for identical samples, and the most any comparison gives:
/// the true value is infinite, and a finite cap keeps means and plots of
/// lossless runs readable (a mean of 100 dB says "every frame exact").
pub const PSNR_IDENTICAL: f64 = 100.0;

/// Peak signal-to-noise ratio of `b` against `a` in dB, for 8-bit samples
/// (peak 255), capped at [`PSNR_IDENTICAL`]. `None` when the two differ in
/// length or are empty: there is nothing to compare.
pub fn psnr(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    // Integer sum of squared errors: exact, and zero exactly when the
    // samples are identical.
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    psnr_of_error(sse, a.len() as u64)
}

/// PSNR in dB of `samples` 8-bit samples whose squared errors sum to
/// `sse`, capped at [`PSNR_IDENTICAL`]: for an error pooled over many
/// pictures (a clip's PSNR rather than its pictures' mean). `None` when
/// there are no samples.
pub fn psnr_of_error(sse: u64, samples: u64) -> Option<f64> {
    if samples == 0 {
        return None;
    }
    if sse == 0 {
        return Some(PSNR_IDENTICAL);
    }
    let mse = sse as f64 / samples as f64;
    Some((10.0 * (255.0f64 * 255.0 / mse).log10()).min(PSNR_IDENTICAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_error_is_the_psnr_of_its_pictures_together() {
        let (a, b) = ([10u8, 20, 30, 40], [12u8, 20, 27, 40]);
        let pooled = psnr_of_error(4 + 9, 4).unwrap();
        assert!((psnr(&a, &b).unwrap() - pooled).abs() < 1e-12);
        assert_eq!(psnr_of_error(0, 4), Some(PSNR_IDENTICAL));
        assert_eq!(psnr_of_error(5, 0), None);
    }

    #[test]
    fn identical_samples_give_the_cap() {
        let a = vec![7u8; 1000];
        assert_eq!(psnr(&a, &a), Some(PSNR_IDENTICAL));
    }

    #[test]
    fn known_error_gives_known_psnr() {
        // every sample off by 5: MSE 25, PSNR = 10 log10(65025 / 25) = 34.15 dB
        let a = vec![100u8; 1024];
        let b = vec![105u8; 1024];
        assert!((psnr(&a, &b).unwrap() - 34.151).abs() < 0.01);
        // symmetric, and the sign of the error does not matter
        assert_eq!(psnr(&a, &b), psnr(&b, &a));
    }

    #[test]
    fn the_worst_and_the_nearly_identical() {
        // every sample off by 255: MSE 65025, 0 dB
        assert_eq!(psnr(&[0; 16], &[255; 16]), Some(0.0));
        // one sample in a million off by one (108 dB): far above the cap, capped
        let a = vec![0u8; 1_000_000];
        let mut b = a.clone();
        b[0] = 1;
        assert_eq!(psnr(&a, &b), Some(PSNR_IDENTICAL));
    }

    #[test]
    fn nothing_to_compare_gives_none() {
        assert_eq!(psnr(&[], &[]), None);
        assert_eq!(psnr(&[1, 2, 3], &[1, 2]), None);
    }
}
