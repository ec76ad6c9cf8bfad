//! Pages as lists of drawing operations, flushed into krilla one page at a time.
//!
//! A krilla page borrows its document while it is open, so the report collects one page's
//! text, rules and boxes here and hands them to krilla when the page is complete. krilla
//! then serialises (and compresses) the page's content stream at once; what stays in memory
//! until the end is the compressed PDF and the set of glyphs used (for the font subset).

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};

use super::font::{Face, Shaped};

/// A4 landscape, in points.
pub(crate) const PAGE_WIDTH: f32 = 842.0;
/// A4 landscape, in points.
pub(crate) const PAGE_HEIGHT: f32 = 595.0;
/// The margin on every side.
pub(crate) const MARGIN: f32 = 36.0;

/// A colour as red, green, blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

pub(crate) const INK: Rgb = Rgb(0x1F, 0x23, 0x28);
pub(crate) const MUTED: Rgb = Rgb(0x5F, 0x66, 0x70);
pub(crate) const ACCENT: Rgb = Rgb(0x2B, 0x57, 0x97);
pub(crate) const RULE: Rgb = Rgb(0xC9, 0xCF, 0xD6);
pub(crate) const BAND: Rgb = Rgb(0xF1, 0xF4, 0xF8);
pub(crate) const GOOD: Rgb = Rgb(0x1B, 0x6E, 0x20);
pub(crate) const BAD: Rgb = Rgb(0xB0, 0x00, 0x20);

fn fill(color: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// Which face to set text in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

/// How text sits in its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

enum Op {
    Text {
        x: f32,
        baseline: f32,
        shaped: Shaped,
        weight: Weight,
        size: f32,
        color: Rgb,
    },
    Rect {
        rect: Rect,
        color: Rgb,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        color: Rgb,
    },
}

/// The document being written and the page being collected.
pub(crate) struct Canvas {
    document: Document,
    regular: Face,
    bold: Face,
    ops: Vec<Op>,
    pages: u32,
    footer: String,
}

impl Canvas {
    pub(crate) fn new(document: Document, regular: Face, bold: Face, footer: String) -> Self {
        Self {
            document,
            regular,
            bold,
            ops: Vec::with_capacity(1024),
            pages: 0,
            footer,
        }
    }

    fn face(&self, weight: Weight) -> &Face {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }

    /// Text whose top is at `top`, cut with `…` to `width`, aligned in `x..x + width`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn text(
        &mut self,
        x: f32,
        top: f32,
        width: f32,
        text: &str,
        weight: Weight,
        size: f32,
        color: Rgb,
        align: Align,
    ) {
        let face = self.face(weight);
        let shaped = face.shape(text, size, width);
        let baseline = top + face.ascent_em * size;
        let x = match align {
            Align::Left => x,
            Align::Right => x + width - shaped.width,
        };
        self.ops.push(Op::Text {
            x,
            baseline,
            shaped,
            weight,
            size,
            color,
        });
    }

    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        if let Some(rect) = Rect::from_xywh(x, y, w.max(0.01), h.max(0.01)) {
            self.ops.push(Op::Rect { rect, color });
        }
    }

    pub(crate) fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, color: Rgb) {
        self.ops.push(Op::Line {
            from,
            to,
            width,
            color,
        });
    }

    /// Draws the collected page (with its footer) into the document and starts a new one.
    pub(crate) fn finish_page(&mut self) {
        self.pages += 1;
        let footer = format!("{}  ·  page {}", self.footer, self.pages);
        let y = PAGE_HEIGHT - MARGIN + 10.0;
        self.line((MARGIN, y - 4.0), (PAGE_WIDTH - MARGIN, y - 4.0), 0.5, RULE);
        self.text(
            MARGIN,
            y,
            PAGE_WIDTH - 2.0 * MARGIN,
            &footer,
            Weight::Regular,
            7.0,
            MUTED,
            Align::Right,
        );
        let ops = std::mem::take(&mut self.ops);
        let Some(settings) = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT) else {
            return;
        };
        let (regular, bold) = (self.regular.pdf(), self.bold.pdf());
        let mut page = self.document.start_page_with(settings);
        let mut surface = page.surface();
        for op in &ops {
            match op {
                Op::Text {
                    x,
                    baseline,
                    shaped,
                    weight,
                    size,
                    color,
                } => {
                    surface.set_fill(Some(fill(*color)));
                    let font = match weight {
                        Weight::Regular => regular.clone(),
                        Weight::Bold => bold.clone(),
                    };
                    surface.draw_glyphs(
                        Point::from_xy(*x, *baseline),
                        &shaped.glyphs,
                        font,
                        &shaped.text,
                        *size,
                        false,
                    );
                }
                Op::Rect { rect, color } => {
                    let mut path = PathBuilder::new();
                    path.push_rect(*rect);
                    if let Some(path) = path.finish() {
                        surface.set_fill(Some(fill(*color)));
                        surface.set_stroke(None);
                        surface.draw_path(&path);
                    }
                }
                Op::Line {
                    from,
                    to,
                    width,
                    color,
                } => {
                    let mut path = PathBuilder::new();
                    path.move_to(from.0, from.1);
                    path.line_to(to.0, to.1);
                    if let Some(path) = path.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(color.0, color.1, color.2).into(),
                            width: *width,
                            ..Default::default()
                        }));
                        surface.draw_path(&path);
                        surface.set_stroke(None);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
        self.ops = ops;
        self.ops.clear();
    }

    /// The finished PDF's bytes (the current page must have been finished).
    pub(crate) fn into_pdf(self) -> Result<Vec<u8>, String> {
        self.document.finish().map_err(|err| format!("{err:?}"))
    }
}
