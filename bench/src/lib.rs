//! Faultline's benchmarks (issue 5).
