//! The device login (RFC 8628) as the person sees it: a code and a page to
//! type it on, shown by a [`DevicePrompt`] (by default, printed to the
//! terminal). The polling itself is the session's.

use std::io::IsTerminal;
use std::sync::Arc;

/// What the person needs to allow the agent from another device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodePrompt {
    /// The code to type (`BDFH-KMNP`).
    pub user_code: String,
    /// The page to type it on.
    pub verification_uri: String,
    /// The page with the code filled in, when the server gives one (for a
    /// link or a QR code).
    pub verification_uri_complete: Option<String>,
    /// Seconds the code is valid.
    pub expires_in: u64,
}

/// Shows a [`DeviceCodePrompt`] to the person: on a terminal, in a GUI, in
/// a chat message.
///
/// ```
/// use std::sync::Arc;
/// use mcp_oauth_client::{DevicePrompt, Login};
///
/// let prompt: DevicePrompt = Arc::new(|p| {
///     println!("Open {} and enter {}", p.verification_uri, p.user_code);
/// });
/// let login = Login::Device(prompt);
/// # let _ = login;
/// ```
pub type DevicePrompt = Arc<dyn Fn(&DeviceCodePrompt) + Send + Sync>;

/// The default prompt: the code and the links on standard error, and, on a
/// terminal, the complete link as a QR code to scan with a phone.
pub(crate) fn print_to_stderr(p: &DeviceCodePrompt) {
    eprintln!();
    eprintln!("To allow this agent, open {}", p.verification_uri);
    eprintln!("and enter the code:  {}", p.user_code);
    if let Some(complete) = &p.verification_uri_complete {
        eprintln!("(or open {complete} directly)");
        if std::io::stderr().is_terminal()
            && let Some(qr) = qr_code(complete)
        {
            eprintln!("{qr}");
        }
    }
    eprintln!(
        "The code is valid for {} minutes.",
        p.expires_in.div_ceil(60)
    );
    eprintln!();
}

/// `text` as a QR code drawn with Unicode half blocks (two rows of modules
/// per line), quiet zone included.
fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::qr_code;

    #[test]
    fn links_become_qr_codes_of_half_blocks() {
        let qr = qr_code("http://127.0.0.1:9000/device?user_code=BDFH-KMNP").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(qr.contains('\u{2580}') || qr.contains('\u{2584}'));
    }
}
