//! Placeholder: see its issue.
