//! The local provider's picture work: pure functions from pixels to pixels.
//!
//! No AI here, on purpose: the built-in provider must run anywhere, offline, in milliseconds,
//! and still give the widget a real, plausible picture to show. It relies on the same two
//! things the widget asks shoppers for (a plain background and a front-facing full-body pose):
//! anything that differs from the border colour is foreground, and a standing figure's
//! shoulders, hips and crotch can be read from the widths of its silhouette row by row.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// Per-pixel opacity of the foreground: 0 is background, 255 is foreground.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matte {
    width: u32,
    height: u32,
    alpha: Vec<u8>,
}

/// Opacity at or above which a matte pixel counts as part of the object.
const SOLID: u8 = 128;

impl Matte {
    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn alpha(&self, x: u32, y: u32) -> u8 {
        self.alpha[self.index(x, y)]
    }

    fn index(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    fn is_solid(&self, x: u32, y: u32) -> bool {
        self.alpha(x, y) >= SOLID
    }

    /// First and last solid column of row `y`.
    fn row_extent(&self, y: u32) -> Option<(u32, u32)> {
        let first = (0..self.width).find(|&x| self.is_solid(x, y))?;
        let last = (0..self.width).rev().find(|&x| self.is_solid(x, y))?;
        Some((first, last))
    }

    /// Width of the solid run through column `x` of row `y`, or of the whole row when `x` is
    /// not solid there (e.g. between trouser legs).
    fn span_width(&self, y: u32, x: u32) -> u32 {
        if !self.is_solid(x, y) {
            return self
                .row_extent(y)
                .map_or(0, |(first, last)| last - first + 1);
        }
        let left = (0..x)
            .rev()
            .find(|&x| !self.is_solid(x, y))
            .map_or(0, |x| x + 1);
        let right = (x..self.width)
            .find(|&x| !self.is_solid(x, y))
            .unwrap_or(self.width);
        right - left
    }

    /// Smallest rectangle holding every solid pixel: `(x, y, width, height)`.
    fn bounding_box(&self) -> Option<(u32, u32, u32, u32)> {
        let top = (0..self.height).find(|&y| self.row_extent(y).is_some())?;
        let bottom = (0..self.height)
            .rev()
            .find(|&y| self.row_extent(y).is_some())?;
        let (mut left, mut right) = (u32::MAX, 0);
        for y in top..=bottom {
            if let Some((first, last)) = self.row_extent(y) {
                left = left.min(first);
                right = right.max(last);
            }
        }
        Some((left, top, right - left + 1, bottom - top + 1))
    }

    /// A softly grown copy: every pixel within about `radius` of the object becomes partly
    /// opaque. Used to let clothes sit slightly outside the skin line.
    pub fn grown(&self, radius: u32) -> Matte {
        let blurred = box_blur(&self.alpha, self.width, self.height, radius);
        let alpha = blurred
            .iter()
            .map(|&a| (u32::from(a) * 3).min(255) as u8)
            .collect();
        Matte {
            width: self.width,
            height: self.height,
            alpha,
        }
    }
}

/// Separates an object from a plain background by colour distance from the border colour.
///
/// Background is what is connected to the border through background-like pixels, so light
/// areas inside the object (a white print on a T-shirt, a white shirt collar) stay opaque.
/// Pixels within a band of the threshold get partial opacity: the soft edge.
pub fn matte_from_border(image: &RgbImage) -> Matte {
    let (width, height) = image.dimensions();
    let background = border_colour(image);
    let distance: Vec<f32> = image
        .pixels()
        .map(|px| colour_distance(*px, background))
        .collect();
    let noise = border_noise(image, background);
    let solid_from = (3.0 * noise).max(14.0);
    let solid_at = solid_from + 16.0;

    let reachable = flood_from_border(&distance, width, height, solid_at);
    let alpha = distance
        .iter()
        .zip(&reachable)
        .map(|(&d, &reached)| {
            if reached {
                soft_step(solid_from, solid_at, d)
            } else {
                255
            }
        })
        .collect();
    let mut matte = Matte {
        width,
        height,
        alpha,
    };
    keep_largest_object(&mut matte);
    matte.alpha = box_blur(&matte.alpha, width, height, 1);
    matte
}

/// Median colour of a thin frame around the picture: the backdrop of a product or person photo.
fn border_colour(image: &RgbImage) -> Rgb<u8> {
    let frame = border_pixels(image);
    let median = |channel: usize| {
        let mut values: Vec<u8> = frame.iter().map(|px| px[channel]).collect();
        values.sort_unstable();
        values[values.len() / 2]
    };
    Rgb([median(0), median(1), median(2)])
}

/// How much the backdrop itself varies (JPEG noise, gradients, vignetting).
fn border_noise(image: &RgbImage, background: Rgb<u8>) -> f32 {
    let mut distances: Vec<f32> = border_pixels(image)
        .iter()
        .map(|&px| colour_distance(px, background))
        .collect();
    distances.sort_unstable_by(f32::total_cmp);
    distances[distances.len() * 3 / 4]
}

fn border_pixels(image: &RgbImage) -> Vec<Rgb<u8>> {
    let (width, height) = image.dimensions();
    let band = (width.min(height) / 100).max(1);
    image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x < band || *y < band || *x >= width - band || *y >= height - band)
        .map(|(_, _, px)| *px)
        .collect()
}

