//! Who is in the host's room: each viewer's pairing handshake, what its link allows, and who
//! controls. Also the host console's commands (`revoke`, `kick`, `control`, ...).
//!
//! A viewer's offer is answered only when it names a live key of the [`Keyring`]; its session
//! then runs but sends nothing and injects nothing until the viewer's proof verifies (see
//! [`peerdesk_proto::auth`]). One viewer controls at a time: the first control-link holder in;
//! when it leaves, the longest-present control-link holder takes over; the console can hand
//! control to anyone or to no one. Every method returns the signaling messages to send.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use peerdesk_proto::auth::{self, DenyCode, Handshake, OfferAuth};
use peerdesk_proto::{AnswerAuth, ClientMessage, PeerId, Token, ViewerRole};
use tracing::{info, warn};

use crate::pairing::{self, Access, Keyring, Links, RandomError, Secret};
use crate::viewer::{self, ViewerCommand, ViewerContext, ViewerHandle};

/// How long a viewer has to send its proof after the answer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum State {
    /// Answered; waiting for the viewer's proof of this transcript.
    Proving { transcript: String, deadline: Instant },
    /// Proved.
    In { since: Instant, role: ViewerRole },
}

#[derive(Debug)]
struct Guest {
    handle: ViewerHandle,
    access: Access,
    secret: Secret,
    state: State,
}

/// A command typed on the host's console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCommand {
    /// List the commands.
    Help,
    /// Print the share links again (new ones when they expired).
    Links,
    /// Revoke the links: new secrets; sessions let in by the old ones end.
    Revoke,
    /// List the viewers.
    Viewers,
    /// Hand control to a viewer, or to nobody.
    Control(Option<PeerId>),
    /// End a viewer's session.
    Kick(PeerId),
}

/// The console's commands, for `help` and for errors.
pub const COMMANDS_HELP: &str = "commands: links (print the share links), revoke (new links; ends sessions of the old ones), viewers, control ID|none (hand control over), kick ID, help";

impl HostCommand {
    /// Parses one console line.
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next();
        if words.next().is_some() {
            return Err(format!("too many words; {COMMANDS_HELP}"));
        }
        let peer = |arg: Option<&str>| -> Result<PeerId, String> {
            arg.and_then(|a| a.strip_prefix('p').unwrap_or(a).parse::<u64>().ok())
                .map(PeerId)
                .ok_or_else(|| "name a viewer as `viewers` lists them (p3, or 3)".to_owned())
        };
        match (cmd, arg) {
            ("help" | "?", None) => Ok(Self::Help),
            ("links" | "link", None) => Ok(Self::Links),
            ("revoke", None) => Ok(Self::Revoke),
            ("viewers" | "who", None) => Ok(Self::Viewers),
            ("control", Some("none")) => Ok(Self::Control(None)),
            ("control", arg) => Ok(Self::Control(Some(peer(arg)?))),
            ("kick", arg) => Ok(Self::Kick(peer(arg)?)),
            _ => Err(format!("unknown command {line:?}; {COMMANDS_HELP}")),
        }
    }
}

/// What a command produced: messages for the server and lines for the console.
#[derive(Debug, Default)]
pub struct Outcome {
    /// To send to the signaling server.
    pub send: Vec<ClientMessage>,
    /// To print.
    pub lines: Vec<String>,
    /// New share links to announce.
    pub links: Option<Links>,
}

/// The host's viewers and its keyring.
#[derive(Debug)]
pub struct Guests {
    keyring: Keyring,
    room: String,
    page_url: String,
    guests: HashMap<PeerId, Guest>,
    controller: Option<PeerId>,
}

fn deny(peer: PeerId, code: DenyCode) -> ClientMessage {
    ClientMessage::Deny { peer: Some(peer), code, message: pairing::deny_message(code).to_owned() }
}

impl Guests {
    /// Nobody in yet.
    pub fn new(keyring: Keyring, room: &str, page_url: &str) -> Self {
        Self {
            keyring,
            room: room.to_owned(),
            page_url: page_url.to_owned(),
            guests: HashMap::new(),
            controller: None,
        }
    }

