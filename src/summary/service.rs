//! Service metrics over records: median first response and resolution
//! times, and the Customer Effort Score (shared FORMATS.md). Times are
//! reported as medians because they are heavily skewed (a few tickets left
//! open for weeks would swamp a mean); CES as both the mean on the 1-7 scale
//! and the share of "easy" answers (5-7), since teams use either.

use serde::{Deserialize, Serialize};

use super::tally::{to_units, Multiset, ANSWER_UNITS};

/// Collects the service figures of the records a summary counts, in a form
/// that adds, takes out and merges exactly (see [`super::SummaryTally`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceAcc {
    first_response: Multiset,
    resolution: Multiset,
    /// Sum of the CES answers, in [`ANSWER_UNITS`].
    ces_units: i64,
    ces_n: u64,
    ces_easy: u64,
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
    /// Counts one record's figures.
    pub fn add(&mut self, first_response: Option<f64>, resolution: Option<f64>, ces: Option<f64>) {
        if let Some(m) = first_response {
            self.first_response.add(m);
        }
        if let Some(m) = resolution {
            self.resolution.add(m);
        }
        if let Some(c) = ces {
            self.ces_n += 1;
            self.ces_units += to_units(c, ANSWER_UNITS);
            if c >= 5.0 {
                self.ces_easy += 1;
            }
        }
    }

    /// Takes out one record's figures, counted before; false when a time
    /// was not there.
    pub fn remove(
        &mut self,
        first_response: Option<f64>,
        resolution: Option<f64>,
        ces: Option<f64>,
    ) -> bool {
        let mut exact = true;
        if let Some(m) = first_response {
            exact &= self.first_response.remove(m);
        }
        if let Some(m) = resolution {
            exact &= self.resolution.remove(m);
        }
        if let Some(c) = ces {
            self.ces_n = self.ces_n.wrapping_sub(1);
            self.ces_units -= to_units(c, ANSWER_UNITS);
            if c >= 5.0 {
                self.ces_easy = self.ces_easy.wrapping_sub(1);
            }
        }
        exact
    }

    /// Adds the figures of other records.
    pub fn merge(&mut self, other: ServiceAcc) {
        self.first_response.merge(other.first_response);
        self.resolution.merge(other.resolution);
        self.ces_units += other.ces_units;
        self.ces_n += other.ces_n;
        self.ces_easy += other.ces_easy;
    }

    /// The figures over every record counted.
    pub fn figures(&self) -> ServiceFigures {
        let n = self.ces_n;
        ServiceFigures {
            first_response_records: self.first_response.len(),
            median_first_response_minutes: self.first_response.median(),
            resolved_records: self.resolution.len(),
            median_resolution_minutes: self.resolution.median(),
            ces_responses: n,
            ces: (n > 0).then(|| round2(self.ces_units as f64 / ANSWER_UNITS / n as f64)),
            ces_easy_share: (n > 0).then(|| round2(100.0 * self.ces_easy as f64 / n as f64)),
        }
    }
}

/// The median (mean of the middle two for an even count), rounded to
/// hundredths; `None` for no values. The reference for [`Multiset::median`].
#[cfg(test)]
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

/// `x` rounded to two decimals (minutes and scores as reported).
pub(crate) fn round2(x: f64) -> f64 {
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
        let mut acc = ServiceAcc::default();
        acc.add(Some(5.0), Some(60.0), Some(7.0));
        acc.add(Some(15.0), Some(600.0), Some(2.0));
        acc.add(Some(1000.0), None, Some(5.0));
        acc.add(None, None, None);
        let f = acc.figures();
        assert_eq!(f.first_response_records, 3);
        assert_eq!(f.median_first_response_minutes, Some(15.0));
        assert_eq!(f.resolved_records, 2);
        assert_eq!(f.median_resolution_minutes, Some(330.0));
        assert_eq!(f.ces_responses, 3);
        assert_eq!(f.ces, Some(4.67));
        // 7 and 5 are easy, 2 is not.
        assert_eq!(f.ces_easy_share, Some(66.67));
    }

    #[test]
    fn removing_and_merging_give_the_figures_of_the_rest() {
        let times = [
            (3.5, 7.0),
            (3.5, 1.5),
            (90.0, 2.25),
            (12.0, 6.0),
            (0.5, 4.0),
        ];
        let mut all = ServiceAcc::default();
        let mut parts = [ServiceAcc::default(), ServiceAcc::default()];
        for (i, &(m, c)) in times.iter().enumerate() {
            all.add(Some(m), Some(m * 2.0), Some(c));
            parts[i % 2].add(Some(m), Some(m * 2.0), Some(c));
        }
        // Take out one of the two equal times: the other stays.
        assert!(all.remove(Some(3.5), Some(7.0), Some(1.5)));
        assert!(!all.remove(Some(4.0), None, None), "a time never added");
        let mut rest = ServiceAcc::default();
        for &(m, c) in &times[..] {
            if c != 1.5 {
                rest.add(Some(m), Some(m * 2.0), Some(c));
            }
        }
        assert_eq!(all.figures(), rest.figures());
        let [mut a, b] = parts;
        a.merge(b);
        let mut values: Vec<f64> = times.iter().map(|t| t.0).collect();
        assert_eq!(
            a.figures().median_first_response_minutes,
            median(&mut values)
        );
        assert_eq!(a.figures().ces, Some(4.15));
    }
}
