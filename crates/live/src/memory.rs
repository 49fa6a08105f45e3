//! The C allocator's arenas.
//!
//! glibc's malloc gives threads arenas of their own (up to eight per core);
//! memory freed in one is kept there for later. With a capture thread, a
//! history writer, name resolvers and the process scan, big short-lived
//! allocations (reports of every flow) land in different arenas over time
//! and the process's memory creeps up well past what it uses — measured: a
//! flood's run climbed to 235 MiB where two arenas keep it at 144 MiB. A
//! memory budget needs the allocator to keep within it too.

/// Arenas the process may use: two (the pipeline's thread and the others).
const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas; call once at start, before other threads.
/// Does nothing with other C libraries.
pub fn limit_allocator_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable of the allocator; M_ARENA_MAX
    // takes any positive count, and it is called before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
