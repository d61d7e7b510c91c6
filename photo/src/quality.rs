//! Choosing the JPEG quality per photo: the lowest quality whose result still looks like the
//! resized photo, so a plain backdrop does not pay for the bytes a knitted jumper needs.
//!
//! Judging a candidate quality by encoding and decoding it would cost a full encode per step
//! and a JPEG decoder in the wasm module. Instead the probe does what the encoder and a decoder
//! would do to the luma of a sample of the photo's 8×8 blocks, in floating point: forward DCT,
//! quantise with the very table the encoder will be given ([`scaled_table`]), dequantise,
//! inverse DCT, round, and compare with the original by SSIM. The DCT is done once; each step
//! of the search only quantises and transforms back. Chroma (4:2:0, its own table) is not
//! judged, as the luma SSIM the benchmark reports does not judge it either.

use jpeg_encoder::rgb_to_ycbcr;

use crate::pixels::Layout;

/// The luma SSIM (8×8 windows every 4 pixels, as `cargo xtask bench` measures) a prepared photo
/// keeps against its resized pixels.
///
/// 0.97: well inside what SSIM studies call visually lossless for photographs (above about
/// 0.95, no difference seen side by side), and above what the browser's own canvas JPEG at
/// quality 0.9 keeps of the same pixels, so the vendor never gets a worse photo than a page
/// encoding it itself would send. See the bench figures in the commit that set it.
pub(crate) const TARGET_SSIM: f64 = 0.97;

/// The lowest quality the search may choose: below it, 4:2:0 JPEG shows blocking on skin
/// whatever SSIM says.
pub(crate) const MIN_QUALITY: u8 = 60;

/// ITU-T T.81 Annex K tables, natural order: what libjpeg and the browser's encoder scale.
const LUMA_BASE: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_BASE: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// The luma and chroma quantisation tables for `quality` (1..=100), scaled as libjpeg does.
pub(crate) fn tables(quality: u8) -> ([u16; 64], [u16; 64]) {
    (
        scaled_table(&LUMA_BASE, quality),
        scaled_table(&CHROMA_BASE, quality),
    )
}

