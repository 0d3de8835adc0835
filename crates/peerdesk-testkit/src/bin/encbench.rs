//! `encbench [--encoder NAME] [--size WxH] [--frames N] [--bitrate KBPS]
//! [--content bars|still|scroll] [--runs N]`: one encoder alone: renders moving colour bars over
//! the middle 70% of a BGRA picture (what `xprobe --animate` draws on an X11 desktop), or a page
//! of dark text-like strokes on white scrolling up two pixels a frame (`scroll`: a document or
//! a terminal being read), and converts and encodes N frames at 60 fps with peerdesk's own
//! settings for that backend (H.264: `x264`, `openh264`, `nvenc`, `vaapi`, `qsv`; AV1: `aom`;
//! x264 and the GPUs need `--features ffmpeg`, aom `--features av1`). Decodes every frame back
//! (openh264's decoder, libaom's for AV1; outside the timed parts) for the SSIM of its luma
//! against the source. Prints one JSON line: convert and encode times per frame (average, p50,
//! p95), the process's CPU time per frame (all of the encoder's threads), bytes per frame and
//! SSIM. `bench/encoder.js` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use peerdesk_capture::Frame;
use peerdesk_encode::convert::I420;
use peerdesk_encode::{Backend, Codec, EncoderChoice, EncoderConfig};

/// A decoder of the codec benchmarked: each frame's luma plane and its stride.
enum Dec {
    H264(Box<Decoder>),
    #[cfg(feature = "av1")]
    Av1(Box<peerdesk_encode::Av1Decoder>),
}

impl Dec {
    fn new(codec: Codec) -> Self {
        match codec {
            #[cfg(feature = "av1")]
            Codec::Av1 => Self::Av1(Box::new(peerdesk_encode::Av1Decoder::new().unwrap())),
            _ => Self::H264(Box::new(Decoder::new().unwrap())),
        }
    }

    fn decode(&mut self, data: &[u8]) -> Option<(Vec<u8>, usize)> {
        match self {
            Self::H264(d) => d.decode(data).ok().flatten().map(|p| (p.y().to_vec(), p.strides().0)),
            #[cfg(feature = "av1")]
            Self::Av1(d) => d.decode(data).ok().flatten().map(|p| (p.y, p.width as usize)),
        }
    }
}

fn bars(w: u32, h: u32, frame: u32, still: bool) -> Frame {
    let stride = w as usize * 4;
    let mut data = vec![20u8; stride * h as usize];
    let (top, band) = (h * 15 / 100, h * 70 / 100);
    let t = if still { 0 } else { frame };
    for y in top..top + band {
        let row = &mut data[y as usize * stride..(y as usize + 1) * stride];
        for x in 0..w {
            let shifted = x + (t * 7) % 40;
            let i = shifted / 40;
            let v = ((i * 37 + t * 3) % 200) as u8;
            let px = &mut row[x as usize * 4..x as usize * 4 + 4];
            px.copy_from_slice(&[(v / 2).wrapping_add(t as u8), 255 - v, v, 255]);
        }
    }
    Frame { width: w, height: h, stride, data, captured_at: Instant::now(), capture_time: Duration::ZERO }
}

/// A page of dark strokes on white, twice the picture's height, that `scroll` shows a window
/// of: lines of "words" (runs of 1-2 pixel strokes) as text at 13 px a line.
fn page(w: u32, h: u32) -> Vec<u8> {
    let stride = w as usize * 4;
    let rows = 2 * h as usize;
    let mut data = vec![245u8; stride * rows];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for line in 0..rows / 13 {
        let top = line * 13 + 3;
        let mut col = 8 + (next() % 24) as usize;
        while col + 8 < w as usize - 8 {
            let word = 3 + (next() % 9) as usize;
            for _ in 0..word {
                // A glyph 5 px wide, 8 high: a few strokes.
                let bits = next();
                for gy in 0..8 {
                    for gx in 0..5 {
                        if (bits >> (gy * 5 + gx)) & 1 == 1 && col + gx < w as usize {
                            let i = (top + gy) * stride + (col + gx) * 4;
                            data[i..i + 4].copy_from_slice(&[40, 30, 30, 255]);
                        }
                    }
                }
                col += 6;
            }
            col += 6;
        }
    }
    data
}

/// The window of `page` at frame `frame`: two pixels further down each frame, wrapping.
fn scroll(page: &[u8], w: u32, h: u32, frame: u32) -> Frame {
    let stride = w as usize * 4;
    let rows = page.len() / stride;
    let first = (frame as usize * 2) % (rows - h as usize);
    let data = page[first * stride..(first + h as usize) * stride].to_vec();
    Frame { width: w, height: h, stride, data, captured_at: Instant::now(), capture_time: Duration::ZERO }
}

