//! Damped incremental statistics: Kitsune's incStat and incStat_cov,
//! computed for all five time windows at once.
//!
//! A statistic keeps a weight `w`, a linear sum and a squared sum. Before
//! each update everything it holds is multiplied by `2^(-λ·Δt)` (Δt in
//! seconds since the last update), so an observation `Δt` seconds old
//! counts `2^(-λ·Δt)`: the window "half-life" is `1/λ` seconds. Decay is
//! applied lazily, only when the entry is touched, and a whole entry (both
//! directions of a channel, their covariance, their jitter) shares one
//! clock, so one packet costs one set of decay factors per entry. Decaying
//! a stream that did not receive the packet is harmless: multiplications
//! commute, so the weights are the same as if it were decayed later.

/// The decay rates λ of the five windows, fastest first (half-lives of
/// 0.2 s, 0.33 s, 1 s, 10 s and 100 s).
/// [`decay_factors`] relies on these exact values.
pub const LAMBDAS: [f64; NL] = [5.0, 3.0, 1.0, 0.1, 0.01];

/// Number of windows.
pub const NL: usize = 5;

/// The decay factor of every window after `dt_nanos` nanoseconds:
/// `2^(-λ·dt)`; 1 when time did not move forward (out-of-order packets
/// neither decay nor rejuvenate).
#[inline]
pub fn decay_factors(dt_nanos: i64) -> [f64; NL] {
    if dt_nanos <= 0 {
        return [1.0; NL];
    }
    let dt = dt_nanos as f64 * 1e-9;
    // Two library calls instead of five: the other windows' factors are
    // integer powers of these (λ 5 = 5·1, 3 = 3·1, 0.1 = 10·0.01).
    let f1 = (-dt).exp2();
    let s = (-0.01 * dt).exp2();
    let s2 = s * s;
    let s8 = (s2 * s2) * (s2 * s2);
    let f1_2 = f1 * f1;
    let f3 = f1_2 * f1;
    [f3 * f1_2, f3, f1, s8 * s2, s]
}

/// Damped sums of one stream in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stat1 {
    /// Damped count.
    pub w: f64,
    /// Damped sum of values.
    pub ls: f64,
    /// Damped sum of squared values.
    pub ss: f64,
}

impl Stat1 {
    /// Multiplies everything by `f`.
    #[inline]
    pub fn decay(&mut self, f: f64) {
        self.w *= f;
        self.ls *= f;
        self.ss *= f;
    }

    /// Adds one observation of weight 1.
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.w += 1.0;
        self.ls += v;
        self.ss += v * v;
    }

    /// The weighted mean (0 when empty).
    #[inline]
    pub fn mean(&self) -> f64 {
        if self.w > 0.0 {
            self.ls / self.w
        } else {
            0.0
        }
    }

    /// The weighted (population) variance, never negative (0 when empty).
    /// A variance below 1e-10 of the mean square is rounding noise from
    /// the sums (`E[x²] − E[x]²` cancels) and reads as 0, so a constant
    /// stream has no spread and no correlation.
    #[inline]
    pub fn var(&self) -> f64 {
        if self.w > 0.0 {
            let m = self.ls / self.w;
            let sq = self.ss / self.w;
            let v = sq - m * m;
            if v > 1e-10 * sq {
                v
            } else {
                0.0
            }
        } else {
            0.0
        }
    }

    /// The weighted standard deviation.
    #[inline]
    pub fn std(&self) -> f64 {
        self.var().sqrt()
    }
}

/// One stream in every window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Multi1 {
    /// Per window, in [`LAMBDAS`] order.
    pub s: [Stat1; NL],
}

impl Multi1 {
    /// Applies one set of decay factors.
    #[inline]
    pub fn decay(&mut self, f: &[f64; NL]) {
        for (s, f) in self.s.iter_mut().zip(f) {
            s.decay(*f);
        }
    }

    /// Adds `v` to every window.
    #[inline]
    pub fn add(&mut self, v: f64) {
        for s in &mut self.s {
            s.add(v);
        }
    }

    /// Writes `[w, mean, std]` of every window to `out[0..15]`.
    #[inline]
    pub fn write3(&self, out: &mut [f64]) {
        for (s, o) in self.s.iter().zip(out.chunks_exact_mut(3)) {
            o[0] = s.w;
            o[1] = s.mean();
            o[2] = s.std();
        }
    }
}

/// A one-stream statistic with its own clock (a host's packet sizes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clocked1 {
    /// Time of the last update (nanoseconds).
    pub last: i64,
    /// The sums.
    pub m: Multi1,
}

impl Clocked1 {
    /// Empty, with its clock at `t`.
    pub fn new(t: i64) -> Clocked1 {
        Clocked1 {
            last: t,
            m: Multi1::default(),
        }
    }

    /// Decays to `t` and adds `v`.
    #[inline]
    pub fn update(&mut self, t: i64, v: f64) {
        let f = decay_factors(t.saturating_sub(self.last));
        self.m.decay(&f);
        self.last = self.last.max(t);
        self.m.add(v);
    }
}

/// Two streams — the two directions of a channel or socket — and how they
/// move together (Kitsune's incStat_cov), in every window, on one clock.
///
/// The covariance is Kitsune's approximation: packets of the two
/// directions are never simultaneous, so each new value's residual from
/// its own stream's mean is multiplied by the other direction's most
/// recent residual, and those products are summed with the same damping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rel2 {
    /// Time of the last update (nanoseconds).
    pub last: i64,
    /// Direction 0 and direction 1.
    pub dir: [Multi1; 2],
    /// Damped sum of residual products, per window.
    pub sr: [f64; NL],
    /// Damped count of residual products, per window.
    pub w3: [f64; NL],
    /// Each direction's latest residual, per window.
    pub res: [[f64; NL]; 2],
}