/// Euclidean RGB distance weighted towards green, roughly as the eye weighs the channels.
fn colour_distance(a: Rgb<u8>, b: Rgb<u8>) -> f32 {
    let d = |c: usize| f32::from(a[c]) - f32::from(b[c]);
    ((2.0 * d(0) * d(0) + 4.0 * d(1) * d(1) + 3.0 * d(2) * d(2)) / 9.0).sqrt()
}

fn soft_step(from: f32, to: f32, value: f32) -> u8 {
    let t = ((value - from) / (to - from)).clamp(0.0, 1.0);
    (t * t * (3.0 - 2.0 * t) * 255.0).round() as u8
}

/// Marks every pixel connected to the border through pixels closer than `limit` to the backdrop.
fn flood_from_border(distance: &[f32], width: u32, height: u32, limit: f32) -> Vec<bool> {
    let (w, h) = (width as usize, height as usize);
    let mut reached = vec![false; w * h];
    let mut stack: Vec<usize> = (0..w * h)
        .filter(|&i| {
            let (x, y) = (i % w, i / w);
            x == 0 || y == 0 || x == w - 1 || y == h - 1
        })
        .collect();
    while let Some(i) = stack.pop() {
        if reached[i] || distance[i] >= limit {
            continue;
        }
        reached[i] = true;
        let (x, y) = (i % w, i / w);
        if x > 0 {
            stack.push(i - 1);
        }
        if x + 1 < w {
            stack.push(i + 1);
        }
        if y > 0 {
            stack.push(i - w);
        }
        if y + 1 < h {
            stack.push(i + w);
        }
    }
    reached
}

/// Clears every solid blob but the largest (dust, a stray shadow, a logo in a corner), so
/// measurements see one figure or one garment.
fn keep_largest_object(matte: &mut Matte) {
    let (w, h) = (matte.width as usize, matte.height as usize);
    let mut label = vec![0u32; w * h];
    let mut sizes = vec![0usize];
    for start in 0..w * h {
        if label[start] != 0 || matte.alpha[start] < SOLID {
            continue;
        }
        let id = sizes.len() as u32;
        let mut size = 0;
        let mut stack = vec![start];
        label[start] = id;
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < w).then(|| i + 1),
                (y > 0).then(|| i - w),
                (y + 1 < h).then(|| i + w),
            ];
            for n in neighbours.into_iter().flatten() {
                if label[n] == 0 && matte.alpha[n] >= SOLID {
                    label[n] = id;
                    stack.push(n);
                }
            }
        }
        sizes.push(size);
    }
    let Some(largest) = (1..sizes.len()).max_by_key(|&id| sizes[id]) else {
        return;
    };
    for (alpha, &id) in matte.alpha.iter_mut().zip(&label) {
        if id != 0 && id as usize != largest {
            *alpha = 0;
        }
    }
}

/// Box blur of a single-channel 8-bit plane.
fn box_blur(plane: &[u8], width: u32, height: u32, radius: u32) -> Vec<u8> {
    let plane: Vec<f32> = plane.iter().map(|&v| f32::from(v)).collect();
    box_blur_f32(&plane, width, height, radius)
        .into_iter()
        .map(|v| v.round() as u8)
        .collect()
}