    /// The current share links (new ones where they expired).
    pub fn links(&mut self) -> Result<Links, RandomError> {
        self.keyring.links(&self.page_url, SystemTime::now())
    }

    /// Viewer sessions running (proving or in).
    pub fn len(&self) -> usize {
        self.guests.len()
    }

    /// Whether nobody is in.
    pub fn is_empty(&self) -> bool {
        self.guests.is_empty()
    }

    /// Who controls now.
    pub fn controller(&self) -> Option<PeerId> {
        self.controller
    }

    /// Answers a viewer's offer if its key lets it in: starts its session (which waits for the
    /// proof) and returns the answer with the host's proof, or a `deny`.
    pub async fn offer(
        &mut self,
        peer: PeerId,
        sdp: &str,
        auth: Option<&OfferAuth>,
        ctx: &ViewerContext,
        now: Instant,
    ) -> Vec<ClientMessage> {
        // A viewer that is in restarts ICE with an offer for the same session (no new
        // handshake: the session checks the DTLS fingerprint is the one it proved).
        if auth.is_none()
            && let Some(g) = self.guests.get(&peer)
            && matches!(g.state, State::In { .. })
        {
            g.handle.send(ViewerCommand::Restart(sdp.to_owned()));
            return Vec::new();
        }
        self.remove(peer);
        let grant = match self.keyring.admit(auth, SystemTime::now()) {
            Ok(g) => g,
            Err(code) => {
                info!(%peer, "refused a viewer: {}", pairing::deny_message(code));
                return vec![deny(peer, code)];
            }
        };
        let viewer_fp = match auth::sdp_fingerprint(sdp) {
            Ok(fp) => fp,
            Err(e) => {
                info!(%peer, "refused a viewer: {e}");
                return vec![deny(peer, DenyCode::BadOffer)];
            }
        };
        let (answer, handle) = match viewer::start(peer, sdp, ctx).await {
            Ok(ok) => ok,
            Err(e) => {
                warn!(%peer, "cannot answer the viewer's offer: {e}");
                return vec![deny(peer, DenyCode::BadOffer)];
            }
        };
        let (host_fp, host_nonce) = match (auth::sdp_fingerprint(&answer), pairing::nonce()) {
            (Ok(fp), Ok(n)) => (fp, n),
            (Err(e), _) => {
                warn!(%peer, "the session's own answer has no usable fingerprint: {e}");
                return Vec::new();
            }
            (_, Err(e)) => {
                warn!(%peer, "{e}");
                return Vec::new();
            }
        };
        let key = grant.secret.id().to_owned();
        let viewer_nonce = auth.map(|a| a.nonce.as_str()).unwrap_or_default();
        let h = Handshake {
            room: &self.room,
            key: &key,
            viewer_nonce,
            host_nonce: &host_nonce,
            viewer_fingerprint: &viewer_fp,
            host_fingerprint: &host_fp,
        };
        let proofs = pairing::proofs(&grant.secret, &h);
        let (Ok(nonce), Ok(mac)) = (Token::new(&host_nonce), Token::new(&proofs.host_mac)) else {
            warn!("a nonce or MAC that is not a token: a bug");
            return Vec::new();
        };
        self.guests.insert(
            peer,
            Guest {
                handle,
                access: grant.access,
                secret: grant.secret,
                state: State::Proving {
                    transcript: proofs.viewer_transcript,
                    deadline: now + HANDSHAKE_TIMEOUT,
                },
            },
        );
        vec![ClientMessage::Answer { peer: Some(peer), sdp: answer, auth: Some(AnswerAuth { nonce, mac }) }]
    }