fn scaled_table(base: &[u16; 64], quality: u8) -> [u16; 64] {
    let quality = u32::from(quality.clamp(1, 100));
    let scale = if quality < 50 {
        5000 / quality
    } else {
        200 - quality * 2
    };
    base.map(|value| ((u32::from(value) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// Side of a probe tile, in pixels: whole 16-pixel MCUs, so its blocks are the encoder's.
const TILE: usize = 64;
/// One tile in this many is probed (spread over the picture, ~190 tiles of a 12 MP photo at
/// 2048 px), so each step of the search costs a small fraction of an encode.
const TILE_STRIDE: usize = 16;

/// The lowest quality in `MIN_QUALITY..=max_quality` whose simulated luma keeps
/// [`TARGET_SSIM`]; `max_quality` when none does (a photo that is all fine noise).
pub(crate) fn choose(pixels: &[u8], size: (u32, u32), layout: Layout, max_quality: u8) -> u8 {
    let probe = Probe::new(pixels, size, layout);
    if probe.tiles.is_empty() || max_quality <= MIN_QUALITY {
        return max_quality;
    }
    let (mut low, mut high) = (MIN_QUALITY, max_quality);
    while low < high {
        let middle = low + (high - low) / 2;
        if probe.ssim(middle) >= TARGET_SSIM {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    high
}

/// A tile's luma and the DCT coefficients of its 8×8 blocks (row-major blocks, each in natural
/// order, JPEG's normalisation).
struct Tile {
    luma: Vec<u8>,
    width: usize,
    height: usize,
    coefficients: Vec<[f32; 64]>,
}

/// The sample of the photo the search judges.
pub(crate) struct Probe {
    tiles: Vec<Tile>,
    cosines: [[f32; 8]; 8],
}

impl Probe {
    /// Takes one in [`TILE_STRIDE`] tiles of a grid over `pixels` (whole blocks only: tiles at
    /// the right and bottom edges are cut to a multiple of 8 pixels).
    pub(crate) fn new(pixels: &[u8], (width, height): (u32, u32), layout: Layout) -> Probe {
        let (width, height) = (width as usize, height as usize);
        let cosines = cosines();
        let (columns, rows) = (width.div_ceil(TILE), height.div_ceil(TILE));
        let bytes_per_pixel = if layout == Layout::Rgb { 3 } else { 4 };
        let red = if layout == Layout::Bgra { 2 } else { 0 };
        // A small picture is probed whole; otherwise a diagonal pattern, so the sample spreads
        // over every row and column of tiles.
        let stride = if columns * rows <= 2 * TILE_STRIDE {
            1
        } else {
            TILE_STRIDE
        };
        let chosen = (0..rows).flat_map(|row| {
            (0..columns)
                .filter(move |column| (column + row * 3) % stride == 0)
                .map(move |column| (column * TILE, row * TILE))
        });
        let mut tiles = Vec::new();
        for (left, top) in chosen {
            let tile_width = (width - left).min(TILE) / 8 * 8;
            let tile_height = (height - top).min(TILE) / 8 * 8;
            if tile_width == 0 || tile_height == 0 {
                continue;
            }
            let mut luma = Vec::with_capacity(tile_width * tile_height);
            for y in top..top + tile_height {
                let row_start = (y * width + left) * bytes_per_pixel;
                let row = &pixels[row_start..row_start + tile_width * bytes_per_pixel];
                luma.extend(
                    row.chunks_exact(bytes_per_pixel)
                        .map(|pixel| rgb_to_ycbcr(pixel[red], pixel[1], pixel[2 - red]).0),
                );
            }
            let coefficients = blocks(&luma, tile_width, tile_height)
                .map(|block| forward_dct(&block, &cosines))
                .collect();
            tiles.push(Tile {
                luma,
                width: tile_width,
                height: tile_height,
                coefficients,
            });
        }
        Probe { tiles, cosines }
    }

    /// Mean luma SSIM of the probe against itself encoded at `quality`.
    pub(crate) fn ssim(&self, quality: u8) -> f64 {
        let (table, _) = tables(quality);
        let (mut total, mut windows) = (0.0, 0usize);
        for tile in &self.tiles {
            let mut decoded = vec![0u8; tile.luma.len()];
            let blocks_across = tile.width / 8;
            for (index, coefficients) in tile.coefficients.iter().enumerate() {
                let mut quantised = [0f32; 64];
                for ((out, &value), &step) in quantised.iter_mut().zip(coefficients).zip(&table) {
                    let step = f32::from(step);
                    *out = (value / step).round() * step;
                }
                let block = inverse_dct(&quantised, &self.cosines);
                let (left, top) = ((index % blocks_across) * 8, (index / blocks_across) * 8);
                for (y, row) in block.chunks_exact(8).enumerate() {
                    let at = (top + y) * tile.width + left;
                    decoded[at..at + 8].copy_from_slice(row);
                }
            }
            let (sum, count) = ssim_sum(&tile.luma, &decoded, tile.width, tile.height);
            total += sum;
            windows += count;
        }
        if windows == 0 {
            1.0
        } else {
            total / windows as f64
        }
    }
}

/// `cosines[x][u]` = C(u)/2 · cos((2x+1)uπ/16): the orthonormal 8-point DCT basis, which makes
/// the 2-D transform JPEG's (the encoder's coefficients divided by the table give the same
/// quantised values).
fn cosines() -> [[f32; 8]; 8] {
    let mut table = [[0f32; 8]; 8];
    for (x, row) in table.iter_mut().enumerate() {
        for (u, value) in row.iter_mut().enumerate() {
            let scale = if u == 0 {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let angle = (2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0;
            *value = scale / 2.0 * angle.cos();
        }
    }
    table
}

/// The 8×8 blocks of a tile, level-shifted by 128 as the encoder does.
fn blocks(luma: &[u8], width: usize, height: usize) -> impl Iterator<Item = [f32; 64]> + '_ {
    (0..height / 8).flat_map(move |by| {
        (0..width / 8).map(move |bx| {
            let mut block = [0f32; 64];
            for (i, value) in block.iter_mut().enumerate() {
                let (x, y) = (bx * 8 + i % 8, by * 8 + i / 8);
                *value = f32::from(luma[y * width + x]) - 128.0;
            }
            block
        })
    })
}

fn forward_dct(block: &[f32; 64], cosines: &[[f32; 8]; 8]) -> [f32; 64] {
    // Rows, then columns: out[v][u] = Σy Σx block[y][x] · c[x][u] · c[y][v].
    let mut rows = [0f32; 64];
    for y in 0..8 {
        for u in 0..8 {
            rows[y * 8 + u] = (0..8).map(|x| block[y * 8 + x] * cosines[x][u]).sum();
        }
    }
    let mut out = [0f32; 64];
    for v in 0..8 {
        for u in 0..8 {
            out[v * 8 + u] = (0..8).map(|y| rows[y * 8 + u] * cosines[y][v]).sum();
        }
    }
    out
}

/// Back to pixels, rounded and clamped as a decoder writes them.
fn inverse_dct(coefficients: &[f32; 64], cosines: &[[f32; 8]; 8]) -> [u8; 64] {
    let mut columns = [0f32; 64];
    for y in 0..8 {
        for u in 0..8 {
            columns[y * 8 + u] = (0..8)
                .map(|v| coefficients[v * 8 + u] * cosines[y][v])
                .sum();
        }
    }
    let mut out = [0u8; 64];
    for y in 0..8 {
        for x in 0..8 {
            let value: f32 = (0..8).map(|u| columns[y * 8 + u] * cosines[x][u]).sum();
            out[y * 8 + x] = (value + 128.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// The sum of SSIM (Wang et al. 2004, the usual constants for 8-bit data) over 8×8 windows
/// every 4 pixels of two same-sized planes, and how many windows there were.
pub(crate) fn ssim_sum(a: &[u8], b: &[u8], width: usize, height: usize) -> (f64, usize) {
    const WINDOW: usize = 8;
    const STEP: usize = 4;
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let n = (WINDOW * WINDOW) as f64;
    let (mut total, mut windows) = (0.0, 0);
    if width < WINDOW || height < WINDOW {
        return (total, windows);
    }
    for top in (0..=height - WINDOW).step_by(STEP) {
        for left in (0..=width - WINDOW).step_by(STEP) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u32, 0u32, 0u32, 0u32, 0u32);
            for y in top..top + WINDOW {
                let at = y * width + left;
                for (&pa, &pb) in a[at..at + WINDOW].iter().zip(&b[at..at + WINDOW]) {
                    let (pa, pb) = (u32::from(pa), u32::from(pb));
                    sa += pa;
                    sb += pb;
                    saa += pa * pa;
                    sbb += pb * pb;
                    sab += pa * pb;
                }
            }
            let (ma, mb) = (f64::from(sa) / n, f64::from(sb) / n);
            let (va, vb) = (f64::from(saa) / n - ma * ma, f64::from(sbb) / n - mb * mb);
            let covariance = f64::from(sab) / n - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * covariance + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            windows += 1;
        }
    }
    (total, windows)
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;
    use crate::encode;
    use crate::testing::{photo_like, quadrants, scene_like};

    fn luma(image: &RgbImage) -> Vec<u8> {
        image
            .pixels()
            .map(|pixel| rgb_to_ycbcr(pixel[0], pixel[1], pixel[2]).0)
            .collect()
    }

    /// Encodes `picture` at `quality` as the worker does, decodes it with `image` (another
    /// codebase than the probe), and compares the luma of the whole picture.
    fn decoded_ssim(picture: &RgbImage, quality: u8) -> f64 {
        let (width, height) = picture.dimensions();
        let jpeg = encode::jpeg(picture.as_raw(), (width, height), Layout::Rgb, quality).unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap().into_rgb8();
        let (sum, windows) = ssim_sum(
            &luma(picture),
            &luma(&decoded),
            width as usize,
            height as usize,
        );
        sum / windows as f64
    }

    fn chosen(picture: &RgbImage, max_quality: u8) -> u8 {
        choose(
            picture.as_raw(),
            picture.dimensions(),
            Layout::Rgb,
            max_quality,
        )
    }

    #[test]
    fn the_annex_k_tables_scale_as_libjpeg_scales_them() {
        // libjpeg's quality 50 is the table itself; 75 halves it; 100 is all ones.
        assert_eq!(tables(50).0, LUMA_BASE);
        assert_eq!(tables(75).0[0], 8);
        assert_eq!(tables(75).1[63], 50);
        assert!(tables(100).0.iter().all(|&step| step == 1));
        assert_eq!(tables(1).0[0], 255, "clamped to a baseline table's byte");
    }

    #[test]
    fn the_chosen_quality_keeps_the_target_once_encoded_and_decoded() {
        for (name, picture) in [
            ("scene", scene_like(1024, 768)),
            ("quadrants", quadrants(640, 480)),
        ] {
            let quality = chosen(&picture, 95);
            assert!(quality < 95, "{name}: the target is reachable below 95");
            let ssim = decoded_ssim(&picture, quality);
            // The probe sees a sixteenth of the blocks and no chroma: a little slack.
            assert!(
                ssim >= TARGET_SSIM - 0.005,
                "{name}: quality {quality} keeps SSIM {ssim:.4}"
            );
            if quality > MIN_QUALITY {
                let lower = decoded_ssim(&picture, quality - 3);
                assert!(
                    lower < TARGET_SSIM + 0.005,
                    "{name}: quality {} would have kept {lower:.4} too",
                    quality - 3
                );
            }
        }
    }

    #[test]
    fn a_photo_that_cannot_keep_the_target_gets_the_maximum() {
        let noise = photo_like(640, 480);
        let probe = Probe::new(noise.as_raw(), noise.dimensions(), Layout::Rgb);
        assert!(probe.ssim(80) < TARGET_SSIM, "{}", probe.ssim(80));
        assert_eq!(chosen(&noise, 80), 80);
    }

    #[test]
    fn the_probe_predicts_what_a_decoder_shows() {
        let picture = scene_like(1024, 768);
        let probe = Probe::new(picture.as_raw(), picture.dimensions(), Layout::Rgb);
        for quality in [60, 75, 90, 95] {
            let (predicted, decoded) = (probe.ssim(quality), decoded_ssim(&picture, quality));
            assert!(
                (predicted - decoded).abs() < 0.01,
                "quality {quality}: probe {predicted:.4}, decoded {decoded:.4}"
            );
        }
    }

    #[test]
    fn a_plain_picture_costs_less_quality_than_a_busy_one() {
        let plain = chosen(&quadrants(640, 480), 95);
        let scene = chosen(&scene_like(1024, 768), 95);
        let noisy = chosen(&photo_like(640, 480), 95);
        assert_eq!(plain, MIN_QUALITY, "flat colours keep any quality's look");
        assert!(plain < scene && scene < noisy, "{plain}, {scene}, {noisy}");
    }

    #[test]
    fn the_search_stays_within_its_bounds() {
        assert_eq!(
            chosen(&photo_like(640, 480), 70),
            70,
            "never above the maximum"
        );
        assert_eq!(chosen(&quadrants(640, 480), 50), 50, "nor below it");
        assert_eq!(
            chosen(&scene_like(4, 4), 90),
            90,
            "nothing to judge: the maximum"
        );
        let bgra: Vec<u8> = scene_like(200, 150)
            .pixels()
            .flat_map(|pixel| [pixel[2], pixel[1], pixel[0], 255])
            .collect();
        assert_eq!(
            choose(&bgra, (200, 150), Layout::Bgra, 90),
            chosen(&scene_like(200, 150), 90),
            "channel order does not change the choice"
        );
    }
}
