//! Server-generated image captchas.
//!
//! A captcha is five digits drawn with a 5×7 bitmap font into a grayscale PNG, each digit shifted
//! up or down at random, over light noise lines. Only the SHA-256 of (id, answer) is kept, in
//! memory, for `captcha_ttl_secs`; a captcha is consumed by the first answer, right or wrong.
//!
//! This raises the cost of scripted password guessing once risk is raised; it does not pretend to
//! stop a determined OCR (the font is public — [`FONT`] — so tools and tests can read it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::IdentityError;
use crate::store::crypto::{ct_eq, random_array, sha256};

/// The 5×7 glyphs of the digits 0–9, one `u8` per row, bit 4 = leftmost pixel.
pub const FONT: [[u8; 7]; 10] = [
    [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
    [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
    [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
    [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
    [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
    [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
    [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
    [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
];

/// Digits per captcha.
pub const DIGITS: usize = 5;
/// Pixels per font pixel.
pub const SCALE: usize = 4;
/// Left edge of the first digit.
pub const X0: usize = 8;
/// Distance between the left edges of two digits.
pub const STRIDE: usize = 26;
/// Image width.
pub const WIDTH: usize = X0 * 2 + STRIDE * (DIGITS - 1) + 5 * SCALE;
/// Image height.
pub const HEIGHT: usize = 48;
/// Gray level below which a pixel belongs to a digit.
pub const INK_MAX: u8 = 100;

/// Live captchas.
#[derive(Debug)]
pub struct Captchas {
    ttl: Duration,
    max_live: usize,
    inner: Mutex<HashMap<String, ([u8; 32], Instant)>>,
}

/// A freshly issued captcha.
#[derive(Debug)]
pub struct Issued {
    /// The id to send back with the answer.
    pub id: String,
    /// The PNG image.
    pub png: Vec<u8>,
}

fn answer_hash(id: &str, answer: &str) -> [u8; 32] {
    sha256(format!("baoming-captcha\0{id}\0{}", answer.trim()).as_bytes())
}

impl Captchas {
    /// A store whose captchas live `ttl`, holding at most `max_live` at once.
    pub fn new(ttl: Duration, max_live: usize) -> Captchas {
        Captchas { ttl, max_live, inner: Mutex::new(HashMap::new()) }
    }

    /// Issues a new captcha.
    pub fn issue(&self) -> Result<Issued, IdentityError> {
        let id = hex::encode(random_array::<16>());
        let raw: [u8; DIGITS * 2] = random_array();
        let digits: Vec<u8> = raw[..DIGITS].iter().map(|b| b % 10).collect();
        let answer: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let png = render(&digits, &raw[DIGITS..])?;
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_live {
            map.retain(|_, (_, exp)| *exp > now);
            if map.len() >= self.max_live {
                return Err(IdentityError::Busy);
            }
        }
        map.insert(id.clone(), (answer_hash(&id, &answer), now + self.ttl));
        Ok(Issued { id, png })
    }

    /// Checks and consumes a captcha.
    pub fn check(&self, id: &str, answer: &str) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match map.remove(id) {
            Some((hash, exp)) => exp > Instant::now() && ct_eq(&hash, &answer_hash(id, answer)),
            None => false,
        }
    }
}

fn render(digits: &[u8], jitter: &[u8]) -> Result<Vec<u8>, IdentityError> {
    let mut px = vec![255u8; WIDTH * HEIGHT];
    let noise: [u8; 24] = random_array();
    for line in noise.chunks(4) {
        let (x0, y0, x1, y1) = (
            line[0] as usize % WIDTH,
            line[1] as usize % HEIGHT,
            line[2] as usize % WIDTH,
            line[3] as usize % HEIGHT,
        );
        let steps = WIDTH.max(HEIGHT);
        for s in 0..=steps {
            let x = (x0 * (steps - s) + x1 * s) / steps;
            let y = (y0 * (steps - s) + y1 * s) / steps;
            px[y * WIDTH + x] = 200;
        }
    }
    for (i, d) in digits.iter().enumerate() {
        let top = 4 + (jitter[i] as usize % (HEIGHT - 7 * SCALE - 8));
        let left = X0 + i * STRIDE;
        for (row, bits) in FONT[*d as usize].iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) != 0 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            px[(top + row * SCALE + dy) * WIDTH + left + col * SCALE + dx] = 40;
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH as u32, HEIGHT as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer =
            enc.write_header().map_err(|e| IdentityError::Internal(format!("captcha png: {e}")))?;
        writer.write_image_data(&px).map_err(|e| IdentityError::Internal(format!("captcha png: {e}")))?;
    }
    Ok(out)
}

/// Reads the digits back from a captcha image (used by tests and by the benchmark client).
pub fn read_digits(png_bytes: &[u8]) -> Option<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    let (w, h) = (info.width as usize, info.height as usize);
    if (w, h) != (WIDTH, HEIGHT) || info.color_type != png::ColorType::Grayscale {
        return None;
    }
    let ink = |x: usize, y: usize| buf[y * w + x] < INK_MAX;
    let mut out = String::new();
    for i in 0..DIGITS {
        let left = X0 + i * STRIDE;
        let top = (0..h).find(|&y| (left..left + 5 * SCALE).any(|x| ink(x, y)))?;
        if top + 7 * SCALE > h {
            return None;
        }
        let mut glyph = [0u8; 7];
        for (row, bits) in glyph.iter_mut().enumerate() {
            for col in 0..5 {
                if ink(left + col * SCALE + SCALE / 2, top + row * SCALE + SCALE / 2) {
                    *bits |= 0b10000 >> col;
                }
            }
        }
        let d = FONT.iter().position(|g| *g == glyph)?;
        out.push(char::from(b'0' + d as u8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_image_reads_back_and_answer_is_single_use() {
        let c = Captchas::new(Duration::from_secs(60), 10);
        let issued = c.issue().expect("issue");
        assert_eq!(&issued.png[1..4], b"PNG");
        let answer = read_digits(&issued.png).expect("readable");
        assert_eq!(answer.len(), DIGITS);
        assert!(c.check(&issued.id, &answer));
        assert!(!c.check(&issued.id, &answer), "single use");
    }

    #[test]
    fn wrong_answer_consumes_and_expiry_refuses() {
        let c = Captchas::new(Duration::from_secs(60), 10);
        let issued = c.issue().expect("issue");
        let answer = read_digits(&issued.png).expect("readable");
        let wrong: String = answer.chars().map(|ch| if ch == '0' { '1' } else { '0' }).collect();
        assert!(!c.check(&issued.id, &wrong));
        assert!(!c.check(&issued.id, &answer), "consumed by the wrong answer");

        let short = Captchas::new(Duration::from_millis(1), 10);
        let issued = short.issue().expect("issue");
        let answer = read_digits(&issued.png).expect("readable");
        std::thread::sleep(Duration::from_millis(5));
        assert!(!short.check(&issued.id, &answer), "expired");
    }

    #[test]
    fn live_captchas_are_bounded() {
        let c = Captchas::new(Duration::from_secs(60), 2);
        c.issue().expect("1");
        c.issue().expect("2");
        assert!(matches!(c.issue(), Err(IdentityError::Busy)));
    }
}
