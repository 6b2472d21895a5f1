//! placeholder (issue #3)
