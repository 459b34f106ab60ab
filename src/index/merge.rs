//! Segment merges that keep the caches (issue 8).
//!
//! tantivy merges segments to keep their number down, and a merged segment
//! is a new segment: its per-segment caches (summary tallies, phrase
//! tables, rows: see [`super::cache`] and [`super::rows`]) would be built
//! again from the doc store, which for a merge of sixteen 100,000-record
//! segments costs about what the report pass of a full run costs. So the
//! writer never merges on its own ([`tantivy::indexer::NoMergePolicy`]): a
//! run starts the first merge tantivy's log merge policy asks for (at most
//! [`MERGE_AT`] segments and [`MERGE_MAX_DOCS`] documents) once its last
//! commit is made
//! ([`VocWriter::start_merges`]), it runs on tantivy's merge thread while
//! the reports are written from that commit, and then the
//! caches of each merged segment are made from its sources' caches, their
//! documents renumbered ([`VocIndex::carry_aggregate`],
//! [`VocIndex::carry_rows`]).
//!
//! The numbering is tantivy's: a merge of segments without an index sort
//! stacks their live documents, segment after segment in the order asked,
//! each in its own order. The live documents are those of the last commit
//! (the merge applies the deletes up to it, and nothing is deleted between
//! that commit and the merge's start). A source without a valid cache
//! leaves the merged segment without one, built again by the next report
//! pass, as before; a run killed during a merge leaves the index at its last
//! commit (tantivy publishes a merged segment only once it is whole).

use tantivy::index::{SegmentId, SegmentMeta};
use tantivy::indexer::{LogMergePolicy, MergePolicy};
use tantivy::{FutureResult, Searcher};

use super::{IndexError, VocIndex, VocWriter, MERGE_AT, MERGE_MAX_DOCS};

/// The merges started by [`VocWriter::start_merges`], not yet done, with
/// the searcher of the commit they started from, whose segments the
/// sources' caches describe.
pub struct PendingMerges {
    before: Searcher,
    merges: Vec<PendingMerge>,
}

/// One merge started, not yet done.
struct PendingMerge {
    sources: Vec<MergeSource>,
    done: FutureResult<Option<SegmentMeta>>,
}

/// One segment merged: where it was and which documents it gave.
pub(super) struct MergeSource {
    /// Its ordinal in [`MergedSegments::before`].
    pub(super) ord: u32,
    /// Its live documents, ascending: the merged segment holds them in this
    /// order, after those of the sources before it.
    pub(super) alive: Vec<u32>,
}

impl MergeSource {
    /// The number in the merged segment of document `doc` of this source,
    /// whose first document there is `offset`.
    pub(super) fn new_doc(&self, offset: u32, doc: u32) -> Option<u32> {
        self.alive
            .binary_search(&doc)
            .ok()
            .map(|i| offset + i as u32)
    }
}

/// One finished merge: its sources, each with the number of its first
/// document in the merged segment, and the merged segment.
pub(super) struct Merged {
    pub(super) sources: Vec<(MergeSource, u32)>,
    pub(super) target: SegmentId,
}

/// The merges a run waited for ([`VocWriter::finish_merges`]), with the
/// searcher of the commit they started from.
pub struct MergedSegments {
    pub(super) before: Searcher,
    pub(super) merges: Vec<Merged>,
}

impl MergedSegments {
    /// How many merged segments were made.
    pub fn len(&self) -> usize {
        self.merges.len()
    }

    /// Whether no merge was made.
    pub fn is_empty(&self) -> bool {
        self.merges.is_empty()
    }

    /// Documents in the merged segments.
    pub fn documents(&self) -> u64 {
        self.merges
            .iter()
            .flat_map(|m| &m.sources)
            .map(|(s, _)| s.alive.len() as u64)
            .sum()
    }
}

/// The segment with this id in `searcher`, with its ordinal.
pub(super) fn segment_by_id(
    searcher: &Searcher,
    id: SegmentId,
) -> Option<(u32, &tantivy::SegmentReader)> {
    searcher
        .segment_readers()
        .iter()
        .enumerate()
        .find(|(_, s)| s.segment_id() == id)
        .map(|(ord, s)| (ord as u32, s))
}

/// The merge policy: tantivy's log merge policy, merging once
/// [`MERGE_AT`] segments of a size are there.
fn policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(MERGE_AT);
    policy
}

