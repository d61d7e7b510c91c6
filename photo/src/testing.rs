//! Test images made in code.
