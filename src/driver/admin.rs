//! What the operator asks of the running daemon: reload the
//! configuration (SIGHUP or `sipnat reload`), its status (`sipnat status`
//! through the control socket, [`super::control`]), and saving the
//! registrations.

use super::Options;
use super::control::Request;
use super::{Daemon, REGISTRATION_FILE_MODE, read_passwords, tcp, unix_now, write_atomically};
use crate::status::{self, Info};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

impl Daemon {
    /// What only the driver knows, for the status.
    fn info(&self) -> Info<'_> {
        Info {
            instance: &self.instance,
            pid: std::process::id(),
            unix_now: unix_now(),
            started_unix: self.started_unix,
            tcp_connections: self.tcp.len(),
            kernel_off: match &self.fastpath {
                Some(_) if self.core.relay.fastpath() => None,
                _ => Some(self.fastpath_off.as_deref().unwrap_or("not started")),
            },
        }
    }

    /// `plugin_stats`: when its line and its file are due next (`None`:
    /// never, or only on SIGUSR1), from `now`.
    pub(super) fn schedule_stats(&mut self, now: Instant) {
        let cfg = self.core.config();
        self.stats_at = [
            next_stats(now, cfg.stats, cfg.stats_to_syslog),
            next_stats(now, cfg.stats, cfg.stats_to_file),
        ];
    }

    /// `plugin_stats`: the line and the file that are due (on SIGUSR1
    /// both, unless switched off with 0), each then rescheduled.
    pub(super) fn dump_stats(&mut self, now: Instant, signalled: bool) {
        let cfg = self.core.config();
        if !cfg.stats {
            return;
        }
        let (every_log, every_file) = (cfg.stats_to_syslog, cfg.stats_to_file);
        let path = cfg.stats_filename.clone();
        let due = |at: Option<Instant>, n: i32| {
            (signalled && n != 0) || at.is_some_and(|t| crate::due(&now, &t))
        };
        if due(self.stats_at[0], every_log) {
            log::info!("{}", status::stats_line(&self.core));
            self.stats_at[0] = next_stats(now, true, every_log);
        }
        if due(self.stats_at[1], every_file) {
            self.stats_at[1] = next_stats(now, true, every_file);
            let Some(path) = path else {
                return;
            };
            let text = status::stats_file(&self.core, &self.info(), now);
            if let Err(e) = write_atomically(&path, &text, 0o644) {
                self.core.stats_mut().bump("stats-file", "write-failed");
                log::warn!("cannot write statistics to {}: {e}", path.display());
            }
        }
    }

    /// SIGUSR1: the table use and every counter, to the log.
    pub(super) fn log_status(&self) {
        let status = self.core.status_text();
        let (head, counters) = status.split_once('\n').unwrap_or((&status, ""));
        log::info!(
            "{head} tcp-connections {}/{}\n{counters}",
            self.tcp.len(),
            crate::limits::MAX_TCP_CONNECTIONS
        );
    }

    /// Client `slot` of the control socket has something to read: answer
    /// its request once whole.
    pub(super) fn serve_control(&mut self, now: Instant, slot: usize) {
        let registry = self.poll.registry();
        let Some(req) = self.control.readable(slot, registry, &mut self.core.stats) else {
            return;
        };
        let answer = match req {
            Request::Status { json, section } => {
                let info = self.info();
                // About 350 bytes a call: one allocation, not a doubling series.
                let calls = self.core.proxy.media().map_or(0, |m| m.calls());
                let mut out = String::with_capacity(4096 + 400 * calls);
                if json {
                    status::write_json(&self.core, &info, now, section, &mut out);
                    out.push('\n');
                } else {
                    status::write_text(&self.core, &info, now, section, &mut out);
                }
                out
            }
            Request::Reload => match self.reload() {
                Ok(()) => "reloaded\n".to_string(),
                Err(e) => {
                    format!("error: configuration not reloaded, the running one stays:\n{e}\n")
                }
            },
        };
        self.control
            .answer(slot, answer.into_bytes(), self.poll.registry());
    }

    /// What a reload changes on the sockets themselves: the DSCP marks of
    /// SIP (UDP socket, TCP listener and connections) and of every relay
    /// socket (RFC 2474).
    fn apply_to_sockets(&mut self, cfg: &crate::config::Config) {
        let old = self.core.config();
        if cfg.sip_dscp != old.sip_dscp {
            let _ = super::sys::set_dscp(self.sip.as_raw_fd(), cfg.sip_dscp);
            self.tcp.set_dscp(cfg.sip_dscp);
        }
        if cfg.rtp_dscp != old.rtp_dscp {
            for s in self.relay_socks.iter().flatten() {
                let _ = super::sys::set_dscp(s.as_raw_fd(), cfg.rtp_dscp);
            }
        }
    }

    /// Re-read the configuration (SIGHUP, `sipnat reload`); `Err` says why
    /// the running one stays.
    pub(super) fn reload(&mut self) -> Result<(), String> {
        // The same layers as at start: file (and UCI section), then the
        // command line, then check().
        match crate::cli::load_config(&self.opts) {
            Ok((mut cfg, warnings)) => {
                for w in &warnings {
                    log::warn!("{w}");
                }
                crate::cli::apply(&self.opts, &mut cfg);
                // Everything else is put in force below (ports and marks
                // of the relay, timers, log level, access, passwords, TLS
                // certificates); these are fixed for the life of the
                // process: the SIP sockets are bound, and root is given up.
                let old = self.core.config();
                if cfg.sip_listen_port != old.sip_listen_port {
                    log::warn!(
                        "sip_listen_port changes need a restart; keeping {}",
                        old.sip_listen_port
                    );
                    cfg.sip_listen_port = old.sip_listen_port;
                }
                if cfg.tls_listen_port != old.tls_listen_port {
                    log::warn!(
                        "tls_listen_port changes need a restart; keeping {}",
                        old.tls_listen_port
                    );
                    cfg.tls_listen_port = old.tls_listen_port;
                }
                if cfg.user != old.user {
                    log::warn!(
                        "user changes need a restart; running on as {}",
                        old.user.as_deref().unwrap_or("root")
                    );
                    cfg.user = old.user.clone();
                }
                let passwords = match read_passwords(&cfg) {
                    Ok(p) => p,
                    Err(e) => {
                        log::error!("{e}");
                        self.core.stats_mut().bump("reload", "refused");
                        log::error!("configuration not reloaded: the running one stays");
                        return Err(e);
                    }
                };
                self.tcp.set_timers(tcp::timers(&cfg));
                self.tcp.set_tls(&cfg);
                self.apply_to_sockets(&cfg);
                log::set_max_level(crate::cli::log_level(&cfg));
                let now = Instant::now();
                self.next_autosave = (cfg.autosave_registrations > 0)
                    .then(|| now + Duration::from_secs(u64::from(cfg.autosave_registrations)));
                self.core.reconfigure(now, cfg);
                self.reload_fastpath();
                self.maintain_relay();
                self.schedule_stats(now);
                if let Some(p) = passwords {
                    self.core.proxy.set_passwords(p);
                }
                // The interfaces may be others now: read them at once.
                self.read_own_addresses(now, "reload");
                self.refresh(now);
                self.core.stats_mut().bump("reload", "done");
                log::info!("configuration reloaded; calls and registrations kept");
                Ok(())
            }
            Err(diags) => {
                for d in &diags {
                    log::error!("{d}");
                }
                self.core.stats_mut().bump("reload", "refused");
                log::error!("configuration not reloaded: the running one stays");
                let first: Vec<String> = diags.iter().take(3).map(|d| d.to_string()).collect();
                Err(first.join("\n"))
            }
        }
    }

    pub(super) fn save_registrations(&mut self, now: Instant) {
        let Some(path) = self.core.config().registration_file.clone() else {
            return;
        };
        let text = self.core.proxy.registrations_text(now, unix_now());
        if let Err(e) = write_atomically(&path, &text, REGISTRATION_FILE_MODE) {
            self.core
                .stats_mut()
                .bump("registration-file", "save-failed");
            log::warn!("cannot save registrations to {}: {e}", path.display());
        }
    }
}

/// The instance's name for the status: the control socket's file name
/// without `.sock` (the init script names it after the procd instance),
/// else the UCI section asked for, else `sipnat`.
pub(super) fn instance_name(opts: &Options) -> String {
    opts.control
        .as_deref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .or_else(|| opts.section.clone())
        .unwrap_or_else(|| "sipnat".into())
}

/// When a `plugin_stats` output that comes every `n` seconds is due next
/// (siproxd: `n` > 0 every n s, -1 only on SIGUSR1, 0 never).
fn next_stats(now: Instant, on: bool, n: i32) -> Option<Instant> {
    (on && n > 0).then(|| now + Duration::from_secs(n.unsigned_abs().into()))
}
