//! The parallel patterns of the guide (§2): divide and conquer, map-reduce,
//! work stealing, data-parallel blur, and a pipeline.
//!
//! | pattern | module | checked by |
//! | --- | --- | --- |
//! | parallel merge sort | [`merge_sort`] | proptest against `slice::sort` |
//! | parallel quicksort | [`quicksort`] | proptest against `slice::sort` |
//! | map-reduce word count | [`map_reduce`] | proptest against the serial count |
//! | Chase–Lev deque | [`deque`] | loom models in `models/deque.rs` |
//! | work-stealing scheduler | [`work_stealing`] | loom/shuttle models, exactly-once tests |
//! | 5×5 box blur | [`blur`] | proptest: three implementations bit for bit |
//! | pipeline | [`pipeline`] | shuttle model in `models/pipeline.rs` |

pub mod blur;
pub mod deque;
pub mod map_reduce;
pub mod merge_sort;
pub mod pipeline;
pub mod quicksort;
pub mod work_stealing;
