//! The endorser (being written).
