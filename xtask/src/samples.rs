//! The demo storefront's sample pictures, drawn by code: a T-shirt and trousers shot on a
//! plain backdrop, and a full-body figure a visitor downloads and tries them on.
//!
//! We have no photos we may ship, and a drawing makes plain that the person is not real. The
//! pictures follow the widget's own photo tips (plain light backdrop, front-facing, full body,
//! arms a little away from the body), which is also what the `local` compositor relies on.
//!
//! Everything is drawn with signed distance functions: each part is a shape whose distance
//! to the edge gives anti-aliased coverage and, read as the depth of a rounded surface, its
//! light and shade.

use std::io;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, Rgb, RgbImage};

/// Writes `garment.png`, `trousers.png` and `person.jpg` into `out_dir` (the demo storefront
/// serves them from `www/demo/`) and returns their paths.
pub fn write_samples(out_dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let garment = out_dir.join("garment.png");
    tshirt(1.0)
        .save_with_format(&garment, ImageFormat::Png)
        .map_err(io::Error::other)?;
    let trousers = out_dir.join("trousers.png");
    trousers_photo(1.0)
        .save_with_format(&trousers, ImageFormat::Png)
        .map_err(io::Error::other)?;
    let person = out_dir.join("person.jpg");
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&person_photo(1.0))
        .map_err(io::Error::other)?;
    std::fs::write(&person, jpeg)?;
    Ok(vec![garment, trousers, person])
}

type Colour = [f32; 3];

fn hex(rgb: u32) -> Colour {
    [
        (rgb >> 16) as f32,
        ((rgb >> 8) & 0xFF) as f32,
        (rgb & 0xFF) as f32,
    ]
}

fn mix(a: Colour, b: Colour, t: f32) -> Colour {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scaled(c: Colour, k: f32) -> Colour {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// A picture being drawn, in floating point so layers blend without banding. Shapes are given
/// in design units; `scale` maps them to pixels, so tests can draw small copies quickly.
struct Canvas {
    width: u32,
    height: u32,
    scale: f32,
    pixels: Vec<Colour>,
}

/// Where a shape's surface is: its distance field, and the depth at which it counts as fully
/// rounded (about half the part's thickness), for shading.
struct Surface<'a> {
    distance: &'a dyn Fn(f32, f32) -> f32,
    depth: f32,
}

impl Canvas {
    fn new(width: f32, height: f32, scale: f32, backdrop: impl Fn(f32, f32) -> Colour) -> Canvas {
        let (w, h) = (
            (width * scale).round() as u32,
            (height * scale).round() as u32,
        );
        let pixels = (0..w * h)
            .map(|i| {
                backdrop(
                    ((i % w) as f32 + 0.5) / scale,
                    ((i / w) as f32 + 0.5) / scale,
                )
            })
            .collect();
        Canvas {
            width: w,
            height: h,
            scale,
            pixels,
        }
    }

    /// Paints the shape, lit by `light`, which gets the design-space point, the surface normal
    /// `(nx, ny, nz)` and how deep inside the shape the point is (0 at the edge, 1 inside).
    ///
    /// The surface is the shape's coverage blurred over `depth`: a soft pillow whose slopes
    /// give smooth normals, without the creases a distance field has along its medial axis.
    fn paint(&mut self, surface: &Surface, light: &dyn Fn(f32, f32, [f32; 3], f32) -> Colour) {
        let (w, h) = (self.width as usize, self.height as usize);
        let coverage: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (
                    ((i % w) as f32 + 0.5) / self.scale,
                    ((i / w) as f32 + 0.5) / self.scale,
                );
                (0.5 - (surface.distance)(x, y) * self.scale).clamp(0.0, 1.0)
            })
            .collect();
        let depth_px = surface.depth * self.scale;
        let mut height = coverage.clone();
        for _ in 0..3 {
            height = box_blur(&height, w, h, (depth_px / 2.0).max(1.0) as usize);
        }
        for i in 0..w * h {
            if coverage[i] <= 0.0 {
                continue;
            }
            let (px, py) = (i % w, i / w);
            let at = |x: usize, y: usize| height[y * w + x];
            let gx = (at((px + 1).min(w - 1), py) - at(px.saturating_sub(1), py)) * depth_px * 0.6;
            let gy = (at(px, (py + 1).min(h - 1)) - at(px, py.saturating_sub(1))) * depth_px * 0.6;
            let len = (gx * gx + gy * gy + 1.0).sqrt();
            let normal = [-gx / len, -gy / len, 1.0 / len];
            let (x, y) = (
                (px as f32 + 0.5) / self.scale,
                (py as f32 + 0.5) / self.scale,
            );
            let colour = light(x, y, normal, height[i].clamp(0.0, 1.0));
            self.pixels[i] = mix(self.pixels[i], colour, coverage[i]);
        }
    }

    /// The finished picture; `grain` (in levels) adds sensor-like noise, so a JPEG's flat areas
    /// do not band. Product PNGs go without: it would only cost bytes.
    fn into_image(self, grain: f32) -> RgbImage {
        let mut noise = 0x2545_F491u32;
        let mut image = RgbImage::new(self.width, self.height);
        for (out, c) in image.pixels_mut().zip(&self.pixels) {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let offset = ((noise % 5) as f32 - 2.0) * grain;
            *out = Rgb(c.map(|v| (v + offset).round().clamp(0.0, 255.0) as u8));
        }
        image
    }
}

