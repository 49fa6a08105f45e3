//! Nelder–Mead minimisation over a box (parameters clamped into bounds).

/// Minimises `f` from `x0` within `[lo, hi]` per coordinate; returns the
/// best point and its value after at most `max_evals` evaluations.
pub fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_evals: usize,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    let clamp = |x: &mut Vec<f64>| {
        for i in 0..n {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let mut evals = 0usize;
    let mut eval = |x: &[f64], evals: &mut usize| {
        *evals += 1;
        let v = f(x);
        if v.is_finite() {
            v
        } else {
            f64::MAX
        }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let mut p = x0.to_vec();
    clamp(&mut p);
    let v = eval(&p, &mut evals);
    simplex.push((p.clone(), v));
    for i in 0..n {
        let mut q = p.clone();
        let step = 0.1 * (hi[i] - lo[i]);
        q[i] = if q[i] + step <= hi[i] {
            q[i] + step
        } else {
            q[i] - step
        };
        let v = eval(&q, &mut evals);
        simplex.push((q, v));
    }
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let best = simplex[0].1;
        let worst = simplex[n].1;
        if (worst - best).abs() <= 1e-10 * (best.abs() + 1e-12) {
            break;
        }
        let mut centroid = vec![0.0; n];
        for (x, _) in &simplex[..n] {
            for i in 0..n {
                centroid[i] += x[i] / n as f64;
            }
        }
        let towards = |t: f64| -> Vec<f64> {
            let mut x: Vec<f64> = (0..n)
                .map(|i| centroid[i] + t * (simplex[n].0[i] - centroid[i]))
                .collect();
            clamp(&mut x);
            x
        };
        let xr = towards(-1.0);
        let fr = eval(&xr, &mut evals);
        if fr < simplex[0].1 {
            let xe = towards(-2.0);
            let fe = eval(&xe, &mut evals);
            simplex[n] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (xr, fr);
        } else {
            let (xc, fc) = if fr < worst {
                let x = towards(-0.5);
                let v = eval(&x, &mut evals);
                (x, v)
            } else {
                let x = towards(0.5);
                let v = eval(&x, &mut evals);
                (x, v)
            };
            if fc < worst.min(fr) {
                simplex[n] = (xc, fc);
            } else {
                let x0 = simplex[0].0.clone();
                for (x, v) in simplex.iter_mut().skip(1) {
                    for i in 0..n {
                        x[i] = x0[i] + 0.5 * (x[i] - x0[i]);
                    }
                    *v = eval(x, &mut evals);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bowl_inside_the_box() {
        let mut f = |x: &[f64]| (x[0] - 0.3).powi(2) + 2.0 * (x[1] - 0.7).powi(2);
        let (x, v) = nelder_mead(&mut f, &[0.5, 0.5], &[0.0, 0.0], &[1.0, 1.0], 500);
        assert!(
            (x[0] - 0.3).abs() < 1e-3 && (x[1] - 0.7).abs() < 1e-3,
            "{x:?}"
        );
        assert!(v < 1e-6);
        // A minimum outside the box ends on its edge.
        let mut g = |x: &[f64]| (x[0] - 2.0).powi(2);
        let (x, _) = nelder_mead(&mut g, &[0.5], &[0.0], &[1.0], 200);
        assert!((x[0] - 1.0).abs() < 1e-6, "{x:?}");
    }
}