    /// The viewer's proof: lets it in with its role, or ends its session.
    pub fn proof(&mut self, peer: PeerId, mac: &Token, now: Instant) -> Vec<ClientMessage> {
        let Some(guest) = self.guests.get_mut(&peer) else {
            return Vec::new();
        };
        let State::Proving { transcript, .. } = &guest.state else {
            return Vec::new();
        };
        if !guest.secret.verify(transcript, mac.as_str()) {
            warn!(
                %peer,
                "refused a viewer: its proof does not match this session (a wrong link, or a signaling server changing the session in the middle)"
            );
            self.remove(peer);
            return vec![deny(peer, DenyCode::ProofMismatch)];
        }
        let role = if guest.access == Access::Control && self.controller.is_none() {
            self.controller = Some(peer);
            ViewerRole::Control
        } else {
            ViewerRole::View
        };
        guest.state = State::In { since: now, role };
        let may_control = guest.access == Access::Control;
        guest.handle.send(ViewerCommand::SetRole { role, may_control });
        info!(
            %peer,
            "viewer let in with the {} link ({})",
            if may_control { "control" } else { "view-only" },
            if role == ViewerRole::Control { "in control" } else { "watching" }
        );
        Vec::new()
    }

    /// Passes a trickled candidate to the viewer's session.
    pub fn candidate(&mut self, peer: PeerId, cmd: ViewerCommand) {
        if let Some(g) = self.guests.get(&peer) {
            g.handle.send(cmd);
        }
    }

    /// The viewer refused the host's handshake, or left.
    pub fn denied_by_viewer(&mut self, peer: PeerId, code: DenyCode) {
        if self.guests.contains_key(&peer) {
            if code == DenyCode::HostProofMismatch {
                warn!(
                    %peer,
                    "the viewer refused this host's proof: the signaling server may be changing the session in the middle (or the page holds another host's link)"
                );
            } else {
                info!(%peer, ?code, "the viewer ended its session");
            }
            self.remove(peer);
        }
    }

    /// The viewer left the room.
    pub fn left(&mut self, peer: PeerId) {
        if self.remove(peer) {
            info!(%peer, "viewer left");
        }
    }

    /// Ends handshakes that took too long, forgets sessions that ended.
    pub fn tick(&mut self, now: Instant) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        let late: Vec<PeerId> = self
            .guests
            .iter()
            .filter(|(_, g)| matches!(g.state, State::Proving { deadline, .. } if now >= deadline))
            .map(|(&p, _)| p)
            .collect();
        for peer in late {
            info!(%peer, "refused a viewer: no proof within {} s", HANDSHAKE_TIMEOUT.as_secs());
            self.remove(peer);
            out.push(deny(peer, DenyCode::Timeout));
        }
        let ended: Vec<(PeerId, Option<&'static str>)> = self
            .guests
            .iter()
            .filter(|(_, g)| g.handle.is_finished())
            .map(|(&p, g)| (p, g.handle.abuse()))
            .collect();
        for (peer, abuse) in ended {
            self.remove(peer);
            if let Some(reason) = abuse {
                warn!(%peer, "viewer session {reason}");
                out.push(deny(peer, DenyCode::InputAbuse));
            }
        }
        out
    }

    /// Carries out a console command.
    pub fn command(&mut self, cmd: HostCommand, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        match cmd {
            HostCommand::Help => out.lines.push(COMMANDS_HELP.to_owned()),
            HostCommand::Links => match self.links() {
                Ok(l) => out.links = Some(l),
                Err(e) => out.lines.push(format!("error: {e}")),
            },
            HostCommand::Revoke => match self.keyring.revoke(SystemTime::now()) {
                Ok(ids) => {
                    let ended: Vec<PeerId> = self
                        .guests
                        .iter()
                        .filter(|(_, g)| ids.iter().any(|id| id == g.secret.id()))
                        .map(|(&p, _)| p)
                        .collect();
                    for &peer in &ended {
                        self.remove(peer);
                        out.send.push(deny(peer, DenyCode::Revoked));
                    }
                    out.lines.push(format!(
                        "revoked the old links; {} session{} ended. The new links:",
                        ended.len(),
                        if ended.len() == 1 { "" } else { "s" }
                    ));
                    match self.links() {
                        Ok(l) => out.links = Some(l),
                        Err(e) => out.lines.push(format!("error: {e}")),
                    }
                }
                Err(e) => out.lines.push(format!("error: {e}; the old links still work")),
            },
            HostCommand::Viewers => out.lines = self.describe(now),
            HostCommand::Control(to) => out.lines.push(self.hand_control(to)),
            HostCommand::Kick(peer) => {
                if self.remove(peer) {
                    out.send.push(deny(peer, DenyCode::Kicked));
                    out.lines.push(format!("ended viewer {peer}'s session"));
                } else {
                    out.lines.push(format!("no viewer {peer}; `viewers` lists them"));
                }
            }
        }
        out
    }