/// Box blur with a running sum per row and per column, O(pixels) whatever the radius.
fn box_blur_f32(plane: &[f32], width: u32, height: u32, radius: u32) -> Vec<f32> {
    let (w, h, r) = (width as usize, height as usize, radius as isize);
    let pass = |input: &[f32], len: usize, lines: usize, at: &dyn Fn(usize, usize) -> usize| {
        let mut output = vec![0.0; input.len()];
        for line in 0..lines {
            let value = |pos: isize| input[at(line, pos.clamp(0, len as isize - 1) as usize)];
            let mut sum: f32 = (-r..=r).map(value).sum();
            for pos in 0..len {
                output[at(line, pos)] = sum / (2 * r + 1) as f32;
                sum += value(pos as isize + r + 1) - value(pos as isize - r);
            }
        }
        output
    };
    let rows = pass(plane, w, h, &|row, col| row * w + col);
    pass(&rows, h, w, &|col, row| row * w + col)
}

/// Where a standing, front-facing figure's landmarks are, in pixels of the person photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Body {
    /// Top of the head.
    pub top: u32,
    /// Soles of the feet (or the photo's bottom edge).
    pub bottom: u32,
    /// The torso's vertical axis.
    pub centre_x: u32,
    /// Where the neck meets the shoulders.
    pub shoulder_y: u32,
    /// Across the shoulders, arms included where they touch the torso.
    pub shoulder_width: u32,
    /// Where trousers' waistband sits.
    pub waist_y: u32,
    /// Across the hips, just above the crotch.
    pub hip_width: u32,
    /// Where the legs part.
    pub crotch_y: u32,
    /// Left and right edge of the neck at `neck_y`, just above the shoulders.
    pub neck: (u32, u32),
    pub neck_y: u32,
}

impl Body {
    pub fn height(&self) -> u32 {
        self.bottom - self.top + 1
    }

    /// The neck, rounded off just below the shoulder line like a crew neckline: a top's
    /// collar opening shows the inside of its back there, which the person's own neck hides.
    pub fn neck_zone(&self) -> KeepClear {
        let (left, right) = self.neck;
        let half_width = (right - left) as f32 / 2.0 + 1.0;
        let rounding_from = self.neck_y as f32;
        let bottom = self.shoulder_y as f32 + 0.015 * self.height() as f32;
        KeepClear {
            centre_x: (left + right) as f32 / 2.0,
            half_width,
            rounding_from,
            depth: bottom - rounding_from,
        }
    }
}

/// A band hanging from the top of the photo whose bottom is rounded like a neckline: the
/// area a top must leave alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeepClear {
    pub centre_x: f32,
    pub half_width: f32,
    /// Where the straight sides turn into the half-ellipse at the bottom.
    pub rounding_from: f32,
    /// Height of the half-ellipse.
    pub depth: f32,
}

impl KeepClear {
    /// 1 well inside, 0 outside, a ramp of about two pixels across the edge.
    fn coverage(&self, x: u32, y: u32) -> f32 {
        let dx = (x as f32 - self.centre_x) / self.half_width;
        let dy = (y as f32 - self.rounding_from).max(0.0) / self.depth.max(1.0);
        let inside_by = (1.0 - (dx * dx + dy * dy).sqrt()) * self.half_width.min(self.depth);
        (inside_by / 2.0 + 0.5).clamp(0.0, 1.0)
    }
}

fn neck_span(matte: &Matte, y: u32, centre_x: u32) -> (u32, u32) {
    let width = matte.span_width(y, centre_x);
    let left = centre_x.saturating_sub(width / 2);
    (left, (left + width).min(matte.width - 1).max(left))
}

/// Average human proportions, as fractions of the figure's height from the top of the head;
/// used where the silhouette does not show a landmark clearly (long hair, arms at the sides).
const SHOULDER_AT: f32 = 0.18;
const CROTCH_AT: f32 = 0.49;
/// Trousers sit this far above the crotch (a mid-rise waistband).
const RISE: f32 = 0.12;

