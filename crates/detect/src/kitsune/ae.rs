//! Small dense autoencoders trained online (Kitsune's dA): one hidden
//! sigmoid layer of `ceil(0.75·n)` units, tied weights, online min-max
//! normalisation of the input, plain SGD on every packet.

use serde::{Deserialize, Serialize};

/// A deterministic generator for initial weights (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `e^x` without a library call: `2^k · e^g` with `k` the nearest
/// integer to `x·log2(e)` and `e^g` (|g| ≤ ½·ln 2) from its Taylor series
/// to degree 9 (relative error below 1e-11). Branch-free and free of
/// float-to-integer conversions (the rounding shifter's bits hold `k`),
/// so loops over it vectorise. `x` is clamped to ±700, where `e^x` stays
/// finite and normal; NaN reads as -700.
#[inline]
pub fn fast_exp(x: f64) -> f64 {
    // 1.5·2^52: adding it rounds to an integer, which lands in the low
    // mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    // Not `clamp`: it passes NaN through, max/min turn it into -700.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-700.0).min(700.0);
    let t = x * std::f64::consts::LOG2_E;
    let shifted = t + SHIFTER;
    let k = shifted - SHIFTER;
    let g = (t - k) * std::f64::consts::LN_2;
    let mut p = 1.0 / 362_880.0;
    p = p * g + 1.0 / 40_320.0;
    p = p * g + 1.0 / 5_040.0;
    p = p * g + 1.0 / 720.0;
    p = p * g + 1.0 / 120.0;
    p = p * g + 1.0 / 24.0;
    p = p * g + 1.0 / 6.0;
    p = p * g + 0.5;
    p = p * g + 1.0;
    p = p * g + 1.0;
    // Only the low 12 bits of (k + 1023) survive the shift: the exponent.
    let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// `Σ a·b` with four running sums (a fixed order, so results are the
/// same on every run), which breaks the add latency chain of one sum.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    for (x, y) in ar.iter().zip(br) {
        s[0] += x * y;
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// The logistic function (NaN-free for any finite input; NaN in gives
/// NaN out, which the caller's finiteness checks catch).
#[inline]
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + fast_exp(-x))
}

/// Online min-max normaliser.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Norm {
    /// Smallest value seen per input.
    pub min: Vec<f64>,
    /// Largest value seen per input.
    pub max: Vec<f64>,
    /// Vectors seen (0: min and max mean nothing yet).
    pub seen: u64,
}

impl Norm {
    fn new(n: usize) -> Norm {
        Norm {
            min: vec![0.0; n],
            max: vec![0.0; n],
            seen: 0,
        }
    }

    #[inline]
    fn learn(&mut self, x: &[f64]) {
        if self.seen == 0 {
            self.min.copy_from_slice(x);
            self.max.copy_from_slice(x);
        } else {
            for ((lo, hi), v) in self.min.iter_mut().zip(&mut self.max).zip(x) {
                if *v < *lo {
                    *lo = *v;
                }
                if *v > *hi {
                    *hi = *v;
                }
            }
        }
        self.seen += 1;
    }

    #[inline]
    fn apply(&self, x: &[f64], out: &mut [f64]) {
        for (((o, v), lo), hi) in out.iter_mut().zip(x).zip(&self.min).zip(&self.max) {
            *o = (v - lo) / (hi - lo + 1e-16);
        }
    }
}

/// One autoencoder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ae {
    /// Inputs.
    pub n: usize,
    /// Hidden units.
    pub h: usize,
    /// Learning rate.
    pub lr: f64,
    /// Weights, `n × h` row-major (encoder; the decoder uses the transpose).
    pub w: Vec<f64>,
    /// Hidden biases.
    pub hb: Vec<f64>,
    /// Output biases.
    pub vb: Vec<f64>,
    /// Input normaliser.
    pub norm: Norm,
    #[serde(skip)]
    xn: Vec<f64>,
    #[serde(skip)]
    y: Vec<f64>,
    #[serde(skip)]
    e: Vec<f64>,
    #[serde(skip)]
    dh: Vec<f64>,
}

