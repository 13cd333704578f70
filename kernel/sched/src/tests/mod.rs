//! Scheduler tests that need more than one module: placement, stealing, affinity,
//! preemption, wait queues, and the multi-threaded stress runs.