/// The segments of the run's merge: those of the first candidate of the
/// merge policy that fit in the budget ([`within_merge_budget`]), among the
/// segments of at most half of [`MERGE_MAX_DOCS`] documents, deleted ones
/// included (tantivy's own size cap counts live documents only, so a
/// large merged segment that lost most of its documents to updates would
/// come back as a candidate, take the budget alone and stop every merge).
/// Empty when there is nothing to merge.
fn merge_choice(metas: &[SegmentMeta]) -> Vec<SegmentId> {
    let small: Vec<SegmentMeta> = metas
        .iter()
        .filter(|m| u64::from(m.max_doc()) <= MERGE_MAX_DOCS / 2)
        .cloned()
        .collect();
    for candidate in policy().compute_merge_candidates(&small) {
        let sized = candidate.0.into_iter().map(|id| {
            let max_doc = small.iter().find(|m| m.id() == id).map(|m| m.max_doc());
            (id, max_doc.unwrap_or(u32::MAX))
        });
        let ids = within_merge_budget(sized);
        if !ids.is_empty() {
            return ids;
        }
    }
    Vec::new()
}

/// The segments of a merge candidate (largest first, with their document
/// counts, deleted ones included) that one merge takes: at most
/// [`MERGE_AT`] of them and [`MERGE_MAX_DOCS`] documents; none when fewer
/// than two fit.
fn within_merge_budget(candidate: impl IntoIterator<Item = (SegmentId, u32)>) -> Vec<SegmentId> {
    let mut docs = 0u64;
    let ids: Vec<SegmentId> = candidate
        .into_iter()
        .take(MERGE_AT)
        .take_while(|&(_, max_doc)| {
            docs += u64::from(max_doc);
            docs <= MERGE_MAX_DOCS
        })
        .map(|(id, _)| id)
        .collect();
    if ids.len() < 2 {
        return Vec::new();
    }
    ids
}

impl VocWriter {
    /// Starts the first merge the merge policy asks for on the segments of
    /// the last commit (at most [`MERGE_AT`] of them and [`MERGE_MAX_DOCS`]
    /// documents), which `index`'s
    /// reader must show (reload it after the commit). It runs on tantivy's
    /// merge thread; nothing may be added, deleted or committed until
    /// [`VocWriter::finish_merges`] returns.
    pub fn start_merges(&mut self, index: &VocIndex) -> Result<PendingMerges, IndexError> {
        let metas = index
            .index
            .searchable_segment_metas()
            .map_err(|e| index.tantivy_err(e))?;
        let searcher = index.reader.searcher();
        let readers = searcher.segment_readers();
        let ord_of = |id: SegmentId| readers.iter().position(|r| r.segment_id() == id);
        if metas.len() != readers.len() || metas.iter().any(|m| ord_of(m.id()).is_none()) {
            // The reader is not at the last commit: merging now would number
            // the documents from other deletions. No merge this time.
            return Ok(PendingMerges {
                before: searcher.clone(),
                merges: Vec::new(),
            });
        }
        let mut merges = Vec::new();
        // One merge of at most MERGE_AT segments and MERGE_MAX_DOCS
        // documents per run: a merge keeps the pages of its sources'
        // postings it has read mapped until it ends (about 17 MiB a
        // 100,000-record segment) and takes heap of its own, on top of the
        // report pass it runs beside; a merge of all 30 segments of a 3M
        // first run took the run's peak to 1.1 GiB. Segments left over are
        // merged by the next runs.
        let ids = merge_choice(&metas);
        if !ids.is_empty() {
            let sources = ids
                .iter()
                .filter_map(|&id| ord_of(id))
                .map(|ord| MergeSource {
                    ord: ord as u32,
                    alive: readers[ord].doc_ids_alive().collect(),
                })
                .collect();
            let done = self.writer.merge(&ids);
            merges.push(PendingMerge { sources, done });
        }
        Ok(PendingMerges {
            before: searcher.clone(),
            merges,
        })
    }