fn percentile(v: &mut [f64], p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) * p / 100]
}

/// CPU time this process has used (user and system, all threads), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis, from the state on: utime and stime are
    // the 12th and 13th of them (fields 14 and 15 of proc(5)).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Mean SSIM of two luma planes over 8x8 windows (Wang et al.'s constants for 8-bit samples).
fn ssim(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> f64 {
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut sum, mut n) = (0.0, 0u32);
    for by in (0..h.saturating_sub(7)).step_by(8) {
        for bx in (0..w.saturating_sub(7)).step_by(8) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in by..by + 8 {
                for x in bx..bx + 8 {
                    let (p, q) = (f64::from(a[y * a_stride + x]), f64::from(b[y * b_stride + x]));
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let (ma, mb) = (sa / 64.0, sb / 64.0);
            let (va, vb, cov) = (saa / 64.0 - ma * ma, sbb / 64.0 - mb * mb, sab / 64.0 - ma * mb);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1;
        }
    }
    sum / f64::from(n.max(1))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let size = arg("--size").unwrap_or_else(|| "1920x1080".into());
    let (w, h) =
        size.split_once('x').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).expect("--size WxH");
    let frames: u32 = arg("--frames").map_or(300, |n| n.parse().unwrap());
    let kbps: u32 = arg("--bitrate").map_or(6000, |n| n.parse().unwrap());
    let content = arg("--content").unwrap_or_else(|| "bars".into());
    let still = content == "still";
    let backend: Backend = arg("--encoder").map_or(Backend::OpenH264, |n| n.parse().unwrap());
    let codec = if backend.makes(Codec::H264) { Codec::H264 } else { Codec::Av1 };
    let choice = EncoderChoice { backend: Some(backend), ..EncoderChoice::default() };
    let config =
        EncoderConfig { width: w, height: h, fps: 60, bitrate_bps: kbps * 1000, max_size: (None, None) };
    let mut enc = match peerdesk_encode::open(&choice, codec, &config) {
        Ok(o) => o.encoder,
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({ "encoder": backend.name(), "size": size, "error": e.to_string() })
            );
            return;
        }
    };
    // Scrolling text never repeats within the run; the bars repeat every second.
    let cycle = if content == "scroll" { frames } else { 60 };
    let text = if content == "scroll" { page(w, h) } else { Vec::new() };
    let pictures: Vec<Frame> = (0..cycle)
        .map(|i| if content == "scroll" { scroll(&text, w, h, i) } else { bars(w, h, i, still) })
        .collect();
    let sources: Vec<I420> = pictures
        .iter()
        .map(|p| {
            let mut i = I420::new(w, h);
            i.convert_from(p).unwrap();
            i
        })
        .collect();
    let mut decoder = Dec::new(codec);
    let (mut convert, mut encode, mut bytes, mut ssims) = (Vec::new(), Vec::new(), 0usize, Vec::new());
    let mut cpu = Duration::ZERO;
    for i in 0..frames {
        let mut f = pictures[(i % cycle) as usize].clone();
        f.captured_at = Instant::now();
        let cpu_before = cpu_time();
        let out = enc.encode(&f, i == 0).expect("encodes");
        if i >= 30 {
            cpu += cpu_time().saturating_sub(cpu_before);
        }
        if let Some(e) = out {
            let decoded = decoder.decode(&e.data);
            // The first frames settle rate control; they are not counted.
            if i >= 30 {
                convert.push(e.convert_time.as_secs_f64() * 1000.0);
                encode.push(e.encode_time.as_secs_f64() * 1000.0);
                bytes += e.data.len();
                if let Some((y, y_stride)) = decoded {
                    let (src, src_stride) = sources[(i % cycle) as usize].y();
                    ssims.push(ssim(src, src_stride, &y, y_stride, w as usize, h as usize));
                }
            }
        }
    }
    let n = encode.len().max(1);
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "encoder": backend.name(), "size": size, "frames": n, "content": content, "codec": codec.name(),
            "convert_avg": avg(&convert), "convert_p50": percentile(&mut convert, 50),
            "encode_avg": avg(&encode), "encode_p50": percentile(&mut encode, 50), "encode_p95": percentile(&mut encode, 95),
            "cpu_ms_per_frame": cpu.as_secs_f64() * 1000.0 / f64::from(frames.saturating_sub(30).max(1)),
            "bytes_per_frame": bytes / n, "ssim": avg(&ssims), "decoded": ssims.len(),
            "assembly": peerdesk_encode::ASSEMBLY,
        })
    );
}