impl Rel2 {
    /// Empty, with its clock at `t`.
    pub fn new(t: i64) -> Rel2 {
        Rel2 {
            last: t,
            dir: [Multi1::default(); 2],
            sr: [0.0; NL],
            w3: [0.0; NL],
            res: [[0.0; NL]; 2],
        }
    }

    /// Applies one set of decay factors to everything.
    #[inline]
    pub fn decay(&mut self, f: &[f64; NL]) {
        self.dir[0].decay(f);
        self.dir[1].decay(f);
        for ((sr, w3), f) in self.sr.iter_mut().zip(&mut self.w3).zip(f) {
            *sr *= f;
            *w3 *= f;
        }
    }

    /// Adds `v` to direction `d` (0 or 1; anything else counts as 1),
    /// after the caller decayed the entry to now.
    #[inline]
    pub fn add(&mut self, d: usize, v: f64) {
        let (me, other) = if d == 0 { (0, 1) } else { (1, 0) };
        self.dir[me].add(v);
        for i in 0..NL {
            let r = v - self.dir[me].s[i].mean();
            self.sr[i] += r * self.res[other][i];
            self.w3[i] += 1.0;
            self.res[me][i] = r;
        }
    }

    /// Decays to `t` and adds `v` to direction `d`.
    #[inline]
    pub fn update(&mut self, t: i64, d: usize, v: f64) {
        let f = decay_factors(t.saturating_sub(self.last));
        self.decay(&f);
        self.last = self.last.max(t);
        self.add(d, v);
    }

    /// The approximate covariance in window `i`.
    #[inline]
    pub fn cov(&self, i: usize) -> f64 {
        if self.w3[i] > 0.0 {
            self.sr[i] / self.w3[i]
        } else {
            0.0
        }
    }

    /// The correlation coefficient in window `i` (0 when either
    /// direction does not vary).
    #[inline]
    pub fn pcc(&self, i: usize) -> f64 {
        let s = self.dir[0].s[i].std() * self.dir[1].s[i].std();
        if s > 0.0 {
            self.cov(i) / s
        } else {
            0.0
        }
    }

    /// Writes, for every window, `[w, mean, std]` of direction `d` and
    /// `[magnitude, radius, covariance, pcc]` of the pair to `out[0..35]`.
    /// Magnitude is `sqrt(mean₀² + mean₁²)`, radius `sqrt(var₀² + var₁²)`.
    #[inline]
    pub fn write7(&self, d: usize, out: &mut [f64]) {
        let d = d.min(1);
        for (i, o) in out.chunks_exact_mut(7).enumerate().take(NL) {
            let a = &self.dir[0].s[i];
            let b = &self.dir[1].s[i];
            let (ma, mb) = (a.mean(), b.mean());
            let (va, vb) = (a.var(), b.var());
            let me = if d == 0 { a } else { b };
            let (mm, vm) = if d == 0 { (ma, va) } else { (mb, vb) };
            o[0] = me.w;
            o[1] = mm;
            o[2] = vm.sqrt();
            o[3] = (ma * ma + mb * mb).sqrt();
            o[4] = (va * va + vb * vb).sqrt();
            let cov = self.cov(i);
            o[5] = cov;
            let s = va.sqrt() * vb.sqrt();
            o[6] = if s > 0.0 { cov / s } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_life_is_one_over_lambda() {
        let mut s = Clocked1::new(0);
        s.update(0, 10.0);
        // One second later, λ = 1 has halved.
        s.update(1_000_000_000, 20.0);
        let w = s.m.s[2].w;
        assert!((w - 1.5).abs() < 1e-12, "{w}");
        let mean = s.m.s[2].mean();
        assert!((mean - (5.0 + 20.0) / 1.5).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn decay_factors_match_the_definition() {
        for dt in [
            1i64,
            1_000,
            1_234_567,
            1_000_000_000,
            77_000_000_000,
            5_000_000_000_000,
        ] {
            let f = decay_factors(dt);
            for (f, l) in f.iter().zip(LAMBDAS) {
                let want = (-l * dt as f64 * 1e-9).exp2();
                assert!(
                    (f - want).abs() <= 1e-13 * want + 1e-300,
                    "{dt} {l}: {f} vs {want}"
                );
            }
        }
        assert_eq!(decay_factors(0), [1.0; NL]);
        assert_eq!(decay_factors(-5), [1.0; NL]);
    }

    #[test]
    fn time_going_backwards_does_not_decay() {
        let mut s = Clocked1::new(5_000_000_000);
        s.update(5_000_000_000, 1.0);
        s.update(1_000_000_000, 1.0);
        assert_eq!(s.m.s[0].w, 2.0);
        assert_eq!(s.last, 5_000_000_000);
    }

    #[test]
    fn constant_stream_has_zero_std_and_pcc() {
        let mut r = Rel2::new(0);
        for k in 0..10 {
            r.update(k * 1_000_000, (k % 2) as usize, 100.0);
        }
        let mut out = [0.0; 35];
        r.write7(0, &mut out);
        for o in out.chunks_exact(7) {
            assert!((o[1] - 100.0).abs() < 1e-9);
            assert!(o[2].abs() < 1e-6);
            assert!((o[3] - (2.0f64 * 100.0 * 100.0).sqrt()).abs() < 1e-6);
            assert_eq!(o[6], 0.0);
        }
    }
}
