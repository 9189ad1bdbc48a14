//! Thin entry point: parse arguments, run, map the outcome to an exit code.

use clap::Parser;

/// The allocator of Linux builds: musl's own is several times slower on the many small
/// allocations of a large diff or plan, and glibc's took a fifth of a large `detect`.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    libgit2_allocator::install();
    // One TLS crypto provider for every HTTP client (kube, reqwest).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // kube-rs runs exec credential plugins through this binary, bounded (deploy/exec_plugin.rs).
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.first().map(String::as_str) == Some(shipgate::deploy::exec_plugin::WRAPPER_ARGUMENT) {
        return ExitCode::from(shipgate::deploy::exec_plugin::main(&args));
    }
    drop_empty_inputs();
    let cli = shipgate::cli::Cli::parse();
    ExitCode::from(shipgate::commands::execute(cli))
}

/// mimalloc's arenas are committed eagerly by default on Linux; a purge then only *resets* freed
/// pages (`MADV_FREE`), which the kernel keeps counting in the process's resident set until memory
/// runs short. `deploy` of 200 services frees most of what it parses as it goes, and with eager
/// commit its peak RSS was 81 MiB against 44 MiB without (`scripts/bench-deploy --dist -- --scale
/// 200`, issue 14's limit is 60 MiB). Committing on demand makes a purge decommit, so the peak
/// reflects what is live. It is set in a constructor because mimalloc reserves its first arena at
/// the first allocation, before `main` (mimalloc's own constructor, priority 101, has already read
/// its `MIMALLOC_*` variables by then; this overrides that one on purpose).
#[cfg(target_os = "linux")]
mod allocator_options {
    /// `mi_option_arena_eager_commit` in mimalloc v3's `mi_option_e` (include/mimalloc.h); the
    /// crate exports only some of the options as constants.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

    extern "C" fn commit_arenas_on_demand() {
        // SAFETY: sets one integer option and allocates nothing; mimalloc reads it when it
        // reserves an arena.
        unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
    }

    /// Runs before `main` and before the Rust runtime's first allocation.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static COMMIT_ARENAS_ON_DEMAND: extern "C" fn() = commit_arenas_on_demand;
}

/// libgit2 (C) allocates through the C library's `malloc` even when Rust uses mimalloc; reading a large
/// tree makes that the bottleneck. libgit2 takes a custom allocator (`GIT_OPT_SET_ALLOCATOR`);
/// this gives it mimalloc.
#[cfg(target_os = "linux")]
mod libgit2_allocator {
    use std::ffi::{c_char, c_int, c_void};

    /// libgit2's `git_allocator` (include/git2/sys/alloc.h, libgit2 1.9).
    #[repr(C)]
    struct GitAllocator {
        gmalloc: unsafe extern "C" fn(usize, *const c_char, c_int) -> *mut c_void,
        grealloc: unsafe extern "C" fn(*mut c_void, usize, *const c_char, c_int) -> *mut c_void,
        gfree: unsafe extern "C" fn(*mut c_void),
    }

    unsafe extern "C" fn gmalloc(size: usize, _file: *const c_char, _line: c_int) -> *mut c_void {
        // SAFETY: plain allocation; libgit2 checks for NULL.
        unsafe { libmimalloc_sys::mi_malloc(size) }
    }

    unsafe extern "C" fn grealloc(
        pointer: *mut c_void,
        size: usize,
        _file: *const c_char,
        _line: c_int,
    ) -> *mut c_void {
        // SAFETY: `pointer` is NULL or came from this allocator (installed before any libgit2 call).
        unsafe { libmimalloc_sys::mi_realloc(pointer, size) }
    }

    unsafe extern "C" fn gfree(pointer: *mut c_void) {
        // SAFETY: as for `grealloc`; `mi_free(NULL)` is a no-op.
        unsafe { libmimalloc_sys::mi_free(pointer) }
    }

    static ALLOCATOR: GitAllocator = GitAllocator {
        gmalloc,
        grealloc,
        gfree,
    };

    /// Must run before any other libgit2 call, so nothing allocated by the default allocator is
    /// ever freed by this one (libgit2 keeps a set allocator through `git_libgit2_init`).
    pub(crate) fn install() {
        // SAFETY: libgit2 copies the struct; the functions live for the whole process.
        unsafe {
            libgit2_sys::git_libgit2_opts(
                libgit2_sys::GIT_OPT_SET_ALLOCATOR as c_int,
                &ALLOCATOR as *const GitAllocator,
            );
        }
    }
}

/// An action input left empty arrives as `SHIPGATE_X=""`; treat it as unset so the flag's
/// default applies (clap would otherwise try to parse the empty value).
fn drop_empty_inputs() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            name.to_str().is_some_and(|n| n.starts_with("SHIPGATE_")) && value.is_empty()
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::remove_var(name) };
    }
}