/// Soft key light from the upper left and in front, with a little fill from the right.
fn studio_light(base: Colour, normal: [f32; 3], shine: f32) -> Colour {
    let key = {
        let l = [-0.42f32, -0.5, 0.76];
        (normal[0] * l[0] + normal[1] * l[1] + normal[2] * l[2]).max(0.0)
    };
    let fill = (normal[0] * 0.6 + normal[2] * 0.3).max(0.0);
    let lit = scaled(base, 0.42 + 0.62 * key + 0.12 * fill);
    let highlight = key.powf(18.0) * shine * 255.0;
    lit.map(|v| v + highlight)
}

/// Box blur with running sums, edges clamped.
fn box_blur(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let pass = |input: &[f32], len: usize, lines: usize, index: &dyn Fn(usize, usize) -> usize| {
        let mut output = vec![0.0; input.len()];
        let value =
            |line: usize, pos: isize| input[index(line, pos.clamp(0, len as isize - 1) as usize)];
        for line in 0..lines {
            let mut sum: f32 = (-(r as isize)..=r as isize)
                .map(|pos| value(line, pos))
                .sum();
            for pos in 0..len {
                output[index(line, pos)] = sum / (2 * r + 1) as f32;
                sum += value(line, (pos + r + 1) as isize) - value(line, pos as isize - r as isize);
            }
        }
        output
    };
    let rows = pass(plane, w, h, &|row, col| row * w + col);
    pass(&rows, h, w, &|col, row| row * w + col)
}

// --- Distance functions -------------------------------------------------------------------

fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Ellipse (approximate distance, exact on the axes; fine for drawing).
fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    let k = length((x - cx) / rx, (y - cy) / ry);
    (k - 1.0) * rx.min(ry)
}

/// A limb: a segment from `a` to `b` whose radius goes from `ra` to `rb`.
fn limb(x: f32, y: f32, a: (f32, f32), b: (f32, f32), ra: f32, rb: f32) -> f32 {
    let (bax, bay) = (b.0 - a.0, b.1 - a.1);
    let (pax, pay) = (x - a.0, y - a.1);
    let h = ((pax * bax + pay * bay) / (bax * bax + bay * bay)).clamp(0.0, 1.0);
    length(pax - bax * h, pay - bay * h) - (ra + (rb - ra) * h)
}