impl Ae {
    /// An autoencoder over `n` inputs with `ceil(ratio·n)` hidden units,
    /// weights uniform in `±1/n`.
    pub fn new(n: usize, ratio: f64, lr: f64, rng: &mut Rng) -> Ae {
        let n = n.max(1);
        let h = ((n as f64 * ratio).ceil() as usize).max(1);
        let a = 1.0 / n as f64;
        let w = (0..n * h)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) * a)
            .collect();
        let mut ae = Ae {
            n,
            h,
            lr,
            w,
            hb: vec![0.0; h],
            vb: vec![0.0; n],
            norm: Norm::new(n),
            xn: Vec::new(),
            y: Vec::new(),
            e: Vec::new(),
            dh: Vec::new(),
        };
        ae.ready();
        ae
    }

    /// Sizes the scratch buffers (after deserialising).
    pub fn ready(&mut self) {
        self.xn = vec![0.0; self.n];
        self.y = vec![0.0; self.h];
        self.e = vec![0.0; self.n];
        self.dh = vec![0.0; self.h];
    }

    /// Whether the stored sizes agree with each other (a loaded model).
    pub fn consistent(&self) -> bool {
        self.n > 0
            && self.h > 0
            && self.w.len() == self.n * self.h
            && self.hb.len() == self.h
            && self.vb.len() == self.n
            && self.norm.min.len() == self.n
            && self.norm.max.len() == self.n
            && self.lr.is_finite()
            && self
                .w
                .iter()
                .chain(&self.hb)
                .chain(&self.vb)
                .all(|v| v.is_finite())
            && self
                .norm
                .min
                .iter()
                .chain(&self.norm.max)
                .all(|v| v.is_finite())
    }

    /// Forward pass on `self.xn`; leaves the error in `self.e` and
    /// returns the RMSE.
    #[inline]
    fn forward(&mut self) -> f64 {
        let (n, h) = (self.n, self.h);
        self.y.copy_from_slice(&self.hb);
        for i in 0..n {
            let xi = self.xn[i];
            let row = &self.w[i * h..i * h + h];
            for (y, w) in self.y.iter_mut().zip(row) {
                *y += xi * w;
            }
        }
        for y in &mut self.y {
            *y = sigmoid(*y);
        }
        for i in 0..n {
            let row = &self.w[i * h..i * h + h];
            self.e[i] = self.vb[i] + dot(&self.y, row);
        }
        let mut se = 0.0;
        for (e, x) in self.e.iter_mut().zip(&self.xn) {
            *e = x - sigmoid(*e);
            se += *e * *e;
        }
        (se / n as f64).sqrt()
    }

    /// Learns `x` (normaliser, then one SGD step) and returns the
    /// reconstruction RMSE before the step.
    pub fn train(&mut self, x: &[f64]) -> f64 {
        if x.len() != self.n {
            return 0.0;
        }
        self.norm.learn(x);
        self.norm.apply(x, &mut self.xn);
        let rmse = self.forward();
        let (n, h, lr) = (self.n, self.h, self.lr);
        // Hidden deltas: back-propagated error through the tied weights
        // (cross-entropy gradient at the sigmoid output, as the reference).
        let dh = &mut self.dh;
        dh.fill(0.0);
        for i in 0..n {
            let ei = self.e[i];
            let row = &self.w[i * h..i * h + h];
            for (d, w) in dh.iter_mut().zip(row) {
                *d += ei * w;
            }
            // (An axpy over the hidden units: vectorises as it is.)
        }
        for (d, y) in dh.iter_mut().zip(&self.y) {
            *d *= y * (1.0 - y);
        }
        for i in 0..n {
            let (xi, ei) = (self.xn[i], self.e[i]);
            let row = &mut self.w[i * h..i * h + h];
            for ((w, d), y) in row.iter_mut().zip(dh.iter()).zip(&self.y) {
                *w += lr * (xi * d + ei * y);
            }
        }
        for (b, d) in self.hb.iter_mut().zip(dh.iter()) {
            *b += lr * d;
        }
        for (b, e) in self.vb.iter_mut().zip(&self.e) {
            *b += lr * e;
        }
        rmse
    }

    /// The reconstruction RMSE of `x`, without learning.
    pub fn execute(&mut self, x: &[f64]) -> f64 {
        if x.len() != self.n || self.norm.seen == 0 {
            return 0.0;
        }
        self.norm.apply(x, &mut self.xn);
        self.forward()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_pattern_and_flags_a_new_one() {
        let mut rng = Rng::new(1);
        let mut ae = Ae::new(6, 0.75, 0.1, &mut rng);
        assert_eq!(ae.h, 5);
        let mut r = Rng::new(2);
        let pat = |a: f64| [a, 1.0 - a, a, 1.0 - a, 0.5, a];
        let mut first = 0.0;
        for k in 0..20_000 {
            let e = ae.train(&pat(r.next_f64()));
            if k < 100 {
                first += e / 100.0;
            }
        }
        let mut late = 0.0;
        for _ in 0..100 {
            late += ae.execute(&pat(r.next_f64())) / 100.0;
        }
        assert!(late < first * 0.5, "late {late} first {first}");
        let odd = ae.execute(&[1.0, 1.0, 0.0, 0.0, 0.5, 1.0]);
        assert!(odd > 3.0 * late, "odd {odd} late {late}");
    }

    #[test]
    fn fast_exp_is_close_to_exp() {
        let mut x = -745.0;
        while x < 745.0 {
            let (a, b) = (fast_exp(x), x.clamp(-700.0, 700.0).exp());
            assert!(((a - b) / b).abs() < 1e-11, "{x}: {a} vs {b}");
            x += 0.0137;
        }
        assert!(fast_exp(f64::INFINITY).is_finite());
        assert!(fast_exp(f64::NEG_INFINITY) > 0.0);
        assert!(fast_exp(f64::NAN).is_finite());
    }

    #[test]
    fn wrong_length_scores_zero() {
        let mut ae = Ae::new(3, 0.75, 0.1, &mut Rng::new(0));
        assert_eq!(ae.execute(&[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(ae.train(&[1.0]), 0.0);
    }
}
