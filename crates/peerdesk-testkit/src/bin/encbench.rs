//! `encbench [--size WxH] [--frames N] [--bitrate KBPS] [--content bars|still]`: the encoder
//! alone, on one thread: renders moving colour bars over the middle 70% of a BGRA picture (what
//! `xprobe --animate` draws on an X11 desktop) and converts and encodes N frames at 60 fps with
//! peerdesk's own encoder settings. Prints one JSON line: convert and encode times per frame
//! (average, p50, p95) and bytes per frame. `bench/encoder.js` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use peerdesk_capture::Frame;
use peerdesk_encode::{Encoder, EncoderConfig, OpenH264Encoder};

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

fn percentile(v: &mut [f64], p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) * p / 100]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let size = arg("--size").unwrap_or_else(|| "1920x1080".into());
    let (w, h) =
        size.split_once('x').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).expect("--size WxH");
    let frames: u32 = arg("--frames").map_or(300, |n| n.parse().unwrap());
    let kbps: u32 = arg("--bitrate").map_or(6000, |n| n.parse().unwrap());
    let still = arg("--content").as_deref() == Some("still");
    let mut enc = OpenH264Encoder::new(EncoderConfig {
        width: w,
        height: h,
        fps: 60,
        bitrate_bps: kbps * 1000,
        max_size: (None, None),
    })
    .expect("encoder");
    let pictures: Vec<Frame> = (0..60).map(|i| bars(w, h, i, still)).collect();
    let (mut convert, mut encode, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    for i in 0..frames {
        let mut f = pictures[(i % 60) as usize].clone();
        f.captured_at = Instant::now();
        if let Some(e) = enc.encode(&f, i == 0).expect("encodes") {
            // The first frames settle rate control; they are not counted.
            if i >= 30 {
                convert.push(e.convert_time.as_secs_f64() * 1000.0);
                encode.push(e.encode_time.as_secs_f64() * 1000.0);
                bytes += e.data.len();
            }
        }
    }
    let n = encode.len().max(1);
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "size": size, "frames": n, "content": if still { "still" } else { "bars" },
            "convert_avg": avg(&convert), "convert_p50": percentile(&mut convert, 50),
            "encode_avg": avg(&encode), "encode_p50": percentile(&mut encode, 50), "encode_p95": percentile(&mut encode, 95),
            "bytes_per_frame": bytes / n, "assembly": peerdesk_encode::ASSEMBLY,
        })
    );
}