/// Exact distance to a polygon (negative inside), after Inigo Quilez's formulation.
fn polygon(x: f32, y: f32, points: &[(f32, f32)]) -> f32 {
    let mut d = f32::MAX;
    let mut sign = 1.0;
    let mut j = points.len() - 1;
    for i in 0..points.len() {
        let (vi, vj) = (points[i], points[j]);
        let (ex, ey) = (vj.0 - vi.0, vj.1 - vi.1);
        let (wx, wy) = (x - vi.0, y - vi.1);
        let h = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
        d = d.min(length(wx - ex * h, wy - ey * h));
        let (c1, c2, c3) = (y >= vi.1, y < vj.1, ex * wy > ey * wx);
        if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
            sign = -sign;
        }
        j = i;
    }
    sign * d
}

/// Union that melts two shapes together over `k` units, like flesh or cloth.
fn smooth_union(a: f32, b: f32, k: f32) -> f32 {
    let h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0);
    b + (a - b) * h - k * h * (1.0 - h)
}

/// Soft-edged band of a line: 1 on the line, 0 at `width` from it.
fn line_mask(distance: f32, width: f32) -> f32 {
    (1.0 - distance.abs() / width).clamp(0.0, 1.0)
}

/// Mirror of an x coordinate around the picture's vertical axis at `axis`.
fn mirrored(x: f32, axis: f32) -> f32 {
    axis - (x - axis).abs()
}

// --- Product shots ------------------------------------------------------------------------

/// A seamless light-grey studio backdrop, a little brighter in the middle.
fn product_backdrop(width: f32, height: f32) -> impl Fn(f32, f32) -> Colour {
    move |x, y| {
        let r = length((x - width / 2.0) / width, (y - height * 0.45) / height);
        scaled(hex(0xF3F2EF), 1.0 - 0.03 * r)
    }
}

/// Adds the soft contact shadow a garment laid on a sweep casts.
fn drop_shadow(
    canvas: &mut Canvas,
    shape: &dyn Fn(f32, f32) -> f32,
    offset: (f32, f32),
    blur: f32,
) {
    let shadow = |x: f32, y: f32| shape(x - offset.0, y - offset.1) - blur;
    let surface = Surface {
        distance: &shadow,
        depth: blur * 2.0,
    };
    let backdrop = hex(0xF3F2EF);
    canvas.paint(&surface, &|_, _, _, inside| {
        scaled(backdrop, 1.0 - 0.045 * inside)
    });
}

/// A plain crew-neck T-shirt, front view, as on an invisible mannequin: 1000×1000 design units.
fn tshirt(scale: f32) -> RgbImage {
    const AXIS: f32 = 500.0;
    let mut canvas = Canvas::new(1000.0, 1000.0, scale, product_backdrop(1000.0, 1000.0));
    // Half the outline, from the back of the collar at the axis round to the hem at the axis.
    let half = [
        (500.0, 104.0),
        (458.0, 104.0),
        (414.0, 112.0),
        (322.0, 146.0),
        (266.0, 176.0),
        (198.0, 414.0),
        (288.0, 448.0),
        (330.0, 318.0),
        (336.0, 560.0),
        (328.0, 808.0),
        (500.0, 818.0),
    ];
    let shape = |x: f32, y: f32| polygon(x, y, &mirror_outline(&half, AXIS)) - 8.0;
    drop_shadow(&mut canvas, &shape, (6.0, 12.0), 14.0);

    let cloth = hex(0xC2502F);
    canvas.paint(
        &Surface {
            distance: &shape,
            depth: 120.0,
        },
        &|x, y, normal, _| {
            let mx = mirrored(x, AXIS);
            let ripple = ((x * 0.018).sin() * 0.6 + (x * 0.041 + y * 0.004).sin() * 0.4) * 0.03;
            let drag =
                line_mask(limb(mx, y, (262.0, 250.0), (336.0, 372.0), 0.0, 0.0), 30.0) * 0.06;
            let hem = line_mask(y - 786.0, 3.0) * 0.2;
            let sleeve_hem =
                line_mask(limb(mx, y, (205.0, 390.0), (294.0, 424.0), 0.0, 0.0), 3.0) * 0.2;
            let seam = line_mask(limb(mx, y, (322.0, 150.0), (330.0, 318.0), 0.0, 0.0), 2.0) * 0.1;
            studio_light(
                scaled(cloth, 1.0 + ripple - drag - hem - sleeve_hem - seam),
                normal,
                0.05,
            )
        },
    );
    // Through the neck opening: the inside of the back, then the ribbed collar round it.
    let neckline = |x: f32, y: f32| ellipse(x, y, AXIS, 106.0, 86.0, 74.0);
    let opening = |x: f32, y: f32| neckline(x, y).max(shape(x, y));
    canvas.paint(
        &Surface {
            distance: &opening,
            depth: 40.0,
        },
        &|_, y, normal, _| {
            let back_rib = if y < 124.0 { 0.9 } else { 0.62 };
            studio_light(scaled(cloth, back_rib), normal, 0.0)
        },
    );
    let collar = |x: f32, y: f32| (neckline(x, y).abs() - 10.0).max(106.0 - y);
    canvas.paint(
        &Surface {
            distance: &collar,
            depth: 14.0,
        },
        &|x, y, normal, _| {
            let rib = 1.0 - 0.05 * (length(x - AXIS, y - 106.0) * 0.8).sin().abs();
            studio_light(scaled(cloth, 0.95 * rib), normal, 0.02)
        },
    );
    canvas.into_image(0.0)
}

