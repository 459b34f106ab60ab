//! Yesterday's delight, today's pain point: two trend tests beside
//! *emerging*, on the same windows (the recent periods against the baseline
//! periods before them).
//!
//! - **Souring**: a theme's mentions turned negative. Of the theme's negative
//!   mentions in both windows, the recent window holds more than its share of
//!   the theme's mentions predicts (one-sided conditional binomial test, as
//!   for emerging): the touch point is talked about as often, but worse.
//! - **Fading**: a theme is mentioned significantly less than the volume
//!   around it predicts (the lower tail of the emerging test). For a praise
//!   theme that is delight being lost; for a complaint, a problem going away.

use super::{binomial_upper_tail, TrendCounts};

/// Significance level of both tests.
pub const SHIFT_P: f64 = 0.01;
/// Negative mentions a souring theme needs in the recent window.
pub const SOURING_MIN_NEGATIVE: u64 = 5;
/// Mentions a fading theme needs in the baseline window.
pub const FADING_MIN_BASELINE: u64 = 10;

/// The souring test of one theme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Souring {
    /// Share of the theme's mentions in the recent window that are negative.
    pub negative_share_recent: Option<f64>,
    /// The same share in the baseline window.
    pub negative_share_baseline: Option<f64>,
    /// Flagged: at least [`SOURING_MIN_NEGATIVE`] recent negative mentions, a
    /// higher negative share than in the baseline, and p < [`SHIFT_P`].
    pub souring: bool,
    /// p-value of the test.
    pub p_value: f64,
}

/// Souring of a theme from its mentions (`mentions`) and its negative
/// mentions (`negative`) per period, read off the same windows.
pub fn souring(mentions: &TrendCounts, negative: &TrendCounts) -> Souring {
    let share = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    let recent_share = share(negative.recent, mentions.recent);
    let baseline_share = share(negative.baseline, mentions.baseline);
    let all_mentions = mentions.recent + mentions.baseline;
    let all_negative = negative.recent + negative.baseline;
    let p_value = if all_negative == 0 || mentions.baseline == 0 {
        1.0
    } else {
        let p0 = mentions.recent as f64 / all_mentions as f64;
        binomial_upper_tail(negative.recent, all_negative, p0)
    };
    let rose = match (recent_share, baseline_share) {
        (Some(r), Some(b)) => r > b,
        _ => false,
    };
    Souring {
        negative_share_recent: recent_share,
        negative_share_baseline: baseline_share,
        souring: negative.recent >= SOURING_MIN_NEGATIVE && rose && p_value < SHIFT_P,
        p_value,
    }
}

/// The fading test's p-value: the chance of at most `theme.recent` of the
/// theme's records in the recent window, were its share that of the volume
/// it is compared with (`exposure`).
pub fn fading_p_value(theme: &TrendCounts, exposure: &TrendCounts) -> f64 {
    let n = theme.recent + theme.baseline;
    if n == 0 || theme.baseline_weeks == 0 || exposure.recent + exposure.baseline == 0 {
        return 1.0;
    }
    let p0 = exposure.recent as f64 / (exposure.recent + exposure.baseline) as f64;
    // P(X <= k) = 1 - P(X >= k + 1).
    (1.0 - binomial_upper_tail(theme.recent + 1, n, p0)).clamp(0.0, 1.0)
}

/// Whether a theme fades: at least [`FADING_MIN_BASELINE`] baseline records,
/// a lower weekly rate than in the baseline, and p < [`SHIFT_P`].
pub fn is_fading(theme: &TrendCounts, recent_weekly: f64, baseline_weekly: f64, p: f64) -> bool {
    theme.baseline >= FADING_MIN_BASELINE && recent_weekly < baseline_weekly && p < SHIFT_P
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(recent: u64, baseline: u64) -> TrendCounts {
        TrendCounts {
            latest: recent / 2,
            previous: recent - recent / 2,
            recent,
            recent_weeks: 2,
            baseline,
            baseline_weeks: 6,
        }
    }

    #[test]
    fn mentions_turning_negative_sour_the_theme() {
        // 10 mentions a week throughout; 1 in 10 negative before, 6 in 10 now.
        let s = souring(&counts(20, 60), &counts(12, 6));
        assert!(s.souring, "{s:?}");
        assert_eq!(s.negative_share_recent, Some(0.6));
        assert_eq!(s.negative_share_baseline, Some(0.1));
        // P(X >= 12 | n = 18, p = 0.25) is well below 0.01.
        assert!(s.p_value < 0.001, "{s:?}");
    }

    #[test]
    fn a_steady_negative_share_does_not_sour() {
        // Volume doubles, the share stays at a half: more pain, not worse pain.
        let s = souring(&counts(40, 60), &counts(20, 30));
        assert!(!s.souring, "{s:?}");
        assert!(s.p_value > 0.3, "{s:?}");
        // Too few negative mentions to say.
        let s = souring(&counts(4, 60), &counts(4, 0));
        assert!(!s.souring, "{s:?}");
    }

    #[test]
    fn a_theme_that_drops_against_steady_volume_fades() {
        // Praise at 10 a week falls to 1 a week; all else steady at 100.
        let theme = counts(2, 60);
        let exposure = counts(200, 600);
        let p = fading_p_value(&theme, &exposure);
        assert!(p < 0.001, "{p}");
        assert!(is_fading(&theme, 1.0, 10.0, p));
        // Everything fell alike: not the theme's own fading.
        let p = fading_p_value(&theme, &counts(20, 600));
        assert!(p > 0.05, "{p}");
        // Too small a baseline to say.
        let small = counts(0, 6);
        let p = fading_p_value(&small, &exposure);
        assert!(!is_fading(&small, 0.0, 1.0, p));
    }
}