    /// Waits for merges started by [`VocWriter::start_merges`]. A merge
    /// that failed leaves its segments as they were, so it is only left
    /// out.
    pub fn finish_merges(&mut self, pending: PendingMerges) -> MergedSegments {
        let mut merges = Vec::new();
        for merge in pending.merges {
            let Ok(Some(meta)) = merge.done.wait() else {
                continue;
            };
            let mut offset = 0u32;
            let mut sources = Vec::with_capacity(merge.sources.len());
            for source in merge.sources {
                let n = source.alive.len() as u32;
                sources.push((source, offset));
                offset += n;
            }
            if offset != meta.max_doc() {
                // Not numbered as assumed: no cache is carried over.
                continue;
            }
            merges.push(Merged {
                sources,
                target: meta.id(),
            });
        }
        MergedSegments {
            before: pending.before,
            merges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{merge_choice, within_merge_budget, MergeSource, MERGE_AT, MERGE_MAX_DOCS};
    use tantivy::index::SegmentId;

    fn ids(n: usize) -> Vec<SegmentId> {
        (0..n).map(|_| SegmentId::generate_random()).collect()
    }

    #[test]
    fn a_merge_takes_at_most_sixteen_segments_and_its_document_budget() {
        // Twenty small segments: sixteen merged.
        let twenty = ids(20);
        let picked = within_merge_budget(twenty.iter().map(|&id| (id, 1000)));
        assert_eq!(picked, twenty[..MERGE_AT]);
        // A first run's sixteen 100,000-record segments: the budget's worth.
        let first_run = ids(16);
        let picked = within_merge_budget(first_run.iter().map(|&id| (id, 100_000)));
        assert_eq!(picked.len() as u64, MERGE_MAX_DOCS / 100_000);
        assert_eq!(picked, first_run[..picked.len()]);
        // Sixteen segments of 350,000: two fit in the budget.
        let large = ids(16);
        let picked = within_merge_budget(large.iter().map(|&id| (id, 350_000)));
        assert_eq!(picked, large[..2]);
        // Nothing when fewer than two fit.
        let huge = ids(16);
        assert!(within_merge_budget(huge.iter().map(|&id| (id, 450_000))).is_empty());
    }

    #[test]
    fn segments_over_half_the_budget_are_never_merged_nor_block_a_merge() {
        let index = tantivy::Index::create_in_ram(tantivy::schema::Schema::builder().build());
        let half = (MERGE_MAX_DOCS / 2) as u32;
        let meta = |max_doc: u32| index.new_segment_meta(SegmentId::generate_random(), max_doc);
        // Nine of half the budget and nine just over it: the nine over it
        // are left out, so they do not make up the number.
        let metas: Vec<_> = (0..MERGE_AT + 2)
            .map(|i| meta(if i % 2 == 0 { half } else { half + 1 }))
            .collect();
        assert!(merge_choice(&metas).is_empty());
        // A merged segment of the whole budget that lost most of its
        // documents to updates (its live count puts it among the 100,000
        // ones), fifteen first-run segments and sixteen small ones: a
        // merge is made, without the large segment.
        let large = meta(MERGE_MAX_DOCS as u32).with_delete_meta(650_000, 1);
        let mut metas = vec![large.clone()];
        metas.extend((0..MERGE_AT - 1).map(|_| meta(100_000)));
        metas.extend((0..MERGE_AT).map(|_| meta(1000)));
        let picked = merge_choice(&metas);
        assert!(picked.len() >= 2, "{picked:?}");
        assert!(!picked.contains(&large.id()));
        let docs: u64 = picked
            .iter()
            .map(|id| {
                metas
                    .iter()
                    .find(|m| m.id() == *id)
                    .expect("meta")
                    .max_doc() as u64
            })
            .sum();
        assert!(docs <= MERGE_MAX_DOCS);
        // Sixteen small segments: one merge of them all.
        let small: Vec<_> = (0..MERGE_AT).map(|_| meta(1000)).collect();
        assert_eq!(merge_choice(&small).len(), MERGE_AT);
    }

    #[test]
    fn a_sources_live_documents_are_numbered_after_the_sources_before_it() {
        let source = MergeSource {
            ord: 3,
            alive: vec![0, 2, 5, 6],
        };
        let new: Vec<Option<u32>> = (0..8).map(|d| source.new_doc(10, d)).collect();
        assert_eq!(
            new,
            [
                Some(10),
                None,
                Some(11),
                None,
                None,
                Some(12),
                Some(13),
                None
            ]
        );
    }
}
