// SPDX-License-Identifier: MPL-2.0
//! Picture quality of a received frame against its original: PSNR and SSIM
//! on a half-resolution luma image (2x2 box average). Halving keeps the
//! originals' memory and the per-frame cost small; it also makes both
//! numbers a little kinder to fine detail lost by the codecs, equally for
//! every strategy.

/// An 8-bit greyscale picture, rows packed.
#[derive(Debug, Clone, PartialEq)]
pub struct Luma {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` samples.
    pub data: Vec<u8>,
}

impl Luma {
    /// Halves a luma plane (`stride` bytes per row) in each direction by
    /// averaging 2x2 blocks; a trailing odd row or column is dropped.
    pub fn half_of(plane: &[u8], stride: usize, width: usize, height: usize) -> Option<Luma> {
        let (w, h) = (width / 2, height / 2);
        if w == 0 || h == 0 || plane.len() < stride * (height - 1) + width {
            return None;
        }
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = &plane[2 * y * stride..];
            let r1 = &plane[(2 * y + 1) * stride..];
            for x in 0..w {
                let sum = u32::from(r0[2 * x])
                    + u32::from(r0[2 * x + 1])
                    + u32::from(r1[2 * x])
                    + u32::from(r1[2 * x + 1]);
                data.push(((sum + 2) / 4) as u8);
            }
        }
        Some(Luma {
            width: w,
            height: h,
            data,
        })
    }
}

/// Peak signal-to-noise ratio in dB of two luma planes (the workspace's one
/// PSNR, capped at [`gststreamkit::measure::quality::PSNR_IDENTICAL`]);
/// `None` when the sizes differ.
pub fn psnr(a: &Luma, b: &Luma) -> Option<f64> {
    if a.width != b.width || a.height != b.height {
        return None;
    }
    gststreamkit::measure::quality::psnr(&a.data, &b.data)
}

/// Mean SSIM over 8x8 windows stepped by 4 (Wang et al. 2004 constants,
/// uniform window); `None` when the sizes differ or are below one window.
pub fn ssim(a: &Luma, b: &Luma) -> Option<f64> {
    const WIN: usize = 8;
    const STEP: usize = 4;
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    if a.width != b.width || a.height != b.height || a.width < WIN || a.height < WIN {
        return None;
    }
    let n = (WIN * WIN) as f64;
    let mut total = 0.0;
    let mut windows = 0usize;
    let mut y = 0;
    while y + WIN <= a.height {
        let mut x = 0;
        while x + WIN <= a.width {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u64, 0u64, 0u64, 0u64, 0u64);
            for row in y..y + WIN {
                let i = row * a.width + x;
                for (&p, &q) in a.data[i..i + WIN].iter().zip(&b.data[i..i + WIN]) {
                    let (p, q) = (u64::from(p), u64::from(q));
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let (ma, mb) = (sa as f64 / n, sb as f64 / n);
            let va = saa as f64 / n - ma * ma;
            let vb = sbb as f64 / n - mb * mb;
            let cov = sab as f64 / n - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            windows += 1;
            x += STEP;
        }
        y += STEP;
    }
    Some(total / windows as f64)
}

#[cfg(test)]
mod tests {
    use gststreamkit::measure::quality::PSNR_IDENTICAL;

    use super::*;

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Luma {
        Luma {
            width: w,
            height: h,
            data: (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .map(|(x, y)| f(x, y))
                .collect(),
        }
    }

    #[test]
    fn identical_pictures_are_perfect() {
        let a = picture(64, 48, |x, y| ((x * 7 + y * 3) % 256) as u8);
        assert_eq!(psnr(&a, &a), Some(PSNR_IDENTICAL));
        assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn known_error_gives_known_psnr() {
        // every sample off by 5: MSE 25, PSNR = 10 log10(65025 / 25) = 34.15 dB
        let a = picture(32, 32, |_, _| 100);
        let b = picture(32, 32, |_, _| 105);
        assert!((psnr(&a, &b).unwrap() - 34.151).abs() < 0.01);
    }

    #[test]
    fn ssim_drops_with_structure_loss() {
        let a = picture(
            64,
            64,
            |x, y| if (x / 4 + y / 4) % 2 == 0 { 30 } else { 220 },
        );
        let flat = picture(64, 64, |_, _| 125);
        let s = ssim(&a, &flat).unwrap();
        assert!(s < 0.1, "ssim of checkerboard vs flat {s}");
        assert_eq!(ssim(&a, &picture(32, 32, |_, _| 0)), None);
    }

    #[test]
    fn halving_averages_blocks() {
        let plane = [10u8, 20, 99, 30, 40, 99, 0, 0, 0];
        // 2x3 picture with stride 3 (third column is padding)
        let half = Luma::half_of(&plane, 3, 2, 2).unwrap();
        assert_eq!((half.width, half.height, half.data[0]), (1, 1, 25));
        assert_eq!(Luma::half_of(&plane[..3], 3, 2, 2), None);
    }
}
