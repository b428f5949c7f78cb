//! The `sipnat` command: command line → configuration → logger → daemon.
//!
//! Exit codes: 0 success; 1 configuration error (or `--check-config`
//! found errors); 2 command-line error; 3 start-up failure (sockets, pid file).

use sipnat::cli::{self, Command};
use sipnat::driver::{self, Daemon};

fn main() {
    // First of all, so an early SIGHUP (procd reload) cannot kill us.
    driver::sys::install_signal_handlers();
    let Some((mut daemon, pid_file)) = start() else {
        return;
    };
    let result = daemon.run();
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    if let Err(e) = result {
        log::error!("{e}");
        std::process::exit(3);
    }
}

/// Everything before the loop: the command line, the configuration, the
/// logger, the daemon (and its pid file, returned to be removed at the
/// end); `None` when there is nothing to run. Apart from `main`, so the
/// configuration and the rest of the start-up's stack frame are gone while
/// the daemon runs: `main`'s frame stays under the loop all its life, and
/// every stack page touched once stays resident.
#[inline(never)]
fn start() -> Option<(Box<Daemon>, Option<std::path::PathBuf>)> {
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().cloned().unwrap_or_else(|| "sipnat".into());
    let opts = match cli::parse_args(&args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            return None;
        }
        Ok(Command::Version) => {
            println!("{}", cli::version_text());
            return None;
        }
        Ok(Command::CheckConfig(o)) => {
            let code = check_config(&o);
            std::process::exit(code);
        }
        Ok(Command::Client(c)) => {
            std::process::exit(driver::client::run(&cli::program_name(&args), &c));
        }
        Ok(Command::Run(o)) => o,
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(2);
        }
    };
    let (mut cfg, warnings) = match cli::load_config(&opts) {
        Ok(x) => x,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{program}: configuration has errors; not starting");
            std::process::exit(1);
        }
    };
    cli::apply(&opts, &mut cfg);
    if !cfg.enabled {
        // A UCI section with `option enabled '0'`.
        eprintln!("{program}: this section is disabled (enabled = 0); not starting");
        return None;
    }
    // The logger passes everything; log's own maximum level filters, so a
    // reload can raise it as well as lower it.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Trace)
        .init();
    log::set_max_level(cli::log_level(&cfg));
    for w in &warnings {
        log::warn!("{w}");
    }
    if cfg.daemonize && !opts.foreground {
        if let Err(e) = driver::sys::daemonize() {
            log::error!("cannot daemonize: {e}");
            std::process::exit(3);
        }
    }
    if let Some(p) = cfg.pid_file.as_deref() {
        if let Err(e) = driver::write_pid_file(p) {
            log::error!("cannot write pid file {}: {e}", p.display());
            std::process::exit(3);
        }
    }
    let pid_file = cfg.pid_file.clone();
    match Daemon::new(cfg, opts) {
        Ok(d) => Some((d, pid_file)),
        Err(e) => {
            log::error!("{e}");
            std::process::exit(3);
        }
    }
}

/// `--check-config`: every problem with file:line; non-zero on error.
fn check_config(o: &cli::Options) -> i32 {
    match cli::load_config(o) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            if let Err(e) = sipnat::driver::read_passwords(&cfg) {
                eprintln!("{e}");
                return 1;
            }
            for (opt, host) in cfg.acl_names() {
                println!("{opt}: {host}: host name, resolved at run time (refreshed on its TTL)");
            }
            println!("{}: OK ({} warnings)", o.config.display(), warnings.len());
            0
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            1
        }
    }
}

/// The static (musl) builds use sipnat's own allocator for everything,
/// Rust and the C library alike ([`sipnat::alloc`]: the C library's own
/// was 5.3 KB of the MIPS package). Other builds keep the system's.
#[cfg(target_env = "musl")]
mod c_alloc {
    use core::ffi::{c_int, c_void};
    use sipnat::alloc::{Kernel, Locked};

    static HEAP: Locked<Kernel> = Locked::new(Kernel);

    #[unsafe(no_mangle)]
    extern "C" fn malloc(n: usize) -> *mut c_void {
        HEAP.with(|h| unsafe { h.malloc(n) }).cast()
    }

    #[unsafe(no_mangle)]
    extern "C" fn free(p: *mut c_void) {
        HEAP.with(|h| unsafe { h.free(p.cast()) })
    }

    #[unsafe(no_mangle)]
    extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
        let Some(n) = count.checked_mul(size) else {
            return core::ptr::null_mut();
        };
        HEAP.with(|h| unsafe { h.calloc(n) }).cast()
    }

    #[unsafe(no_mangle)]
    extern "C" fn realloc(p: *mut c_void, n: usize) -> *mut c_void {
        HEAP.with(|h| unsafe { h.realloc(p.cast(), n) }).cast()
    }

    #[unsafe(no_mangle)]
    extern "C" fn aligned_alloc(align: usize, n: usize) -> *mut c_void {
        if !align.is_power_of_two() {
            return core::ptr::null_mut();
        }
        HEAP.with(|h| unsafe { h.aligned(align, n) }).cast()
    }

    #[unsafe(no_mangle)]
    extern "C" fn memalign(align: usize, n: usize) -> *mut c_void {
        aligned_alloc(align, n)
    }

    #[unsafe(no_mangle)]
    extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, n: usize) -> c_int {
        if !align.is_power_of_two() || align < core::mem::size_of::<usize>() {
            return libc::EINVAL;
        }
        let p = aligned_alloc(align, n);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes where the pointer goes.
        unsafe { *out = p };
        0
    }

    #[unsafe(no_mangle)]
    extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
        HEAP.with(|h| unsafe { h.usable(p.cast()) })
    }
}
