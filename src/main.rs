//! The `sipnat` command: command line → configuration → logger → daemon.
//!
//! Exit codes: 0 success; 1 configuration error (or `--check-config`
//! found errors); 2 command-line error; 3 start-up failure (sockets, pid file).

use sipnat::cli::{self, Command};
use sipnat::driver::{self, Daemon};

fn main() {
    // First of all, so an early SIGHUP (procd reload) cannot kill us.
    driver::sys::install_signal_handlers();
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().cloned().unwrap_or_else(|| "sipnat".into());
    let opts = match cli::parse_args(&args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            return;
        }
        Ok(Command::Version) => {
            println!("{}", cli::version_text());
            return;
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
        return;
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
    let mut daemon = match Daemon::new(cfg, opts) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            std::process::exit(3);
        }
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
