//! Property tests: whatever bytes a file holds, ingest never panics, and
//! every item it emits is counted in the file's report as a record or a
//! reject. Inputs are arbitrary bytes, JSON-shaped noise, and real records
//! cut and spliced at random places, under JSON, JSONL, CSV and gzip names.

use proptest::prelude::*;

use super::*;

const SAMPLE: &str = concat!(
    "{\"id\": 1, \"title\": \"Late\", \"text\": \"parcel is late 快递太慢\", \"created_at\": \"2026-10-01\", \"rating\": 2}\n",
    "{\"tickets\": [{\"id\": 48220, \"subject\": \"退货\", \"description\": \"where is my refund\", \"via\": {\"channel\": \"web\"}}]}\n",
    "id,text,rating,date\n7,\"app crashes, again\",1,2026-10-02\n",
);

/// Bytes that look enough like exports to get past sniffing.
fn export_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        "[\\[\\]{}\",:a-z0-9 \\n\\\\.\\-中文]{0,300}".prop_map(String::into_bytes),
        (
            0..SAMPLE.len(),
            0..SAMPLE.len(),
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(a, b, noise)| {
                let (a, b) = (a.min(b), a.max(b));
                let mut bytes = SAMPLE.as_bytes()[..a].to_vec();
                bytes.extend(noise);
                bytes.extend(&SAMPLE.as_bytes()[b..]);
                bytes
            }),
        // UTF-16 with a byte order mark, then anything.
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|rest| {
            let mut bytes = vec![0xFF, 0xFE];
            bytes.extend(rest);
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::text::test_cases(600)))]

    #[test]
    fn ingest_never_panics_and_counts_every_item(
        bytes in export_like(),
        name in prop_oneof![Just("x.json"), Just("x.jsonl"), Just("x.csv"), Just("x.jsonl.gz"), Just("x.tsv")],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (mut records, mut rejects) = (0u64, 0u64);
        let result = read_input(&InputFile::Path(path), &MapHints::default(), |item| match item {
            Item::Record { .. } => records += 1,
            Item::Rejected(_) => rejects += 1,
        });
        if let Ok(report) = result {
            prop_assert_eq!(report.records, records);
            prop_assert_eq!(report.rejected, rejects);
        }
    }
}
