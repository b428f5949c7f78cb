//! The tone meter of the real-peers tests: what baresip's sndfile module
//! recorded, read as a WAV file, and the frequency of its loud frames.

/// What a recording holds.
#[derive(Debug)]
pub struct Audio {
    /// 20 ms frames recorded.
    pub frames: usize,
    /// Frames loud enough to be the tone (RMS above a tenth of full scale).
    pub tone_frames: usize,
    /// The frequency of the loud frames, from their zero crossings.
    pub freq: f64,
}

/// Read a 16-bit PCM mono WAV file (what baresip's sndfile writes for
/// G.711: 8 kHz) and measure its tone. The data chunk is read to the end of
/// the file whatever its header says (a file still being written says 0).
pub fn analyse_wav(b: &[u8]) -> Result<Audio, String> {
    if b.get(..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Err("not a WAV file".into());
    }
    let mut at = 12;
    let mut rate = 0u32;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &b[at + 8..];
        if id == b"fmt " {
            let f = body.get(..16).ok_or("short fmt chunk")?;
            let format = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if (format, channels, bits) != (1, 1, 16) {
                return Err(format!(
                    "format {format}, {channels} channels, {bits} bits: want 16-bit PCM mono"
                ));
            }
        } else if id == b"data" {
            data = Some(if size == 0 || size > body.len() {
                body
            } else {
                &body[..size]
            });
            break;
        }
        at += 8 + size + (size & 1);
    }
    let data = data.ok_or("no data chunk")?;
    if rate == 0 {
        return Err("no fmt chunk".into());
    }
    let samples: Vec<i32> = data
        .chunks_exact(2)
        .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
        .collect();
    Ok(measure_tone(&samples, rate))
}

/// G.711 µ-law to a 16-bit linear sample (ITU-T G.711, as baresip's g711
/// module decodes it).
pub fn ulaw(b: u8) -> i32 {
    let u = !b;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 { -magnitude } else { magnitude }
}

/// The tone meter over RTP payloads read as G.711 µ-law at 8 kHz, one after
/// the other (what a capture's plain PCMU stream sounds like; an encrypted
/// one sounds like noise).
pub fn pcmu_tone(payloads: &[Vec<u8>]) -> Audio {
    let samples: Vec<i32> = payloads.iter().flatten().map(|&b| ulaw(b)).collect();
    measure_tone(&samples, 8000)
}

/// How much of the energy of the loud frames (as [`measure_tone`]'s) is at
/// `freq`: per 20 ms frame the Goertzel power at `freq` over the frame's
/// energy (normalised: 1 for a pure sine of that frequency), averaged over
/// the loud frames; about 2/N (0.0125 at 8 kHz) for noise, which is what an
/// encrypted payload is. 0 without a loud frame. (The zero-crossing
/// frequency of [`measure_tone`] cannot tell noise from a tone: random
/// µ-law bytes cross at about 1000 Hz.)
pub fn tone_share(samples: &[i32], rate: u32, freq: f64) -> f64 {
    let n = (rate / 50) as usize;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
    let mut shares = Vec::new();
    for f in samples.chunks_exact(n) {
        let energy: f64 = f.iter().map(|&x| f64::from(x).powi(2)).sum();
        if (energy / n as f64).sqrt() < 3277.0 {
            continue;
        }
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in f {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        shares.push(2.0 * power / (n as f64 * energy));
    }
    if shares.is_empty() {
        0.0
    } else {
        shares.iter().sum::<f64>() / shares.len() as f64
    }
}

/// [`tone_share`] of RTP payloads read as G.711 µ-law at 8 kHz.
pub fn pcmu_tone_share(payloads: &[Vec<u8>], freq: f64) -> f64 {
    let samples: Vec<i32> = payloads.iter().flatten().map(|&b| ulaw(b)).collect();
    tone_share(&samples, 8000, freq)
}

pub fn measure_tone(samples: &[i32], rate: u32) -> Audio {
    let frame = (rate / 50) as usize;
    let loud = 3277.0; // a tenth of full scale, RMS
    let hysteresis = 2000;
    let mut tone_frames = 0;
    let mut cycles = 0usize;
    // Rising crossings with hysteresis (noise near zero cannot count twice),
    // through runs of loud frames.
    let mut low = false;
    for f in samples.chunks_exact(frame) {
        let rms = (f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / frame as f64).sqrt();
        if rms < loud {
            low = false;
            continue;
        }
        tone_frames += 1;
        for &x in f {
            if x < -hysteresis {
                low = true;
            } else if x > hysteresis && low {
                low = false;
                cycles += 1;
            }
        }
    }
    let seconds = tone_frames as f64 * frame as f64 / f64::from(rate);
    Audio {
        frames: samples.len() / frame.max(1),
        tone_frames,
        freq: if seconds > 0.0 {
            cycles as f64 / seconds
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_meter_measures_a_sine_and_ignores_silence() {
        let rate = 8000;
        let mut s: Vec<i32> = (0..rate * 2)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 8000.0).sin()) as i32
            })
            .collect();
        s.extend(std::iter::repeat_n(0, 8000));
        let a = measure_tone(&s, rate as u32);
        assert_eq!((a.frames, a.tone_frames), (150, 100));
        assert!((a.freq - 440.0).abs() < 5.0, "{a:?}");
    }

    /// µ-law: silence, the extremes, and a sine through a µ-law encoder
    /// measured back at its frequency; bytes of no tone (a counter, as
    /// random as an encrypted payload is to the meter) are not a tone.
    #[test]
    fn ulaw_decodes_and_the_meter_hears_pcmu() {
        assert_eq!(ulaw(0xff), 0);
        assert_eq!(ulaw(0x7f), 0);
        assert_eq!(ulaw(0x80), 32124);
        assert_eq!(ulaw(0x00), -32124);
        let encode = |x: i32| -> u8 {
            // The code whose decoded value is nearest.
            (0..=255u8).min_by_key(|&c| (ulaw(c) - x).abs()).unwrap()
        };
        let payloads: Vec<Vec<u8>> = (0..100)
            .map(|p| {
                (0..160)
                    .map(|i| {
                        let t = f64::from(p * 160 + i) / 8000.0;
                        encode((10000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i32)
                    })
                    .collect()
            })
            .collect();
        let a = pcmu_tone(&payloads);
        assert_eq!(a.tone_frames, 100, "{a:?}");
        assert!((a.freq - 1000.0).abs() < 10.0, "{a:?}");
        let noise: Vec<Vec<u8>> = (0..100u32)
            .map(|p| {
                (0..160u32)
                    .map(|i| ((p * 160 + i).wrapping_mul(2_654_435_761) >> 24) as u8)
                    .collect()
            })
            .collect();
        let n = pcmu_tone(&noise);
        assert!((n.freq - 1000.0).abs() > 100.0, "{n:?}");
    }
}
