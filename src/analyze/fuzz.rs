//! Property tests: any Unicode text, rating and NPS gives an analysis without
//! panicking, with scores in range.

use proptest::prelude::*;

use super::*;
use crate::text::Lang;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::text::test_cases(1000)))]

    #[test]
    fn analyze_never_panics_and_scores_stay_in_range(
        text in prop_oneof![
            any::<String>(),
            "[a-zA-Z !?.,'\\n快递退款太慢了不好用客服没有回复很失望]{0,200}",
        ],
        rating in proptest::option::of(prop_oneof![any::<f64>(), 0.0..6.0f64]),
        nps in proptest::option::of(any::<u8>()),
        lang in proptest::option::of(prop_oneof![Just(Lang::En), Just(Lang::Zh), Just(Lang::Other)]),
    ) {
        static ANALYZER: std::sync::LazyLock<Analyzer> = std::sync::LazyLock::new(|| {
            Analyzer::new(
                Taxonomy::default_taxonomy().unwrap(),
                Lexicon::default_lexicon().unwrap(),
            )
        });
        let a = ANALYZER.analyze(AnalysisInput { text: &text, rating, nps, lang });
        prop_assert!((-1.0..=1.0).contains(&a.sentiment.score), "{}", a.sentiment.score);
        for theme in &a.themes {
            prop_assert!((-1.0..=1.0).contains(&theme.sentiment), "{}", theme.sentiment);
        }
    }
}
