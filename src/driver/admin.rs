//! What the operator asks of the running daemon: reload the
//! configuration (SIGHUP or `sipnat reload`), its status (`sipnat status`
//! through the control socket, [`super::control`]), and saving the
//! registrations.

use super::Options;
use super::control::Request;
use super::{Daemon, REGISTRATION_FILE_MODE, read_passwords, tcp, unix_now, write_atomically};
use crate::status::{self, Info};
use std::time::Instant;

impl Daemon {
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
                let info = Info {
                    instance: &self.instance,
                    pid: std::process::id(),
                    unix_now: unix_now(),
                    started_unix: self.started_unix,
                    tcp_connections: self.tcp.len(),
                };
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
                let old = self.core.config();
                if cfg.sip_listen_port != old.sip_listen_port {
                    log::warn!(
                        "sip_listen_port changes need a restart; keeping {}",
                        old.sip_listen_port
                    );
                    cfg.sip_listen_port = old.sip_listen_port;
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
                self.core.reconfigure(Instant::now(), cfg);
                if let Some(p) = passwords {
                    self.core.proxy.set_passwords(p);
                }
                self.refresh();
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