/// Reads the body's landmarks from the person's matte; `None` when there is no figure at all.
pub fn measure_body(matte: &Matte) -> Option<Body> {
    let (_, top, _, height) = matte.bounding_box()?;
    let bottom = top + height - 1;
    let at = |fraction: f32| top + (fraction * height as f32) as u32;

    let shoulder_y = find_shoulders(matte, top, height).unwrap_or_else(|| at(SHOULDER_AT));
    let centre_x = torso_axis(matte, shoulder_y, at(0.3));
    let crotch_y =
        find_crotch(matte, centre_x, at(0.38), at(0.65)).unwrap_or_else(|| at(CROTCH_AT));
    let waist_y = crotch_y
        .saturating_sub((RISE * height as f32) as u32)
        .max(shoulder_y + 1);
    let shoulder_width = matte.span_width((shoulder_y + height / 40).min(bottom), centre_x);
    let hip_width = matte.span_width(crotch_y.saturating_sub(height / 30).max(top), centre_x);
    let neck_y = shoulder_y.saturating_sub(height / 100).max(top);
    let neck = neck_span(matte, neck_y, centre_x);
    Some(Body {
        neck,
        neck_y,
        top,
        bottom,
        centre_x,
        shoulder_y,
        shoulder_width,
        waist_y,
        hip_width,
        crotch_y,
    })
}

/// The shoulder line: the first row below the narrowest part of the neck where the
/// silhouette becomes at least twice as wide as the neck.
fn find_shoulders(matte: &Matte, top: u32, height: u32) -> Option<u32> {
    let width_at = |y: u32| {
        matte
            .row_extent(y)
            .map_or(0, |(first, last)| last - first + 1)
    };
    let from = top + height / 10;
    let to = top + height * 22 / 100;
    let neck_y = (from..to).min_by_key(|&y| width_at(y))?;
    let neck_width = width_at(neck_y).max(1);
    let limit = neck_y + height / 10;
    (neck_y..limit).find(|&y| width_at(y) >= 2 * neck_width)
}

/// The horizontal centre of the torso: the mean of the row centres between shoulders and chest.
fn torso_axis(matte: &Matte, from: u32, to: u32) -> u32 {
    let centres: Vec<u32> = (from..to.max(from + 1))
        .filter_map(|y| matte.row_extent(y.min(matte.height - 1)))
        .map(|(first, last)| (first + last) / 2)
        .collect();
    if centres.is_empty() {
        return matte.width / 2;
    }
    (centres.iter().map(|&c| u64::from(c)).sum::<u64>() / centres.len() as u64) as u32
}

/// The first row, going down the torso's axis, where background shows between the legs.
fn find_crotch(matte: &Matte, centre_x: u32, from: u32, to: u32) -> Option<u32> {
    let gap = |y: u32| (y..y + 3).all(|y| y < matte.height && !matte.is_solid(centre_x, y));
    (from..to.min(matte.height)).find(|&y| gap(y))
}

/// A garment taken off its backdrop and cropped to itself.
#[derive(Debug, Clone)]
pub struct Cutout {
    pub image: RgbaImage,
    matte: Matte,
}

impl Cutout {
    /// Takes the garment off its plain backdrop; `None` when nothing stands out from it.
    pub fn from_photo(photo: &RgbImage) -> Option<Cutout> {
        let matte = matte_from_border(photo);
        let (x, y, width, height) = matte.bounding_box()?;
        let mut image = RgbaImage::new(width, height);
        for (cx, cy, px) in image.enumerate_pixels_mut() {
            let Rgb([r, g, b]) = *photo.get_pixel(x + cx, y + cy);
            *px = Rgba([r, g, b, matte.alpha(x + cx, y + cy)]);
        }
        let alpha = image.pixels().map(|px| px[3]).collect();
        Some(Cutout {
            image,
            matte: Matte {
                width,
                height,
                alpha,
            },
        })
    }

    /// The garment's width at `fraction` of its height, through its centre line.
    fn width_at(&self, fraction: f32) -> u32 {
        let y = ((fraction * self.matte.height as f32) as u32).min(self.matte.height - 1);
        self.matte.span_width(y, self.matte.width / 2).max(1)
    }
}

/// Where on the body a garment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Shoulders down: T-shirts, shirts, jackets.
    Torso,
    /// Waist to ankles: trousers, skirts.
    Legs,
    /// Shoulders down, as long as the garment is: dresses, jumpsuits.
    Body,
}

/// A garment's rectangle on the person photo (it may stick out of the photo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// A top's body, below the sleeves, is this fraction of the shoulders' span across the arms:
/// a relaxed fit, neither a second skin nor a tent.
const TOP_EASE: f32 = 0.84;
/// Trousers' waistband is this much wider than the hips measured in the silhouette.
const WAIST_EASE: f32 = 1.06;

