//! The committer (being written).