/// A closed outline from its left half (axis to axis), mirrored round `axis`.
fn mirror_outline(half: &[(f32, f32)], axis: f32) -> Vec<(f32, f32)> {
    let right = half
        .iter()
        .rev()
        .skip(1)
        .take(half.len() - 2)
        .map(|&(x, y)| (2.0 * axis - x, y));
    half.iter().copied().chain(right).collect()
}

/// Slim chinos, front view, laid straight: 900×1200 design units.
fn trousers_photo(scale: f32) -> RgbImage {
    const AXIS: f32 = 450.0;
    let mut canvas = Canvas::new(900.0, 1200.0, scale, product_backdrop(900.0, 1200.0));
    let half = [
        (450.0, 84.0),
        (268.0, 84.0),
        (252.0, 330.0),
        (262.0, 700.0),
        (282.0, 1118.0),
        (430.0, 1118.0),
        (444.0, 520.0),
        (450.0, 470.0),
    ];
    let outline: Vec<(f32, f32)> = half
        .iter()
        .copied()
        .chain(
            half.iter()
                .rev()
                .skip(1)
                .take(half.len() - 2)
                .map(|&(x, y)| (2.0 * AXIS - x, y)),
        )
        .collect();
    let shape = |x: f32, y: f32| polygon(x, y, &outline) - 6.0;
    drop_shadow(&mut canvas, &shape, (5.0, 12.0), 12.0);

    let cloth = hex(0x2E3B57);
    canvas.paint(
        &Surface {
            distance: &shape,
            depth: 110.0,
        },
        &|x, y, normal, _| {
            let mx = mirrored(x, AXIS);
            let waistband = line_mask(y - 146.0, 3.0) * 0.3;
            let fly = line_mask(limb(x, y, (478.0, 150.0), (478.0, 400.0), 0.0, 0.0), 2.5) * 0.25
                + line_mask(
                    ellipse(x, y, 450.0, 400.0, 28.0, 30.0)
                        .max(-(y - 400.0))
                        .max(450.0 - x),
                    2.5,
                ) * 0.25;
            let pocket = line_mask(
                ellipse(mx, y, 268.0, 150.0, 100.0, 120.0).max(y - 270.0),
                2.5,
            ) * 0.28;
            let crease =
                line_mask(limb(mx, y, (356.0, 460.0), (357.0, 1110.0), 0.0, 0.0), 5.0) * -0.08;
            let knee = (-((y - 780.0) / 60.0).powi(2)).exp() * (0.04 * ((mx - 300.0) * 0.08).sin());
            let hem = line_mask(y - 1092.0, 3.0) * 0.25;
            let seat = (-((y - 470.0) / 40.0).powi(2)).exp() * line_mask(mx - 440.0, 60.0) * 0.1;
            let shade = 1.0 - waistband - fly - pocket - crease + knee - hem - seat;
            studio_light(scaled(cloth, shade), normal, 0.08)
        },
    );
    // Belt loops and the button.
    for loop_x in [300.0, 600.0, 400.0, 500.0] {
        let belt_loop = |x: f32, y: f32| {
            polygon(
                x,
                y,
                &[
                    (loop_x - 9.0, 80.0),
                    (loop_x + 9.0, 80.0),
                    (loop_x + 9.0, 156.0),
                    (loop_x - 9.0, 156.0),
                ],
            ) - 2.0
        };
        canvas.paint(
            &Surface {
                distance: &belt_loop,
                depth: 9.0,
            },
            &|_, _, normal, _| studio_light(scaled(cloth, 1.05), normal, 0.1),
        );
    }
    let button = |x: f32, y: f32| ellipse(x, y, 450.0, 116.0, 13.0, 13.0);
    canvas.paint(
        &Surface {
            distance: &button,
            depth: 13.0,
        },
        &|_, _, normal, _| studio_light(hex(0x6B5A45), normal, 0.6),
    );
    canvas.into_image(0.0)
}