/// Scales and positions the garment: tops by the shoulders' width, trousers by the hips' width
/// and the distance from waist to ankles.
pub fn fit(body: &Body, garment: &Cutout, region: Region) -> Placement {
    let (gw, gh) = (garment.image.width() as f32, garment.image.height() as f32);
    match region {
        Region::Torso | Region::Body => {
            // The hem of a top is its body width, free of the sleeves.
            let scale = body.shoulder_width as f32 * TOP_EASE / garment.width_at(0.85) as f32;
            let (width, height) = (gw * scale, gh * scale);
            // The back of the collar sits just above where the neck meets the shoulders.
            let y = body.shoulder_y as f32 - 0.03 * body.height() as f32;
            centred(body.centre_x, y, width, height)
        }
        Region::Legs => {
            let scale_x = body.hip_width as f32 * WAIST_EASE / garment.width_at(0.04) as f32;
            let length = body.bottom.saturating_sub(body.waist_y) as f32 * 0.97;
            // Stretch to the legs' length, but never so much that the garment looks distorted.
            let scale_y = (length / gh).clamp(scale_x * 0.85, scale_x * 1.2);
            centred(
                body.centre_x,
                body.waist_y as f32,
                gw * scale_x,
                gh * scale_y,
            )
        }
    }
}

fn centred(centre_x: u32, top: f32, width: f32, height: f32) -> Placement {
    let (width, height) = (
        width.round().max(1.0) as u32,
        height.round().max(1.0) as u32,
    );
    Placement {
        x: centre_x as i32 - (width / 2) as i32,
        y: top.round() as i32,
        width,
        height,
    }
}

/// The person photo's broad light and shade, relative to its mean: folds and the body's
/// curvature, which the garment takes on so it looks lit like the person.
pub struct Shading {
    width: u32,
    relative: Vec<f32>,
}

impl Shading {
    /// Ratio of fine to coarse luminance over the figure only: folds and the roundness of
    /// limbs, largely free of the colour of what the person wears (dark leggings are not a
    /// shadow) and of the backdrop around the silhouette.
    pub fn of(person: &RgbImage, figure: &Matte) -> Shading {
        let (width, height) = person.dimensions();
        let weight: Vec<f32> = figure.alpha.iter().map(|&a| f32::from(a) / 255.0).collect();
        let weighted: Vec<f32> = person
            .pixels()
            .zip(&weight)
            .map(|(px, w)| f32::from(luma(*px)) * w)
            .collect();
        let long = width.max(height);
        let mean_over_figure = |radius: u32| {
            let sums = box_blur_f32(&weighted, width, height, radius);
            let weights = box_blur_f32(&weight, width, height, radius);
            sums.iter()
                .zip(weights)
                .map(|(s, w)| if w > 0.01 { s / w } else { 0.0 })
                .collect::<Vec<f32>>()
        };
        let (fine, coarse) = (
            mean_over_figure((long / 300).max(1)),
            mean_over_figure((long / 40).max(2)),
        );
        let relative = fine
            .iter()
            .zip(&coarse)
            .map(|(&f, &c)| {
                if c < 1.0 {
                    1.0
                } else {
                    (f / c).sqrt().clamp(0.86, 1.1)
                }
            })
            .collect();
        Shading { width, relative }
    }

    fn at(&self, x: u32, y: u32) -> f32 {
        self.relative[y as usize * self.width as usize + x as usize]
    }
}

fn luma(px: Rgb<u8>) -> u8 {
    ((u32::from(px[0]) * 77 + u32::from(px[1]) * 150 + u32::from(px[2]) * 29) >> 8) as u8
}