    fn describe(&self, now: Instant) -> Vec<String> {
        if self.guests.is_empty() {
            return vec!["no viewers".to_owned()];
        }
        let mut peers: Vec<&PeerId> = self.guests.keys().collect();
        peers.sort();
        peers
            .into_iter()
            .filter_map(|p| self.guests.get(p).map(|g| (p, g)))
            .map(|(p, g)| {
                let link = if g.access == Access::Control { "control link" } else { "view-only link" };
                match g.state {
                    State::Proving { .. } => format!("viewer {p}: {link}, proving its link"),
                    State::In { since, role } => format!(
                        "viewer {p}: {link}, {} for {} s",
                        if role == ViewerRole::Control { "in control" } else { "watching" },
                        now.saturating_duration_since(since).as_secs()
                    ),
                }
            })
            .collect()
    }

    fn hand_control(&mut self, to: Option<PeerId>) -> String {
        if let Some(peer) = to
            && !matches!(self.guests.get(&peer), Some(Guest { state: State::In { .. }, .. }))
        {
            return format!("no viewer {peer} in the session; `viewers` lists them");
        }
        if to.is_some() && to == self.controller {
            return "that viewer controls the host already".to_owned();
        }
        if let Some(old) = self.controller.take() {
            self.set_role(old, ViewerRole::View);
        }
        match to {
            Some(peer) => {
                self.controller = Some(peer);
                self.set_role(peer, ViewerRole::Control);
                format!("viewer {peer} now controls the host")
            }
            None => "nobody controls the host now".to_owned(),
        }
    }

    fn set_role(&mut self, peer: PeerId, role: ViewerRole) {
        if let Some(g) = self.guests.get_mut(&peer)
            && let State::In { role: r, .. } = &mut g.state
        {
            *r = role;
            g.handle.send(ViewerCommand::SetRole { role, may_control: g.access == Access::Control });
        }
    }

    /// Ends a viewer's session (dropping its handle ends its task); hands control on when it
    /// held it. Whether it was there.
    fn remove(&mut self, peer: PeerId) -> bool {
        let was = self.guests.remove(&peer).is_some();
        if self.controller == Some(peer) {
            self.controller = None;
            let next = self
                .guests
                .iter()
                .filter(|(_, g)| g.access == Access::Control)
                .filter_map(|(&p, g)| match g.state {
                    State::In { since, .. } => Some((since, p)),
                    State::Proving { .. } => None,
                })
                .min();
            if let Some((_, next)) = next {
                self.controller = Some(next);
                self.set_role(next, ViewerRole::Control);
                info!(peer = %next, "control passes to the next viewer with the control link");
            }
        }
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_commands_parse_and_explain_mistakes() {
        assert_eq!(HostCommand::parse("revoke"), Ok(HostCommand::Revoke));
        assert_eq!(HostCommand::parse("  kick 7 "), Ok(HostCommand::Kick(PeerId(7))));
        assert_eq!(HostCommand::parse("control none"), Ok(HostCommand::Control(None)));
        assert_eq!(HostCommand::parse("control 3"), Ok(HostCommand::Control(Some(PeerId(3)))));
        assert_eq!(HostCommand::parse("control p3"), Ok(HostCommand::Control(Some(PeerId(3)))));
        assert_eq!(HostCommand::parse("links"), Ok(HostCommand::Links));
        assert!(HostCommand::parse("kick").unwrap_err().contains("viewers"));
        assert!(HostCommand::parse("kick x").is_err());
        assert!(HostCommand::parse("dance").unwrap_err().contains("commands:"));
        assert!(HostCommand::parse("revoke now").is_err());
    }
}
