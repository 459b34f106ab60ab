//! Service metrics over records: median first response and resolution
//! times, and the Customer Effort Score (shared FORMATS.md). Times are
//! reported as medians because they are heavily skewed (a few tickets left
//! open for weeks would swamp a mean); CES as both the mean on the 1-7 scale
//! and the share of "easy" answers (5-7), since teams use either.

/// Collects the service figures of the records a summary counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceAcc {
    first_response: Vec<f64>,
    resolution: Vec<f64>,
    ces_sum: f64,
    ces_n: u64,
    ces_easy: u64,
    theme_resolution: Vec<Vec<f64>>,
}

/// Service figures over all records: part of [`super::Metrics`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServiceFigures {
    /// Records with a first response time.
    pub first_response_records: u64,
    /// Median minutes from creation to the first agent reply.
    pub median_first_response_minutes: Option<f64>,
    /// Records with a resolution time.
    pub resolved_records: u64,
    /// Median minutes from creation to resolution.
    pub median_resolution_minutes: Option<f64>,
    /// Records with a Customer Effort Score answer.
    pub ces_responses: u64,
    /// Mean CES on the 1-7 scale (7 = very easy).
    pub ces: Option<f64>,
    /// Share of CES answers of 5 to 7 ("easy"), in percent.
    pub ces_easy_share: Option<f64>,
}

impl ServiceAcc {
    /// An accumulator for a taxonomy of `themes` themes.
    pub fn new(themes: usize) -> ServiceAcc {
        ServiceAcc {
            theme_resolution: vec![Vec::new(); themes],
            ..ServiceAcc::default()
        }
    }

    /// Counts one record's figures; `themes` are the taxonomy positions of
    /// its themes.
    pub fn add(
        &mut self,
        first_response: Option<f64>,
        resolution: Option<f64>,
        ces: Option<f64>,
        themes: &[u16],
    ) {
        if let Some(m) = first_response {
            self.first_response.push(m);
        }
        if let Some(m) = resolution {
            self.resolution.push(m);
            for &t in themes {
                if let Some(values) = self.theme_resolution.get_mut(t as usize) {
                    values.push(m);
                }
            }
        }
        if let Some(c) = ces {
            self.ces_n += 1;
            self.ces_sum += c;
            if c >= 5.0 {
                self.ces_easy += 1;
            }
        }
    }

    /// Median resolution minutes of the records of theme `t`.
    pub fn theme_median_resolution(&mut self, t: usize) -> Option<f64> {
        self.theme_resolution.get_mut(t).and_then(|v| median(v))
    }

    /// The figures over every record added.
    pub fn figures(&mut self) -> ServiceFigures {
        let n = self.ces_n;
        ServiceFigures {
            first_response_records: self.first_response.len() as u64,
            median_first_response_minutes: median(&mut self.first_response),
            resolved_records: self.resolution.len() as u64,
            median_resolution_minutes: median(&mut self.resolution),
            ces_responses: n,
            ces: (n > 0).then(|| round2(self.ces_sum / n as f64)),
            ces_easy_share: (n > 0).then(|| round2(100.0 * self.ces_easy as f64 / n as f64)),
        }
    }
}

/// The median (mean of the middle two for an even count), rounded to
/// hundredths; `None` for no values.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    let m = if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    };
    Some(round2(m))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [30.0, 10.0, 20.0]), Some(20.0));
        assert_eq!(median(&mut [40.0, 10.0, 30.0, 20.0]), Some(25.0));
    }

    #[test]
    fn figures_by_hand() {
        let mut acc = ServiceAcc::new(2);
        // Three tickets: theme 0 resolved in 60 and 600 minutes, theme 1 in 600.
        acc.add(Some(5.0), Some(60.0), Some(7.0), &[0]);
        acc.add(Some(15.0), Some(600.0), Some(2.0), &[0, 1]);
        acc.add(Some(1000.0), None, Some(5.0), &[1]);
        acc.add(None, None, None, &[]);
        let f = acc.figures();
        assert_eq!(f.first_response_records, 3);
        assert_eq!(f.median_first_response_minutes, Some(15.0));
        assert_eq!(f.resolved_records, 2);
        assert_eq!(f.median_resolution_minutes, Some(330.0));
        assert_eq!(f.ces_responses, 3);
        assert_eq!(f.ces, Some(4.67));
        // 7 and 5 are easy, 2 is not.
        assert_eq!(f.ces_easy_share, Some(66.67));
        assert_eq!(acc.theme_median_resolution(0), Some(330.0));
        assert_eq!(acc.theme_median_resolution(1), Some(600.0));
        assert_eq!(acc.theme_median_resolution(5), None);
    }
}
