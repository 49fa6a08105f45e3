//! The C allocator's arenas.
//!
//! glibc's malloc gives threads arenas of their own (up to eight per core);
//! memory freed in one is kept there for later. With a capture thread, a
//! history writer, name resolvers and the process scan, big short-lived
//! allocations (reports of every flow) land in different arenas over time
//! and the process's memory creeps up well past what it uses — measured: a
//! flood's run climbed to 235 MiB where two arenas keep it at 144 MiB. And
//! after a big block is freed, glibc raises the size from which blocks are
//! mapped on their own (up to 32 MiB), so the next reports come from the
//! heap and leave holes in it. A memory budget needs the allocator to keep
//! within it too: few arenas, and blocks of 4 MiB and more always mapped on
//! their own (given back whole when freed).

/// Arenas the process may use: two (the pipeline's thread and the others).
const ARENAS: i32 = 2;

/// Blocks this big or bigger are mapped on their own (a fixed threshold:
/// glibc's moving one is turned off by setting it).
const MMAP_THRESHOLD: i32 = 4 << 20;

/// Free memory at the top of the heap kept for reuse rather than given
/// back at each free (fixing the threshold above would otherwise leave
/// glibc's 128 KiB: a default run on a flood capture was 30 % slower).
const TRIM_THRESHOLD: i32 = 32 << 20;

/// Caps glibc's malloc arenas; call once at start, before other threads.
/// Does nothing with other C libraries.
pub fn limit_allocator_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets tunables of the allocator; both take these
    // positive values, and it is called before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
