//! The report's fonts: read from a file a Debian package installs, embedded (subset) in the
//! output, and mapped to glyphs here.
//!
//! The fonts are read when a report is written, not at build time, so the crate builds on a
//! machine without them. [`FontFiles::discover`] looks in `AUDIT_REPORT_FONT_DIR` (a directory
//! holding `DejaVuSans.ttf` and `DejaVuSans-Bold.ttf`, or Liberation Sans's
//! `LiberationSans-Regular.ttf` and `LiberationSans-Bold.ttf`), then in the paths of
//! Debian's `fonts-dejavu-core` and `fonts-liberation` packages. Nothing is downloaded.
//!
//! Glyphs are mapped one character at a time from the font's `cmap` and placed by their
//! advance widths (read with `skrifa`, which krilla itself uses): left-to-right text without
//! kerning or ligatures, which is what a tabular report needs, measured exactly so that cells
//! are cut to their column with an ellipsis. A character the font lacks is drawn as the
//! font's missing-glyph box and still extracts as itself (krilla writes each glyph's text).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use krilla::text::{Font as PdfFont, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use crate::error::{ReportError, Result};

/// Where Debian's packages put the fonts, as (regular, bold) pairs, in order of preference.
const SYSTEM_FONTS: [(&str, &str); 2] = [
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
];

/// The environment variable naming a directory to look for the fonts in first.
pub const FONT_DIR_ENV: &str = "AUDIT_REPORT_FONT_DIR";

/// The two TrueType files a PDF report is set in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontFiles {
    /// The regular face.
    pub regular: PathBuf,
    /// The bold face.
    pub bold: PathBuf,
}

impl FontFiles {
    /// The first complete pair found (see the [module docs](self)), or an error that says
    /// which package to install.
    pub fn discover() -> Result<Self> {
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os(FONT_DIR_ENV) {
            let dir = PathBuf::from(dir);
            for (regular, bold) in SYSTEM_FONTS {
                candidates.push(Self::in_dir(&dir, regular, bold));
            }
        }
        candidates.extend(SYSTEM_FONTS.iter().map(|(regular, bold)| Self {
            regular: regular.into(),
            bold: bold.into(),
        }));
        candidates
            .into_iter()
            .find(|pair| pair.regular.is_file() && pair.bold.is_file())
            .ok_or_else(|| {
                ReportError::Font(format!(
                    "no font for the PDF report: install Debian's fonts-dejavu-core (or \
                     fonts-liberation), or set {FONT_DIR_ENV} to a directory holding \
                     DejaVuSans.ttf and DejaVuSans-Bold.ttf"
                ))
            })
    }

    fn in_dir(dir: &Path, regular: &str, bold: &str) -> Self {
        let name = |path: &str| dir.join(Path::new(path).file_name().unwrap_or_default());
        Self {
            regular: name(regular),
            bold: name(bold),
        }
    }

    pub(crate) fn load(&self) -> Result<(Face, Face)> {
        Ok((Face::load(&self.regular)?, Face::load(&self.bold)?))
    }
}

/// One font face: the data krilla embeds and the metrics used to lay text out.
#[derive(Clone)]
pub(crate) struct Face {
    pdf: PdfFont,
    data: Arc<Vec<u8>>,
    /// Glyph id and advance (in em) per character, filled as characters are met.
    glyphs: Arc<Mutex<HashMap<char, (u32, f32)>>>,
    pub(crate) ascent_em: f32,
}

impl Face {
    fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|err| {
            ReportError::Font(format!("cannot read the font {}: {err}", path.display()))
        })?;
        let data = Arc::new(bytes);
        let font = FontRef::new(&data).map_err(|err| {
            ReportError::Font(format!("{} is not a usable font: {err}", path.display()))
        })?;
        let metrics = font.metrics(Size::unscaled(), LocationRef::default());
        let ascent_em = metrics.ascent / f32::from(metrics.units_per_em.max(1));
        let pdf = PdfFont::new(data.clone().into(), 0).ok_or_else(|| {
            ReportError::Font(format!("krilla cannot embed the font {}", path.display()))
        })?;
        Ok(Self {
            pdf,
            data,
            glyphs: Arc::new(Mutex::new(HashMap::new())),
            ascent_em,
        })
    }

    pub(crate) fn pdf(&self) -> PdfFont {
        self.pdf.clone()
    }

    fn glyph(&self, ch: char, cache: &mut HashMap<char, (u32, f32)>) -> (u32, f32) {
        if let Some(found) = cache.get(&ch) {
            return *found;
        }
        let found = FontRef::new(&self.data)
            .ok()
            .map(|font| {
                let upem = f32::from(
                    font.metrics(Size::unscaled(), LocationRef::default())
                        .units_per_em
                        .max(1),
                );
                let gid = font.charmap().map(ch).unwrap_or_default();
                let advance = font
                    .glyph_metrics(Size::unscaled(), LocationRef::default())
                    .advance_width(gid)
                    .unwrap_or(0.0);
                (gid.to_u32(), advance / upem)
            })
            .unwrap_or((0, 0.5));
        cache.insert(ch, found);
        found
    }

    /// Glyphs for `text` fitted into `max_width` points at `size`: cut with `…` when
    /// longer. Returns the glyphs, the text they stand for, and their width.
    pub(crate) fn shape(&self, text: &str, size: f32, max_width: f32) -> Shaped {
        let mut cache = self.glyphs.lock().unwrap_or_else(|p| p.into_inner());
        // Control characters (a newline in a description) would print as boxes.
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let ellipsis = self.glyph('…', &mut cache);
        let mut glyphs = Vec::with_capacity(clean.len());
        let mut width = 0.0;
        let mut cut_at = None;
        for (index, ch) in clean.char_indices() {
            let (gid, advance) = self.glyph(ch, &mut cache);
            if (width + advance) * size > max_width {
                cut_at = Some(index);
                break;
            }
            width += advance;
            glyphs.push(KrillaGlyph {
                glyph_id: GlyphId::new(gid),
                text_range: index..index + ch.len_utf8(),
                x_advance: advance,
                x_offset: 0.0,
                y_offset: 0.0,
                y_advance: 0.0,
                location: None,
            });
        }
        let mut text = clean;
        if let Some(cut) = cut_at {
            // Drop glyphs until the ellipsis fits after them.
            while width + ellipsis.1 > max_width / size {
                match glyphs.pop() {
                    Some(g) => width -= g.x_advance,
                    None => break,
                }
            }
            let end = glyphs.last().map_or(0, |g| g.text_range.end).min(cut);
            text.truncate(end);
            text.push('…');
            glyphs.push(KrillaGlyph {
                glyph_id: GlyphId::new(ellipsis.0),
                text_range: end..end + '…'.len_utf8(),
                x_advance: ellipsis.1,
                x_offset: 0.0,
                y_offset: 0.0,
                y_advance: 0.0,
                location: None,
            });
            width += ellipsis.1;
        }
        Shaped {
            glyphs,
            text,
            width: width * size,
        }
    }
}

/// Text laid out on one line.
pub(crate) struct Shaped {
    pub(crate) glyphs: Vec<KrillaGlyph>,
    pub(crate) text: String,
    pub(crate) width: f32,
}
