//! Small statistics: the binomial tail behind "emerging" flags, and the
//! key-driver impact of a theme.

/// P(X ≥ k) for X ~ Binomial(n, p), computed in log space.
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let ln_p = p.ln();
    let ln_q = (1.0 - p).ln();
    // log C(n, i) built up incrementally from i = k.
    let mut ln_c = ln_choose(n, k);
    let mut total = 0.0;
    for i in k..=n {
        let term = (ln_c + i as f64 * ln_p + (n - i) as f64 * ln_q).exp();
        total += term;
        if term < total * 1e-15 && i > k + 10 {
            break;
        }
        ln_c += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    total.min(1.0)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// Key-driver impact of a theme: how much the mean score of all records
/// would rise if the theme's records scored like the others.
///
/// `theme_sum`/`theme_n` are the score sum and count of the theme's records,
/// `all_sum`/`all_n` those of every record. Positive impact = the theme pulls
/// the overall score down.
pub fn key_driver_impact(theme_sum: f64, theme_n: u64, all_sum: f64, all_n: u64) -> f64 {
    if theme_n == 0 || all_n == 0 {
        return 0.0;
    }
    let rest_n = all_n - theme_n;
    if rest_n == 0 {
        return 0.0;
    }
    let theme_mean = theme_sum / theme_n as f64;
    let rest_mean = (all_sum - theme_sum) / rest_n as f64;
    theme_n as f64 / all_n as f64 * (rest_mean - theme_mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_hand_computation() {
        // n = 4, p = 0.5: P(X >= 3) = (4 + 1) / 16.
        assert!((binomial_upper_tail(3, 4, 0.5) - 5.0 / 16.0).abs() < 1e-12);
        assert!((binomial_upper_tail(0, 4, 0.5) - 1.0).abs() < 1e-12);
        // n = 10, p = 0.5: P(X >= 10) = 1/1024.
        assert!((binomial_upper_tail(10, 10, 0.5) - 1.0 / 1024.0).abs() < 1e-12);
        assert_eq!(binomial_upper_tail(5, 4, 0.5), 0.0);
    }

    #[test]
    fn impact_matches_hand_computation() {
        // 10 records: 2 in the theme scoring -1 each, 8 others scoring 0.5 each.
        // rest mean 0.5, theme mean -1 → impact = 0.2 * 1.5 = 0.3.
        let impact = key_driver_impact(-2.0, 2, -2.0 + 4.0, 10);
        assert!((impact - 0.3).abs() < 1e-12);
        // A theme scoring like everyone else has no impact.
        assert!(key_driver_impact(1.0, 2, 5.0, 10).abs() < 1e-12);
        assert_eq!(key_driver_impact(0.0, 0, 1.0, 10), 0.0);
    }
}
