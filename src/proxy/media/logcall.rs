//! siproxd's logcall plugin, built in (`load_plugin = plugin_logcall`, or
//! the old `log_calls = 1`): one log line when a call starts, one when it
//! ends, with who called whom, how it ended and how long it lasted from
//! the answer. siproxd logs every INVITE, ACK, BYE and CANCEL it sees
//! (retransmissions included); sipnat logs each call once, from its call
//! table. Calls whose media sipnat does not relay (`rtp_proxy_enable 0`)
//! are logged per request instead (`Sip::log_request`), as siproxd does.

use super::Call;
use std::time::Instant;

impl Call {
    pub(super) fn log_start(&self) {
        log::info!(
            "call: {} {} -> {}",
            if self.origin.wan {
                "incoming"
            } else {
                "outgoing"
            },
            self.from,
            self.to
        );
    }

    pub(super) fn log_end(&self, now: Instant, how: &str) {
        match self.answered {
            Some(t) => {
                let s = now.saturating_duration_since(t).as_secs();
                log::info!(
                    "call ended ({how}): {} -> {}, {}:{:02}:{:02}",
                    self.from,
                    self.to,
                    s / 3600,
                    s / 60 % 60,
                    s % 60
                );
            }
            None => log::info!(
                "call ended ({how}): {} -> {}, not answered",
                self.from,
                self.to
            ),
        }
    }
}