/// Draws the garment onto the person at `placement`, only where `clip` (the figure, slightly
/// grown) allows and outside `keep_clear`, shaded like the body underneath.
pub fn blend(
    person: &mut RgbImage,
    clip: &Matte,
    shading: &Shading,
    garment: &Cutout,
    placement: Placement,
    keep_clear: Option<KeepClear>,
) {
    let scaled = imageops::resize(
        &garment.image,
        placement.width,
        placement.height,
        FilterType::CatmullRom,
    );
    let (pw, ph) = person.dimensions();
    for (gx, gy, px) in scaled.enumerate_pixels() {
        let (x, y) = (placement.x + gx as i32, placement.y + gy as i32);
        if x < 0 || y < 0 || x as u32 >= pw || y as u32 >= ph {
            continue;
        }
        let (x, y) = (x as u32, y as u32);
        let kept_clear = keep_clear.map_or(0.0, |zone| zone.coverage(x, y));
        let coverage =
            f32::from(px[3]) * f32::from(clip.alpha(x, y)) / (255.0 * 255.0) * (1.0 - kept_clear);
        if coverage <= 0.0 {
            continue;
        }
        let shade = shading.at(x, y);
        let under = person.get_pixel_mut(x, y);
        for c in 0..3 {
            let cloth = (f32::from(px[c]) * shade).min(255.0);
            under[c] = (cloth * coverage + f32::from(under[c]) * (1.0 - coverage)).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKDROP: Rgb<u8> = Rgb([236, 238, 240]);

    fn canvas(width: u32, height: u32) -> RgbImage {
        RgbImage::from_pixel(width, height, BACKDROP)
    }

    fn fill(image: &mut RgbImage, x: u32, y: u32, width: u32, height: u32, colour: Rgb<u8>) {
        for yy in y..y + height {
            for xx in x..x + width {
                image.put_pixel(xx, yy, colour);
            }
        }
    }

    /// A blocky standing figure, 200 px tall from y = 10: head, neck, shoulders, torso with
    /// arms apart from it, and two legs parted from y = 110.
    fn stick_figure() -> RgbImage {
        let skin = Rgb([200, 150, 120]);
        let mut image = canvas(120, 220);
        fill(&mut image, 50, 10, 20, 22, skin); // head
        fill(&mut image, 55, 32, 10, 6, skin); // neck
        fill(&mut image, 36, 38, 48, 72, skin); // torso, shoulders at y = 38
        fill(&mut image, 26, 40, 8, 60, skin); // left arm, apart from the torso
        fill(&mut image, 86, 40, 8, 60, skin); // right arm
        fill(&mut image, 26, 38, 10, 4, skin); // left shoulder joint
        fill(&mut image, 84, 38, 10, 4, skin); // right shoulder joint
        fill(&mut image, 38, 110, 18, 100, skin); // left leg
        fill(&mut image, 64, 110, 18, 100, skin); // right leg
        image
    }

    #[test]
    fn matte_separates_object_from_plain_backdrop_with_soft_edge() {
        let mut image = canvas(60, 40);
        fill(&mut image, 20, 10, 20, 20, Rgb([30, 60, 160]));
        let matte = matte_from_border(&image);
        assert_eq!(matte.alpha(30, 20), 255, "inside the object");
        assert_eq!(matte.alpha(2, 2), 0, "backdrop");
        let edge = matte.alpha(20, 20);
        assert!(edge > 0 && edge < 255, "the edge is soft, got {edge}");
    }

    #[test]
    fn light_areas_inside_the_object_stay_opaque() {
        let mut image = canvas(60, 40);
        fill(&mut image, 10, 5, 40, 30, Rgb([160, 20, 30]));
        fill(&mut image, 25, 15, 10, 10, BACKDROP); // a print the colour of the backdrop
        let matte = matte_from_border(&image);
        assert_eq!(matte.alpha(30, 20), 255);
    }

    #[test]
    fn only_the_largest_object_is_kept() {
        let mut image = canvas(80, 40);
        fill(&mut image, 10, 10, 30, 20, Rgb([20, 20, 20]));
        fill(&mut image, 60, 15, 4, 4, Rgb([20, 20, 20]));
        let matte = matte_from_border(&image);
        assert_eq!(matte.alpha(20, 20), 255);
        assert_eq!(matte.alpha(62, 17), 0, "the speck is dropped");
    }

    #[test]
    fn body_landmarks_are_read_from_the_silhouette() {
        let body = measure_body(&matte_from_border(&stick_figure())).expect("a figure");
        assert!(body.top.abs_diff(10) <= 1, "top {body:?}");
        assert!(body.bottom.abs_diff(209) <= 1, "bottom {body:?}");
        assert!(body.centre_x.abs_diff(60) <= 2, "axis {body:?}");
        assert!(body.shoulder_y.abs_diff(38) <= 2, "shoulders {body:?}");
        assert!(body.crotch_y.abs_diff(110) <= 2, "crotch {body:?}");
        assert!(
            body.hip_width.abs_diff(48) <= 3,
            "hips without the arms {body:?}"
        );
        assert!(
            body.waist_y < body.crotch_y && body.waist_y > body.shoulder_y,
            "waist {body:?}"
        );
    }

    #[test]
    fn no_figure_means_no_body() {
        assert_eq!(measure_body(&matte_from_border(&canvas(50, 50))), None);
    }

    fn tshirt_photo() -> RgbImage {
        let mut image = canvas(200, 200);
        let navy = Rgb([30, 40, 90]);
        fill(&mut image, 60, 40, 80, 130, navy); // body: 80 wide
        fill(&mut image, 30, 40, 30, 40, navy); // sleeves
        fill(&mut image, 140, 40, 30, 40, navy);
        image
    }

    #[test]
    fn a_top_is_scaled_to_the_shoulders_and_hangs_from_them() {
        let body = measure_body(&matte_from_border(&stick_figure())).unwrap();
        let shirt = Cutout::from_photo(&tshirt_photo()).expect("a garment");
        let at = fit(&body, &shirt, Region::Torso);
        let body_width = at.width as f32 * 80.0 / 140.0;
        let expected = body.shoulder_width as f32 * TOP_EASE;
        assert!((body_width - expected).abs() <= 3.0, "{at:?} for {body:?}");
        assert!(
            (at.x + at.width as i32 / 2 - body.centre_x as i32).abs() <= 1,
            "centred {at:?}"
        );
        assert!(
            at.y <= body.shoulder_y as i32 && at.y + at.height as i32 > body.crotch_y as i32 - 40
        );
    }

    #[test]
    fn trousers_go_from_the_waist_to_the_ankles() {
        let body = measure_body(&matte_from_border(&stick_figure())).unwrap();
        let mut photo = canvas(120, 200);
        fill(&mut photo, 30, 20, 60, 30, Rgb([60, 50, 40])); // waist and seat
        fill(&mut photo, 30, 50, 26, 125, Rgb([60, 50, 40])); // legs
        fill(&mut photo, 64, 50, 26, 125, Rgb([60, 50, 40]));
        let trousers = Cutout::from_photo(&photo).unwrap();
        let at = fit(&body, &trousers, Region::Legs);
        assert_eq!(at.y, body.waist_y as i32);
        let bottom = at.y + at.height as i32;
        assert!(
            bottom > body.bottom as i32 - 20 && bottom <= body.bottom as i32 + 2,
            "{at:?} {body:?}"
        );
    }

    #[test]
    fn blending_paints_the_garment_only_on_the_figure() {
        let mut person = stick_figure();
        let figure = matte_from_border(&person);
        let shading = Shading::of(&person, &figure);
        let shirt = Cutout::from_photo(&tshirt_photo()).unwrap();
        let at = Placement {
            x: 0,
            y: 30,
            width: 120,
            height: 100,
        };
        let neck = KeepClear {
            centre_x: 60.0,
            half_width: 6.0,
            rounding_from: 30.0,
            depth: 8.0,
        };
        blend(&mut person, &figure, &shading, &shirt, at, Some(neck));
        assert_eq!(
            *person.get_pixel(60, 33),
            Rgb([200, 150, 120]),
            "the neck is kept clear"
        );
        let on_torso = person.get_pixel(60, 70);
        assert!(
            on_torso[2] > on_torso[0] + 20,
            "the torso is navy now, got {on_torso:?}"
        );
        assert_eq!(
            *person.get_pixel(5, 70),
            BACKDROP,
            "the backdrop is untouched"
        );
        assert_eq!(
            *person.get_pixel(60, 20),
            Rgb([200, 150, 120]),
            "the head is untouched"
        );
    }

    #[test]
    fn grown_matte_reaches_past_the_edge() {
        let mut image = canvas(60, 40);
        fill(&mut image, 20, 10, 20, 20, Rgb([30, 60, 160]));
        let matte = matte_from_border(&image);
        let grown = matte.grown(3);
        assert_eq!(matte.alpha(17, 20), 0);
        assert!(grown.alpha(17, 20) > 0);
        assert_eq!(grown.alpha(5, 5), 0);
    }
}