// --- The figure ---------------------------------------------------------------------------

/// A standing woman, front view, arms a little away from the body: 1200×1800 design units,
/// 1600 tall from the crown (y = 110) to the soles.
fn person_photo(scale: f32) -> RgbImage {
    const AXIS: f32 = 600.0;
    let mut canvas = Canvas::new(1200.0, 1800.0, scale, |x, y| {
        // A painted studio wall meeting the floor, lit from the upper left.
        let wall = scaled(
            hex(0xE7E3DD),
            1.02 - 0.04 * (y / 1800.0) - 0.02 * (x / 1200.0),
        );
        let floor_shadow = (-(length((x - AXIS) / 260.0, (y - 1716.0) / 26.0)).powi(2)).exp();
        scaled(wall, 1.0 - 0.05 * floor_shadow)
    });

    let skin = hex(0xC98F6E);
    let hair = hex(0x3A2920);
    let top = hex(0x8C949C);
    let leggings = hex(0x34373F);
    let shoe = hex(0x2A2A2D);

    // Hair behind the head and shoulders.
    let back_hair = |x: f32, y: f32| {
        smooth_union(
            ellipse(x, y, AXIS, 206.0, 90.0, 106.0),
            limb(x, y, (AXIS, 250.0), (AXIS, 330.0), 86.0, 80.0),
            20.0,
        )
    };
    canvas.paint(
        &Surface {
            distance: &back_hair,
            depth: 60.0,
        },
        &|x, y, normal, _| {
            studio_light(
                scaled(hair, 0.8 + 0.06 * (x * 0.15).sin() * (y * 0.01).cos()),
                normal,
                0.15,
            )
        },
    );

    // Legs, ankles to hips, under the top; shoes over them.
    let leg = |x: f32, y: f32| {
        let mx = mirrored(x, AXIS);
        let thigh = limb(mx, y, (526.0, 900.0), (528.0, 1290.0), 76.0, 50.0);
        let calf = limb(mx, y, (528.0, 1290.0), (534.0, 1655.0), 48.0, 27.0);
        let calf_muscle = ellipse(mx, y, 522.0, 1410.0, 50.0, 120.0);
        smooth_union(smooth_union(thigh, calf, 24.0), calf_muscle, 30.0)
    };
    let hips = |x: f32, y: f32| ellipse(x, y, AXIS, 860.0, 158.0, 110.0);
    let lower_body = |x: f32, y: f32| smooth_union(leg(x, y), hips(x, y), 30.0).max(-(y - 790.0));
    canvas.paint(
        &Surface {
            distance: &lower_body,
            depth: 70.0,
        },
        &|x, y, normal, _| {
            let mx = mirrored(x, AXIS);
            let seam =
                line_mask(limb(mx, y, (560.0, 980.0), (548.0, 1640.0), 0.0, 0.0), 2.0) * 0.12;
            studio_light(scaled(leggings, 1.0 - seam), normal, 0.12)
        },
    );
    let ankle = |x: f32, y: f32| {
        limb(
            mirrored(x, AXIS),
            y,
            (534.0, 1610.0),
            (536.0, 1668.0),
            26.0,
            24.0,
        )
    };
    canvas.paint(
        &Surface {
            distance: &ankle,
            depth: 24.0,
        },
        &|_, _, normal, _| studio_light(skin, normal, 0.1),
    );
    let shoes = |x: f32, y: f32| {
        let mx = mirrored(x, AXIS);
        smooth_union(
            ellipse(mx, y, 530.0, 1690.0, 46.0, 30.0),
            ellipse(mx, y, 518.0, 1704.0, 40.0, 18.0),
            12.0,
        )
    };
    canvas.paint(
        &Surface {
            distance: &shoes,
            depth: 30.0,
        },
        &|x, y, normal, _| {
            let sole = line_mask(y - 1716.0, 6.0) + if y > 1714.0 { 1.0 } else { 0.0 };
            let laces = line_mask(
                ellipse(mirrored(x, AXIS), y, 530.0, 1676.0, 16.0, 10.0),
                2.0,
            ) * 0.6;
            let base = mix(scaled(shoe, 1.0 + laces), hex(0xEDEBE6), sole.min(1.0));
            studio_light(base, normal, 0.2)
        },
    );

    // Arms, behind the torso at the shoulder.
    let arm = |x: f32, y: f32| {
        let mx = mirrored(x, AXIS);
        let upper = limb(mx, y, (444.0, 440.0), (402.0, 700.0), 40.0, 31.0);
        let fore = limb(mx, y, (402.0, 700.0), (376.0, 930.0), 31.0, 23.0);
        let hand = smooth_union(
            ellipse(mx, y, 366.0, 978.0, 27.0, 50.0),
            limb(mx, y, (368.0, 1000.0), (374.0, 1036.0), 13.0, 9.0),
            10.0,
        );
        smooth_union(smooth_union(upper, fore, 14.0), hand, 10.0)
    };
    canvas.paint(
        &Surface {
            distance: &arm,
            depth: 36.0,
        },
        &|x, y, normal, _| {
            let crease =
                line_mask(ellipse(mirrored(x, AXIS), y, 392.0, 700.0, 12.0, 3.0), 3.0) * 0.1;
            studio_light(scaled(skin, 1.0 - crease), normal, 0.1)
        },
    );

    // Neck and torso in skin, then a sleeveless fitted top over them.
    let neck = |x: f32, y: f32| {
        smooth_union(
            limb(x, y, (AXIS, 300.0), (AXIS, 392.0), 40.0, 46.0),
            ellipse(x, y, AXIS, 420.0, 110.0, 30.0),
            30.0,
        )
    };
    canvas.paint(
        &Surface {
            distance: &neck,
            depth: 60.0,
        },
        &|_, y, normal, _| {
            let chin_shadow = (-((y - 318.0) / 26.0).powi(2)).exp() * 0.25;
            studio_light(scaled(skin, 1.0 - chin_shadow), normal, 0.05)
        },
    );
    let torso = |x: f32, y: f32| {
        let mx = mirrored(x, AXIS);
        let shoulders = limb(mx, y, (548.0, 398.0), (446.0, 428.0), 38.0, 42.0);
        let deltoid = ellipse(mx, y, 446.0, 462.0, 44.0, 62.0);
        let chest = ellipse(x, y, AXIS, 548.0, 150.0, 150.0);
        let waist = ellipse(x, y, AXIS, 730.0, 122.0, 136.0);
        let hip = ellipse(x, y, AXIS, 850.0, 160.0, 80.0);
        let upper = smooth_union(smooth_union(shoulders, deltoid, 24.0), chest, 44.0);
        smooth_union(smooth_union(upper, waist, 60.0), hip, 50.0).max(y - 880.0)
    };
    canvas.paint(
        &Surface {
            distance: &torso,
            depth: 160.0,
        },
        &|_, _, normal, _| studio_light(skin, normal, 0.08),
    );
    let scoop = |x: f32, y: f32| ellipse(x, y, AXIS, 380.0, 80.0, 70.0);
    let armhole = |x: f32, y: f32| ellipse(mirrored(x, AXIS), y, 420.0, 450.0, 62.0, 110.0);
    let top_shape = |x: f32, y: f32| {
        torso(x, y)
            .max(-scoop(x, y))
            .max(-armhole(x, y))
            .max(386.0 - y)
    };
    canvas.paint(
        &Surface {
            distance: &top_shape,
            depth: 150.0,
        },
        &|x, y, normal, _| {
            let mx = mirrored(x, AXIS);
            let underbust =
                (-((y - 650.0) / 30.0).powi(2)).exp() * line_mask(mx - 520.0, 70.0) * 0.08;
            let hem = line_mask(y - 866.0, 3.0) * 0.2;
            let wrinkle = (y * 0.05 + (mx * 0.02).sin()).sin() * 0.02 * line_mask(mx - 470.0, 40.0);
            studio_light(scaled(top, 1.0 - underbust - hem + wrinkle), normal, 0.06)
        },
    );
    let binding = |x: f32, y: f32| {
        (scoop(x, y).abs() - 5.0)
            .min(armhole(x, y).abs() - 5.0)
            .max(top_shape(x, y) - 5.0)
            .max(torso(x, y))
    };
    canvas.paint(
        &Surface {
            distance: &binding,
            depth: 5.0,
        },
        &|_, _, normal, _| studio_light(scaled(top, 0.85), normal, 0.0),
    );

    // Head: ears, face, features, then hair framing the face.
    let ears = |x: f32, y: f32| ellipse(mirrored(x, AXIS), y, 527.0, 236.0, 13.0, 24.0);
    canvas.paint(
        &Surface {
            distance: &ears,
            depth: 12.0,
        },
        &|_, _, normal, _| studio_light(scaled(skin, 0.95), normal, 0.05),
    );
    let face = |x: f32, y: f32| {
        let jaw = ellipse(x, y, AXIS, 236.0, 72.0, 96.0);
        let cheeks = ellipse(x, y, AXIS, 222.0, 74.0, 70.0);
        smooth_union(jaw, cheeks, 20.0)
    };
    canvas.paint(
        &Surface {
            distance: &face,
            depth: 70.0,
        },
        &|x, y, normal, _| {
            let mx = mirrored(x, AXIS);
            let blush = (-(length((mx - 556.0) / 22.0, (y - 262.0) / 14.0)).powi(2)).exp() * 0.06;
            let nose_side = line_mask(
                limb(x, y, (AXIS - 10.0, 232.0), (AXIS - 12.0, 268.0), 0.0, 0.0),
                6.0,
            ) * 0.1;
            let nostrils = (-(length((x - AXIS) / 16.0, (y - 276.0) / 5.0)).powi(2)).exp() * 0.12;
            let eye_socket =
                (-(length((mx - 571.0) / 26.0, (y - 226.0) / 12.0)).powi(2)).exp() * 0.07;
            let base = mix(skin, hex(0xD27D6E), blush);
            studio_light(
                scaled(base, 1.0 - nose_side - nostrils - eye_socket),
                normal,
                0.08,
            )
        },
    );
    let eye_white = |x: f32, y: f32| ellipse(mirrored(x, AXIS), y, 571.0, 230.0, 15.0, 7.5);
    canvas.paint(
        &Surface {
            distance: &eye_white,
            depth: 6.0,
        },
        &|_, _, _, _| hex(0xEDE6E0),
    );
    let iris =
        |x: f32, y: f32| ellipse(mirrored(x, AXIS), y, 571.0, 230.0, 7.0, 7.0).max(eye_white(x, y));
    canvas.paint(
        &Surface {
            distance: &iris,
            depth: 6.0,
        },
        &|x, y, _, _| {
            let pupil = (-(length(mirrored(x, AXIS) - 571.0, y - 230.0) / 3.0).powi(2)).exp();
            mix(hex(0x4A3426), hex(0x151010), pupil)
        },
    );
    let lid = |x: f32, y: f32| {
        (ellipse(mirrored(x, AXIS), y, 571.0, 231.0, 17.0, 9.0).abs() - 1.6).max(y - 229.0)
    };
    canvas.paint(
        &Surface {
            distance: &lid,
            depth: 2.0,
        },
        &|_, _, _, _| hex(0x2A1C16),
    );
    let brows = |x: f32, y: f32| {
        limb(
            mirrored(x, AXIS),
            y,
            (552.0, 210.0),
            (588.0, 206.0),
            3.0,
            4.5,
        )
    };
    canvas.paint(
        &Surface {
            distance: &brows,
            depth: 3.0,
        },
        &|_, _, _, _| scaled(hair, 1.1),
    );
    let lips = |x: f32, y: f32| {
        let upper = ellipse(x, y, AXIS, 294.0, 21.0, 6.0);
        let lower = ellipse(x, y, AXIS, 300.0, 18.0, 7.0);
        upper.min(lower)
    };
    canvas.paint(
        &Surface {
            distance: &lips,
            depth: 7.0,
        },
        &|_, y, normal, _| {
            let parting = line_mask(y - 296.5, 1.5) * 0.35;
            studio_light(scaled(hex(0xB0605A), 1.0 - parting), normal, 0.3)
        },
    );
    let front_hair = |x: f32, y: f32| {
        let cap = ellipse(x, y, AXIS, 196.0, 84.0, 94.0).max(y - 214.0);
        let fringe = ellipse(x, y, AXIS - 26.0, 172.0, 70.0, 40.0);
        let sides = limb(
            mirrored(x, AXIS),
            y,
            (520.0, 190.0),
            (516.0, 318.0),
            16.0,
            22.0,
        );
        smooth_union(smooth_union(cap, fringe, 18.0), sides, 16.0)
    };
    canvas.paint(
        &Surface {
            distance: &front_hair,
            depth: 40.0,
        },
        &|x, y, normal, _| {
            let strands = 0.92 + 0.08 * ((x * 0.35 + y * 0.05).sin() * (x * 0.05).cos());
            studio_light(scaled(hair, strands), normal, 0.35)
        },
    );

    canvas.into_image(0.6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corners of a sample must show its plain backdrop: the local compositor and the
    /// widget's photo tips both depend on it.
    fn assert_plain_border(image: &RgbImage, what: &str) {
        let (w, h) = image.dimensions();
        let corner = image.get_pixel(0, 0);
        for (x, y) in [(w - 1, 0), (0, h - 1), (w - 1, h - 1), (w / 2, 0)] {
            let px = image.get_pixel(x, y);
            let close = px.0.iter().zip(corner.0).all(|(a, b)| a.abs_diff(b) <= 18);
            assert!(
                close,
                "{what}: border pixel ({x},{y}) {px:?} differs from the corner {corner:?}"
            );
        }
    }

    /// Fraction of pixels that differ clearly from the top-left corner: the drawn object.
    fn coverage(image: &RgbImage) -> f32 {
        let corner = image.get_pixel(0, 0);
        let differs = image
            .pixels()
            .filter(|px| px.0.iter().zip(corner.0).any(|(a, b)| a.abs_diff(b) > 40))
            .count();
        differs as f32 / (image.width() * image.height()) as f32
    }

    #[test]
    fn samples_are_drawn_at_their_sizes_on_plain_backdrops() {
        let shirt = tshirt(0.2);
        let trousers = trousers_photo(0.2);
        let person = person_photo(0.2);
        assert_eq!(shirt.dimensions(), (200, 200));
        assert_eq!(trousers.dimensions(), (180, 240));
        assert_eq!(person.dimensions(), (240, 360));
        for (image, what, least, most) in [
            (&shirt, "T-shirt", 0.3, 0.7),
            (&trousers, "trousers", 0.25, 0.6),
            (&person, "person", 0.1, 0.4),
        ] {
            assert_plain_border(image, what);
            let share = coverage(image);
            assert!(
                share > least && share < most,
                "{what} covers {share:.2} of the picture"
            );
        }
    }
}
