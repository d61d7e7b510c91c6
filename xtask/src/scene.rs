//! The synthetic camera photo both benchmarks prepare: drawn, not stored, so the repository
//! carries no large binaries and every size is the same scene.

use image::{Rgb, RgbImage};

/// A photo-like scene: lit background, a figure, woven fabric, fine hair-like lines that alias
/// under a poor filter, hard edges, and sensor noise. The same scene at every size, as two
/// cameras would see it, except the finest lines, which are always about two pixels apart.
pub(crate) fn scene(width: u32, height: u32) -> RgbImage {
    let (w, h) = (width as f32, height as f32);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let mut rgb = [215.0 - 70.0 * fy, 200.0 - 50.0 * fx, 170.0 + 50.0 * fy];
        let body = ((fx - 0.5) / 0.22).powi(2) + ((fy - 0.62) / 0.4).powi(2);
        let head = ((fx - 0.5) / 0.08).powi(2) + ((fy - 0.2) / 0.11).powi(2);
        if body < 1.0 {
            // A knitted top: a weave a few pixels wide, relative to the picture.
            let weave = (fx * 900.0).sin() * (fy * 700.0).sin();
            rgb = [
                120.0 + 40.0 * weave,
                40.0 + 25.0 * weave,
                60.0 + 30.0 * weave,
            ];
        } else if head < 1.0 {
            rgb = [224.0, 172.0, 140.0];
        } else if head < 1.6 && fy < 0.24 {
            // Hair: lines 2.3 pixels apart at any size, which aliases under a poor filter.
            let strand = (x as f32 * 2.7 + y as f32 * 0.4).sin();
            rgb = [
                70.0 + 40.0 * strand,
                45.0 + 25.0 * strand,
                30.0 + 15.0 * strand,
            ];
        }
        let noise = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(9) % 13)
            as f32
            - 6.0;
        Rgb(rgb.map(|channel| (channel + noise).clamp(0.0, 255.0) as u8))
    })
}
